// The CPU reference of attention: for each query row, the masked, scaled scores against every
// valid key, a max-subtracted softmax in float64, then the weighted sum of values. Obviously correct
// rather than fast; it is both the CPU fallback and what the other backends are tested against.
// q, k, v and the output are read and written through their views (any layout, or one packed
// q|k|v tensor), so every layout shares this one loop.
import type { TypedArray } from '../../dtype.js';
import type { HostTensor } from '../../kernel.js';
import type { AttentionAttrs, AttentionDims, AttentionView } from './attentionDims.js';

/** The host arrays attention reads: q, k, v (the same array when packed) and the optional mask. */
export interface AttentionArrays {
  readonly q: TypedArray;
  readonly k: TypedArray;
  readonly v: TypedArray;
  readonly mask: TypedArray | undefined;
}

/** The arrays of the attention kernel's inputs `[q, k, v, mask?]`. */
export function attentionArrays(inputs: readonly HostTensor[]): AttentionArrays {
  const [q, k, v, mask] = inputs as [HostTensor, HostTensor, HostTensor, HostTensor | undefined];
  return { q: q.data, k: k.data, v: v.data, mask: mask?.data };
}

/** Element index of row (b, h, t) of a view; the head-dim axis is contiguous. */
export const viewRow = (w: AttentionView, b: number, h: number, t: number): number =>
  w.offset + b * w.batch + h * w.head + t * w.token;

/**
 * Calls `onRow(row, probs)` for every query row `row = (b * Hq + h) * Tq + i`, where `probs[j]`
 * (j < kvLength) is the attention weight of key j, or `undefined` when every key is masked.
 */
export function forEachAttentionRow(
  { q: qd, k: kd, mask: md }: AttentionArrays,
  attrs: AttentionAttrs,
  dims: AttentionDims,
  onRow: (row: number, probs: Float64Array | undefined) => void,
): void {
  const { batch, qHeads, group, tq, d } = dims;
  const { q: vq, k: vk } = dims.views;
  const [mB, mH, mQ] = dims.maskStrides;
  const n = attrs.kvLength;
  const scores = new Float64Array(n);
  const probs = new Float64Array(n);
  const allowed = new Uint8Array(n);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      const kvHead = Math.floor(h / group);
      for (let i = 0; i < tq; i++) {
        const row = (b * qHeads + h) * tq + i;
        const qRow = viewRow(vq, b, h, i);
        const maskRow = b * mB + h * mH + i * mQ;
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < n; j++) {
          allowed[j] = 0;
          if (attrs.causal && j > i + attrs.queryOffset) continue;
          if (attrs.mask === 'bool' && !md![maskRow + j]) continue;
          const kRow = viewRow(vk, b, kvHead, j);
          let dot = 0;
          for (let c = 0; c < d; c++) dot += qd[qRow + c]! * kd[kRow + c]!;
          let s = dot * attrs.scale;
          // The masked score rounded to f32 as the other backends add it (in doubles, a mask of -1e9
          // would keep the scores' differences and mask nothing).
          if (attrs.mask === 'additive') s = Math.fround(Math.fround(s) + md![maskRow + j]!);
          // An additive -Infinity masks the key, like a false in a bool mask.
          if (s === Number.NEGATIVE_INFINITY) continue;
          allowed[j] = 1;
          scores[j] = s;
          // A NaN score (from the mask, q or k) becomes the max: the whole row is NaN.
          if (s > max || Number.isNaN(s)) max = s;
        }
        if (max === Number.NEGATIVE_INFINITY) {
          onRow(row, undefined);
          continue;
        }
        let sum = 0;
        for (let j = 0; j < n; j++) {
          probs[j] = allowed[j] ? Math.exp(scores[j]! - max) : 0;
          sum += probs[j]!;
        }
        for (let j = 0; j < n; j++) probs[j]! /= sum;
        onRow(row, probs);
      }
    }
  }
}

/** Attention on host arrays, written through the output view; fully masked rows are zeros. */
export function attentionCpu(
  arrays: AttentionArrays,
  attrs: AttentionAttrs,
  dims: AttentionDims,
): Float32Array {
  const { qHeads, group, tq, dv } = dims;
  const { v: vv, out: vo } = dims.views;
  const vd = arrays.v;
  const out = new Float32Array(dims.batch * qHeads * tq * dv);
  const acc = new Float64Array(dv);
  forEachAttentionRow(arrays, attrs, dims, (row, probs) => {
    if (!probs) return; // stays zero
    const i = row % tq;
    const bh = Math.floor(row / tq);
    const b = Math.floor(bh / qHeads);
    const h = bh % qHeads;
    const kvHead = Math.floor(h / group);
    acc.fill(0);
    for (let j = 0; j < probs.length; j++) {
      const p = probs[j]!;
      if (p === 0) continue;
      const vRow = viewRow(vv, b, kvHead, j);
      for (let c = 0; c < dv; c++) acc[c]! += p * vd[vRow + c]!;
    }
    const o = viewRow(vo, b, h, i);
    for (let c = 0; c < dv; c++) out[o + c] = acc[c]!;
  });
  return out;
}
