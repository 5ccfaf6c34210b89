import { STORED_DTYPES, type Shape, type Tensor } from '@vl/tensor';
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
