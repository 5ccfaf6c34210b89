// The CPU reference of attention: for each query row, the masked, scaled scores against every
// valid key, a max-subtracted softmax in float64, then the weighted sum of values. Obviously correct
// rather than fast; it is both the CPU fallback and what the other backends are tested against.
import type { HostTensor } from '../../kernel.js';
import type { AttentionAttrs, AttentionDims } from './attentionDims.js';

/**
 * Calls `onRow(row, probs)` for every query row `row = (b * Hq + h) * Tq + i`, where `probs[j]`
 * (j < kvLength) is the attention weight of key j, or `undefined` when every key is masked.
 */
export function forEachAttentionRow(
  [q, k, , mask]: readonly (HostTensor | undefined)[],
  attrs: AttentionAttrs,
  dims: AttentionDims,
  onRow: (row: number, probs: Float64Array | undefined) => void,
): void {
  const { batch, qHeads, group, tq, tk, d, kvHeads } = dims;
  const [mB, mH, mQ] = dims.maskStrides;
  const qd = q!.data;
  const kd = k!.data;
  const md = mask?.data;
  const n = attrs.kvLength;
  const scores = new Float64Array(n);
  const probs = new Float64Array(n);
  const allowed = new Uint8Array(n);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      const kvBase = (b * kvHeads + Math.floor(h / group)) * tk;
      for (let i = 0; i < tq; i++) {
        const row = (b * qHeads + h) * tq + i;
        const maskRow = b * mB + h * mH + i * mQ;
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < n; j++) {
          allowed[j] = 0;
          if (attrs.causal && j > i + attrs.queryOffset) continue;
          if (attrs.mask === 'bool' && !md![maskRow + j]) continue;
          let dot = 0;
          for (let c = 0; c < d; c++) dot += qd[row * d + c]! * kd[(kvBase + j) * d + c]!;
          let s = dot * attrs.scale;
          if (attrs.mask === 'additive') s += md![maskRow + j]!;
          // An additive -Infinity masks the key, like a false in a bool mask.
          if (s === Number.NEGATIVE_INFINITY) continue;
          allowed[j] = 1;
          scores[j] = s;
          if (s > max) max = s;
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

/** Attention on host arrays: `[B, Hq, Tq, Dv]`; fully masked rows are zeros. */
export function attentionCpu(
  inputs: readonly HostTensor[],
  attrs: AttentionAttrs,
  dims: AttentionDims,
): Float32Array {
  const { qHeads, group, tq, tk, dv, kvHeads } = dims;
  const vd = inputs[2]!.data;
  const out = new Float32Array(dims.batch * qHeads * tq * dv);
  const acc = new Float64Array(dv);
  forEachAttentionRow(inputs, attrs, dims, (row, probs) => {
    if (!probs) return; // stays zero
    const bh = Math.floor(row / tq);
    const b = Math.floor(bh / qHeads);
    const h = bh % qHeads;
    const vBase = (b * kvHeads + Math.floor(h / group)) * tk;
    acc.fill(0);
    for (let j = 0; j < probs.length; j++) {
      const p = probs[j]!;
      if (p === 0) continue;
      for (let c = 0; c < dv; c++) acc[c]! += p * vd[(vBase + j) * dv + c]!;
    }
    for (let c = 0; c < dv; c++) out[row * dv + c] = acc[c]!;
  });
  return out;
}
