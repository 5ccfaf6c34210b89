import { STORED_DTYPES, type Shape, type Tensor } from '@vl/tensor';
import { argumentError, checkParamsMap, checkShapesMap, checkString } from '../checkArguments.js';
import { isLinearWeight } from './storedWeights.js';

/** Model parameters keyed by the checkpoint's own tensor names (no renaming layer). */
export type ClipParams = ReadonlyMap<string, Tensor>;

/** What a linear weight may be stored as besides f32 (matmul widens it). */
const MATMUL_WEIGHT_DTYPES = new Set<string>(STORED_DTYPES.filter((d) => d !== 'f32'));

function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/**
 * The parameter named `name`, checked against `shape` (error names the tensor and both shapes).
 *
 * @example
 * ```ts
 * const w = param(params, 'text_model.final_layer_norm.weight', [512]);
 * ```
 */
export function param(params: ClipParams, name: string, shape?: Shape): Tensor {
  checkParamsMap('param', params);
  checkString('param', 'name', name);
  if (shape !== undefined && !Array.isArray(shape))
    throw argumentError('param', 'shape', 'an array of sizes', shape);
  const t = params.get(name);
  if (!t) throw new Error(`CLIP: the checkpoint has no tensor ${name}`);
  if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
    throw new Error(`CLIP: tensor ${name} has shape ${fmt(t.shape)} but the config implies ${fmt(shape)}`);
  }
  return t;
}

/**
 * Checks that every expected tensor is present with its expected shape and is f32 (the model
 * computes in f32; F16/BF16 safetensors are widened as `loadClip` loads them), or, for a linear
 * layer's weight ({@link isLinearWeight}), f32 or a dtype matmul reads (f16, bf16, q8, q4); lists
 * every problem at once. `model` names the model in the error (default `CLIP`; `@vl/vlm` passes `LLaVA`).
 *
 * @example
 * ```ts
 * checkParams(params, clipShapes(config));
 * ```
 */
export function checkParams(params: ClipParams, expected: ReadonlyMap<string, Shape>, model = 'CLIP'): void {
  checkParamsMap('checkParams', params);
  checkShapesMap('checkParams', 'expected', expected);
  checkString('checkParams', 'model', model);
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const t = params.get(name);
    if (!t) problems.push(`missing tensor ${name} (expected shape ${fmt(shape)})`);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      problems.push(`tensor ${name} has shape ${fmt(t.shape)} but the config implies ${fmt(shape)}`);
    } else if (t.dtype !== 'f32' && !(isLinearWeight(name) && MATMUL_WEIGHT_DTYPES.has(t.dtype))) {
      problems.push(
        `tensor ${name} is ${t.describe()} but the model computes in f32${isLinearWeight(name) ? ' (linear weights may also be f16, bf16, q8 or q4)' : ''}`,
      );
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 8).join('\n  ');
    const more = problems.length > 8 ? `\n  ... and ${problems.length - 8} more` : '';
    throw new Error(`${model}: the checkpoint does not match its config:\n  ${shown}${more}`);
  }
}

/**
 * Tensors a checkpoint may hold that no model reads and that change nothing: open_clip's causal
 * `attn_mask` buffer, BatchNorm's `num_batches_tracked`, old transformers' `position_ids`, and the
 * `input_resolution`, `context_length` and `vocab_size` entries of OpenAI's original state dicts.
 */
const HARMLESS_EXTRA =
  /(?:^|\.)(?:attn_mask|num_batches_tracked|position_ids)$|^(?:input_resolution|context_length|vocab_size)$/;

/**
 * Checks that a checkpoint holds no tensor its config does not account for (besides harmless
 * buffers such as `attn_mask`, `num_batches_tracked` and `position_ids`): an extra tensor means the
 * config describes another model (more blocks than its layer count, a LayerScale or bias it does
 * not know), and ignoring it would give other numbers without a word. `model` names the format in
 * the error, which lists the tensors.
 *
 * @example
 * ```ts
 * checkUnusedTensors(tensors.keys(), clipShapes(config)); // throws: ... text_model.encoder.layers.2.mlp.fc1.weight ...
 * ```
 */
export function checkUnusedTensors(
  names: Iterable<string>,
  expected: ReadonlyMap<string, Shape>,
  model = 'CLIP',
): void {
  const unused = [...names].filter((n) => !expected.has(n) && !HARMLESS_EXTRA.test(n));
  if (unused.length === 0) return;
  const shown = unused.slice(0, 8).join(', ');
  const more = unused.length > 8 ? ` and ${unused.length - 8} more` : '';
  const blocks = unused.some((n) => /\.(?:layers|resblocks)\.\d+\./.test(n))
    ? ' (blocks beyond the layer count of the config?)'
    : '';
  throw new Error(
    `${model}: the checkpoint has tensors its config does not use, so it describes another model: ${shown}${more}${blocks}`,
  );
}
