// The checkpoint's tensor names and shapes, derived from the config the same way dall_e's module
// constructors derive them, so a mismatched checkpoint is caught before any math runs.
import { type Backend, Tensor } from '@vl/tensor';
import { checkIntegerArg, checkObjectArg, checkParamsMap } from './checkArguments.js';
import type { DvaeDecoderConfig, DvaeEncoderConfig } from './config.js';
import { describeValue } from './describeValue.js';

/**
 * A dVAE half's parameters by checkpoint name (`blocks.group_1.block_1.res_path.conv_1.w`, `.b`).
 *
 * @example
 * ```ts
 * const { tensors: params } = await loadSafetensors(`${dir}encoder.safetensors`, { backend });
 * const logits = dvaeEncoder(params, x, config.encoder);
 * ```
 */
export type DvaeParams = ReadonlyMap<string, Tensor>;

const ENCODER_CONFIG = 'an object (a DvaeEncoderConfig, such as config.encoder)';
const DECODER_CONFIG = 'an object (a DvaeDecoderConfig, such as config.decoder)';

// The channel counts without the argument checks, for the loops over groups.
const encoderChannels = (c: DvaeEncoderConfig, g: number): number => 2 ** (g - 1) * c.n_hid;
const decoderChannels = (c: DvaeDecoderConfig, g: number): number => 2 ** (c.group_count - g) * c.n_hid;

function conv(shapes: Map<string, number[]>, name: string, nOut: number, nIn: number, k: number): void {
  shapes.set(`${name}.w`, [nOut, nIn, k, k]);
  shapes.set(`${name}.b`, [nOut]);
}

/**
 * Channels of encoder group `g` (1-based): `2^(g-1) * n_hid`, as in dall_e (1, 2, 4, 8 times).
 *
 * @example
 * ```ts
 * encoderGroupChannels(defaultEncoderConfig, 4); // 2048
 * ```
 */
export function encoderGroupChannels(config: DvaeEncoderConfig, g: number): number {
  checkObjectArg('encoderGroupChannels', 'config', config, ENCODER_CONFIG);
  checkIntegerArg('encoderGroupChannels', 'g', g, 1);
  return encoderChannels(config, g);
}

/**
 * Channels of decoder group `g` (1-based): `2^(group_count-g) * n_hid` (8, 4, 2, 1 times).
 *
 * @example
 * ```ts
 * decoderGroupChannels(defaultDecoderConfig, 1); // 2048
 * ```
 */
export function decoderGroupChannels(config: DvaeDecoderConfig, g: number): number {
  checkObjectArg('decoderGroupChannels', 'config', config, DECODER_CONFIG);
  checkIntegerArg('decoderGroupChannels', 'g', g, 1);
  return decoderChannels(config, g);
}

/**
 * Every encoder tensor's name and shape for `config`. The encoder block's hidden width is
 * `n_out / 4`; its `id_path` is a 1x1 conv only where the channel count changes.
 *
 * @example
 * ```ts
 * encoderShapes(config.encoder).get('blocks.input.w'); // [n_hid, 3, 7, 7]
 * ```
 */
export function encoderShapes(config: DvaeEncoderConfig): Map<string, number[]> {
  checkObjectArg('encoderShapes', 'config', config, ENCODER_CONFIG);
  const shapes = new Map<string, number[]>();
  conv(shapes, 'blocks.input', config.n_hid, config.input_channels, 7);
  let nIn = config.n_hid;
  for (let g = 1; g <= config.group_count; g++) {
    const nOut = encoderChannels(config, g);
    for (let b = 1; b <= config.n_blk_per_group; b++) {
      const p = `blocks.group_${g}.block_${b}`;
      const hid = Math.floor(nOut / 4);
      if (nIn !== nOut) conv(shapes, `${p}.id_path`, nOut, nIn, 1);
      conv(shapes, `${p}.res_path.conv_1`, hid, nIn, 3);
      conv(shapes, `${p}.res_path.conv_2`, hid, hid, 3);
      conv(shapes, `${p}.res_path.conv_3`, hid, hid, 3);
      conv(shapes, `${p}.res_path.conv_4`, nOut, hid, 1);
      nIn = nOut;
    }
  }
  conv(shapes, 'blocks.output.conv', config.vocab_size, nIn, 1);
  return shapes;
}

/**
 * Every decoder tensor's name and shape for `config`. The decoder block's residual path starts
 * with a 1x1 conv and ends with three 3x3 convs (the reverse of the encoder's).
 *
 * @example
 * ```ts
 * decoderShapes(config.decoder).get('blocks.output.conv.w'); // [6, n_hid, 1, 1]
 * ```
 */
export function decoderShapes(config: DvaeDecoderConfig): Map<string, number[]> {
  checkObjectArg('decoderShapes', 'config', config, DECODER_CONFIG);
  const shapes = new Map<string, number[]>();
  conv(shapes, 'blocks.input', config.n_init, config.vocab_size, 1);
  let nIn = config.n_init;
  for (let g = 1; g <= config.group_count; g++) {
    const nOut = decoderChannels(config, g);
    for (let b = 1; b <= config.n_blk_per_group; b++) {
      const p = `blocks.group_${g}.block_${b}`;
      const hid = Math.floor(nOut / 4);
      if (nIn !== nOut) conv(shapes, `${p}.id_path`, nOut, nIn, 1);
      conv(shapes, `${p}.res_path.conv_1`, hid, nIn, 1);
      conv(shapes, `${p}.res_path.conv_2`, hid, hid, 3);
      conv(shapes, `${p}.res_path.conv_3`, hid, hid, 3);
      conv(shapes, `${p}.res_path.conv_4`, nOut, hid, 3);
      nIn = nOut;
    }
  }
  conv(shapes, 'blocks.output.conv', 2 * config.output_channels, nIn, 1);
  return shapes;
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Checks that `params` holds exactly the tensors `shapes` names, with those shapes, as live f32
 * tensors; the error names the tensor and both shapes, so a checkpoint saved with another config is
 * easy to diagnose.
 *
 * @example
 * ```ts
 * checkDvaeParams(params, encoderShapes(config.encoder), 'encoder');
 * ```
 */
export function checkDvaeParams(
  params: DvaeParams,
  shapes: ReadonlyMap<string, readonly number[]>,
  what: string,
): void {
  const caller = 'checkDvaeParams';
  checkParamsMap(caller, 'params', params);
  const s = shapes as Partial<ReadonlyMap<string, unknown>> | null | undefined;
  if (typeof s?.has !== 'function' || typeof s[Symbol.iterator] !== 'function') {
    throw new TypeError(
      `${caller}: shapes must be a Map of shapes by tensor name (encoderShapes(config.encoder) or decoderShapes(config.decoder)), got ${describeValue(shapes)}`,
    );
  }
  if (typeof what !== 'string') {
    throw new TypeError(
      `${caller}: what must be a string naming the params in messages (such as 'encoder'), got ${describeValue(what)}`,
    );
  }
  checkParamShapes(caller, params, shapes, what);
}

/**
 * @internal {@link checkDvaeParams} for `caller`: `params` (the argument `arg`) must be a Map holding
 * exactly the tensors `shapes` names; `half` ('encoder' or 'decoder') names them in the messages.
 */
export function checkParamsAgainst(
  caller: string,
  arg: string,
  params: unknown,
  shapes: ReadonlyMap<string, readonly number[]>,
  half: string,
): asserts params is DvaeParams {
  checkParamsMap(caller, arg, params);
  checkParamShapes(caller, params, shapes, half);
}

function checkParamShapes(
  caller: string,
  params: DvaeParams,
  shapes: ReadonlyMap<string, readonly number[]>,
  half: string,
): void {
  const at = `${caller}: ${half} tensor`;
  for (const [name, shape] of shapes) {
    const t = params.get(name);
    if (t === undefined) throw new Error(`${at} ${name} ${fmt(shape)} is missing from the checkpoint`);
    if (!(t instanceof Tensor))
      throw new TypeError(`${at} ${name} must be a Tensor, got ${describeValue(t)}`);
    if (t.isDisposed) throw new Error(`${at} ${name} ${t.describe()} was disposed (used after dispose())`);
    if (t.dtype !== 'f32') {
      throw new TypeError(
        `${at} ${name} is ${t.describe()} but the dVAE computes in f32 (load f16/bf16 checkpoints with loadSafetensors(source, { backend, dtype: 'f32' }), as loadDvae does)`,
      );
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(
        `${at} ${name} has shape ${fmt(t.shape)} in the checkpoint but the config expects ${fmt(shape)}`,
      );
    }
  }
  for (const name of params.keys()) {
    if (!shapes.has(name))
      throw new Error(`${caller}: unexpected ${half} tensor ${name} in the checkpoint (not in the config)`);
  }
}

/**
 * @internal The one backend the tensors of `halves` (already checked by {@link checkDvaeParams})
 * are on: kernels cannot mix backends, so two tensors on different ones are named here instead of
 * failing inside the first conv.
 */
export function paramsBackend(halves: Readonly<Record<string, DvaeParams>>, caller: string): Backend {
  let first: { where: string; backend: Backend } | undefined;
  for (const [what, params] of Object.entries(halves)) {
    for (const [name, t] of params) {
      if (first === undefined) first = { where: `${what} tensor ${name}`, backend: t.backend };
      else if (t.backend !== first.backend) {
        throw new Error(
          `${caller}: the ${what} tensor ${name} is on another backend (${t.backend.name}) than the ${first.where} (${first.backend.name}); put every param on one backend (toBackend())`,
        );
      }
    }
  }
  if (first === undefined) throw new Error(`${caller}: the params hold no tensor`);
  return first.backend;
}
