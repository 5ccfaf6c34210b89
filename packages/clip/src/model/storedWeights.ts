// Linear-layer weights kept in a smaller dtype (f16, bf16, q8, q4) for inference: matmul widens
// them inside its kernel, so a model holds 1/2 (f16) to 1/6.4 (q4) of the bytes and a decode step,
// bound by reading its weights, reads that much less. Everything else (embeddings, norms, biases,
// convolutions, position embeddings) stays f32.
import {
  QUANT_BLOCK,
  STORED_DTYPES,
  type StoredDType,
  type Tensor,
  cast,
  quantizeWeight,
  tidy,
} from '@vl/tensor';
import { argumentError, checkParamsMap } from '../checkArguments.js';
import { describeValue } from './config.js';

// An nn.Linear's [out, in] weight in the HF CLIP, LLaVA / Llama and open_clip spellings (open_clip's
// fused in_proj_weight and its [in, out] `proj` matrices are not: they are sliced and transposed
// into HF's layout first, and converted after that).
const LINEAR_WEIGHT =
  /(?:^|\.)(?:(?:q|k|v|o|out|qkv|gate|up|down|c)_proj|fc1|fc2|c_fc|linear_1|linear_2|lm_head|visual_projection|text_projection)\.weight$/;

/**
 * Whether a checkpoint tensor is a linear layer's `[out, in]` weight, which the models read only
 * through matmul and so may be stored as f16, bf16, q8 or q4 (see {@link storeLinearWeights}).
 *
 * @example
 * ```ts
 * isLinearWeight('vision_model.encoder.layers.0.mlp.fc1.weight'); // true
 * isLinearWeight('vision_model.embeddings.patch_embedding.weight'); // false
 * ```
 */
export function isLinearWeight(name: string): boolean {
  return LINEAR_WEIGHT.test(name);
}

/**
 * Whether a weight of `shape` can be stored as `dtype`: q8 and q4 need a 2-D `[out, in]` weight
 * with `in` a multiple of their block (32); f16 and bf16 take any.
 *
 * @example
 * ```ts
 * canStoreAs('q8', [64, 100]); // false: 100 is not a multiple of 32
 * ```
 */
export function canStoreAs(dtype: StoredDType, shape: readonly number[]): boolean {
  if (dtype !== 'q8' && dtype !== 'q4') return true;
  return shape.length === 2 && shape[1]! % QUANT_BLOCK === 0;
}

/**
 * Checks a loader's `weightDtype` option (`caller` names the loader in the error); undefined
 * means f32.
 *
 * @example
 * ```ts
 * const dtype = checkWeightDtype(options.weightDtype, 'loadVlm'); // 'q8'
 * ```
 */
export function checkWeightDtype(dtype: unknown, caller: string): StoredDType {
  if (dtype === undefined) return 'f32';
  if (!STORED_DTYPES.includes(dtype as StoredDType)) {
    throw new TypeError(
      `${caller}: options.weightDtype must be one of ${STORED_DTYPES.join(', ')}, got ${describeValue(dtype)}`,
    );
  }
  return dtype as StoredDType;
}

/**
 * `params` with every f32 linear weight ({@link isLinearWeight}) stored as `dtype` on its backend:
 * `cast` for f16 and bf16, `quantizeWeight` for q8 and q4 (which need the weight's input size to
 * be a multiple of 32). Returns a new map; each f32 weight it replaced is disposed as soon as its
 * copy exists (the caller hands the params over: should a conversion fail part-way, the copies
 * made are freed and so are the originals already replaced), every other tensor is passed on.
 *
 * @example
 * ```ts
 * const params = storeLinearWeights(loaded, 'q8'); // fc1, fc2, q/k/v/out_proj: q8; the rest f32
 * ```
 */
export function storeLinearWeights(
  params: ReadonlyMap<string, Tensor>,
  dtype: StoredDType,
): Map<string, Tensor> {
  checkParamsMap('storeLinearWeights', params);
  if (!STORED_DTYPES.includes(dtype))
    throw argumentError('storeLinearWeights', 'dtype', `one of ${STORED_DTYPES.join(', ')}`, dtype);
  const out = new Map(params);
  if (dtype === 'f32') return out;
  // A tensor also read under another name (tied embeddings) is left as it is.
  const elsewhere = new Set<Tensor>();
  for (const [name, t] of params) if (!isLinearWeight(name)) elsewhere.add(t);
  const targets = new Set<Tensor>();
  for (const [name, t] of params) {
    if (!isLinearWeight(name) || t.dtype !== 'f32' || elsewhere.has(t) || targets.has(t)) continue;
    if (!canStoreAs(dtype, t.shape)) {
      throw new RangeError(
        `weightDtype ${dtype}: tensor ${name} is ${t.describe()}; ${dtype} needs a 2-D [out, in] weight with in a multiple of 32 (use f16 or bf16)`,
      );
    }
    targets.add(t);
  }
  // Checked above, so converting cannot fail half-way on a shape: each original is freed as soon as
  // its copy exists, and memory peaks at the params plus one weight, not at twice the weights.
  const stored = new Map<Tensor, Tensor>();
  try {
    for (const t of targets) {
      stored.set(
        t,
        tidy(() => (dtype === 'f16' || dtype === 'bf16' ? cast(t, dtype) : quantizeWeight(t, { dtype }))),
      );
      t.dispose();
    }
  } catch (e) {
    for (const copy of stored.values()) copy.dispose(); // a failing backend: the load fails whole
    throw e;
  }
  for (const [name, t] of params) {
    const copy = stored.get(t);
    if (copy) out.set(name, copy);
  }
  return out;
}
