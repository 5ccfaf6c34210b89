// The DALL-E dVAE encoder (dall_e/encoder.py) as a pure forward function over the checkpoint's params.
import { Tensor, maxPool2d, relu } from '@vl/tensor';
import { checkObjectArg, checkParamsMap } from './checkArguments.js';
import type { DvaeEncoderConfig } from './config.js';
import { describeValue } from './describeValue.js';
import { dvaeBlock, dvaePostGain } from './dvaeBlock.js';
import { paramsConv } from './dvaeConv.js';
import type { DvaeParams } from './dvaeShapes.js';

/**
 * Checks an encoder input: a live tensor of rank 4, `input_channels` channels, f32, and a size the
 * `group_count - 1` 2x2 max-pools divide exactly (PyTorch would silently drop the remainder).
 *
 * @example
 * ```ts
 * checkEncoderInput(x, config.encoder); // throws on [1, 3, 30, 30] with the default config
 * ```
 */
export function checkEncoderInput(x: Tensor, config: DvaeEncoderConfig): void {
  checkImages('checkEncoderInput', 'images', x, config);
}

/**
 * @internal {@link checkEncoderInput} of the argument `arg` of `caller` (the function the user
 * called, which starts every message).
 */
export function checkImages(
  caller: string,
  arg: string,
  x: unknown,
  config: DvaeEncoderConfig,
): asserts x is Tensor {
  if (!(x instanceof Tensor)) {
    throw new TypeError(
      `${caller}: ${arg} must be an f32 [B, C, H, W] tensor with values in [0, 1], got ${describeValue(x)}`,
    );
  }
  if (x.isDisposed) throw new Error(`${caller}: ${arg} ${x.describe()} were disposed (used after dispose())`);
  if (x.backend.disposed)
    throw new Error(`${caller}: ${arg} ${x.describe()} are on a ${x.backend.kind} backend that was disposed`);
  checkObjectArg(caller, 'config', config, 'an object (a DvaeEncoderConfig, such as config.encoder)');
  if (x.shape.length !== 4) {
    throw new RangeError(`${caller}: ${arg} must be [B, C, H, W], got ${x.describe()}`);
  }
  const [, c, h, w] = x.shape as [number, number, number, number];
  if (c !== config.input_channels) {
    throw new RangeError(
      `${caller}: ${arg} have ${c} channels but the config expects input_channels = ${config.input_channels} (${x.describe()})`,
    );
  }
  if (x.dtype !== 'f32') throw new TypeError(`${caller}: ${arg} must be f32, got ${x.describe()}`);
  const f = 2 ** (config.group_count - 1);
  if (h === 0 || w === 0) {
    throw new RangeError(
      `${caller}: image size ${h}x${w} is empty; height and width must be positive multiples of ${f} (2^(group_count - 1) with group_count = ${config.group_count})`,
    );
  }
  if (h % f !== 0 || w % f !== 0) {
    throw new RangeError(
      `${caller}: image size ${h}x${w} is not divisible by ${f} (2^(group_count - 1) with group_count = ${config.group_count})`,
    );
  }
}

/**
 * The encoder: `x` (already mapped by {@link mapPixels}) to codebook logits. A 7x7 input conv,
 * `group_count` groups of `n_blk_per_group` residual blocks with a 2x2 max-pool after every group
 * but the last, then relu and a 1x1 conv to `vocab_size` logits. Each block returns
 * `id_path(x) + post_gain * res_path(x)` with `post_gain = 1 / n_layers²`.
 *
 * @example
 * ```ts
 * const logits = dvaeEncoder(params, mapPixels(images), config.encoder); // [B, 8192, H/8, W/8]
 * ```
 */
export function dvaeEncoder(params: DvaeParams, x: Tensor, config: DvaeEncoderConfig): Tensor {
  const caller = 'dvaeEncoder';
  checkParamsMap(caller, 'params', params);
  checkImages(caller, 'x', x, config);
  const postGain = dvaePostGain(config);
  const conv = (name: string, t: Tensor) => paramsConv(params, name, t, caller);
  let h = conv('blocks.input', x); // [B, n_hid, H, W]
  for (let g = 1; g <= config.group_count; g++) {
    for (let b = 1; b <= config.n_blk_per_group; b++) {
      h = dvaeBlock(params, `blocks.group_${g}.block_${b}`, h, postGain, caller); // [B, C_g, h, w]
    }
    if (g < config.group_count) h = maxPool2d(h, 2); // [B, C_g, h/2, w/2]
  }
  return conv('blocks.output.conv', relu(h)); // [B, vocab_size, H/2^(G-1), W/2^(G-1)]
}
