// Fused scaled-dot-product attention with grouped-query heads, causal masking relative to a query
// offset, padding / boolean / additive masks and a valid-key prefix (kvLength) for preallocated
// KV caches. See attention/ for the CPU reference, the WebGPU kernels, tfjs and the gradient.
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import {
  type AttentionAttrs,
  type AttentionOptions,
  attentionAttrs,
  attentionDims,
} from './attention/attentionDims.js';
import { attentionGrad } from './attention/attentionGrad.js';
import { attentionArrays, attentionCpu } from './attention/attentionReference.js';
import { attentionTfjs, tfjsInfos } from './attention/attentionTfjs.js';
import { attentionWebGpu } from './attention/attentionWebGpu.js';

export type { AttentionOptions };

/**
 * The fused attention kernel behind {@link attention} (inputs q, k, v and an optional mask).
 *
 * @example
 * ```ts
 * const [y] = runKernel(attentionKernel, [q, k, v], {
 *   causal: true, scale: 0.125, kvLength: 17, queryOffset: 16, mask: 'none',
 * });
 * ```
 */
export const attentionKernel: Kernel<AttentionAttrs> = {
  name: 'attention',
  infer(inputs, attrs) {
    const { batch, qHeads, tq, dv } = attentionDims(inputs, attrs);
    const shape = attrs.layout === 'bthd' ? [batch, tq, qHeads, dv] : [batch, qHeads, tq, dv];
    return [{ shape, dtype: 'f32' }];
  },
  cpu(inputs, attrs) {
    return [attentionCpu(attentionArrays(inputs), attrs, attentionDims(inputs, attrs))];
  },
  webgpu(ctx, inputs, [out], attrs) {
    attentionWebGpu(ctx, inputs, out!, attrs, attentionDims(inputs, attrs));
  },
  tfjs(tf, inputs, attrs) {
    return [attentionTfjs(tf, inputs, attrs, attentionDims(tfjsInfos(inputs, attrs), attrs))];
  },
  grad: attentionGrad,
};

/**
 * Scaled dot-product attention, fused: `softmax(scale · q kᵀ + mask) v` over the visible keys, with
 * grouped-query heads (query head h reads kv head `floor(h / (Hq / Hkv))`). Rows that see no key
 * give zeros. On WebGPU it is one flash-attention dispatch (a decode kernel when Tq = 1); the score
 * matrix is never stored.
 *
 * Shapes: q `[B, Hq, Tq, D]`, k `[B, Hkv, Tk, D]`, v `[B, Hkv, Tk, Dv]` → `[B, Hq, Tq, Dv]`; with
 * `layout: 'bthd'` q, k, v and the output have their token axis before their head axis (q
 * `[B, Tq, Hq, D]`, ..., output `[B, Tq, Hq, Dv]`): a projection `[B, T, H·D]` reshaped, read and
 * written without a transpose. The mask's shapes are the same in both layouts. {@link attentionQkv} reads q, k and v from one fused projection.
 *
 * The gradient (q, k, v, and an additive mask when it is differentiated, such as a learned
 * position bias) recomputes the probabilities and is built from ops.
 *
 * @example
 * ```ts
 * // A decoder step reading a KV cache: 8 query heads share 2 kv heads.
 * const { k, v, kvLength } = appendKv(cache, layer, kNew, vNew);
 * const y = attention(q, k, v, { causal: true, kvLength }); // [1, 8, 1, 64]
 * // Heads straight from the projections: [B, T, H·D] reshaped to [B, T, H, D].
 * const o = attention(reshape(q2, [1, 50, 12, 64]), k2, v2, { layout: 'bthd' }); // [1, 50, 12, 64]
 * ```
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const attrs = attentionAttrs(q, k, v, options); // checks the tensors and options first
  const { mask } = options;
  return run1(attentionKernel, mask ? [q, k, v, mask] : [q, k, v], attrs);
}
