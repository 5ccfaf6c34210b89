// Attention on the CPU through the accelerated matmul, per (batch, head): S = Q K^T (scaled, causal
// limit), a float32 softmax per row, O = P V. Masked attention (a mask input) stays on the
// reference kernel, except the bool key-padding mask [B, Tk].
import type { TypedArray } from '../../dtype.js';
import type { HostTensor } from '../../kernel.js';
import type { AttentionAttrs } from '../../kernels/attention/attentionDims.js';
import type { CpuAccelerated } from './CpuBackend.js';

const NT = { transposeA: false, transposeB: true, activation: 'none' };
const NN = { transposeA: false, transposeB: false, activation: 'none' };

type HeadVisitor = (b: number, h: number, probs: Float32Array, values: Float32Array) => boolean;

/**
 * Runs `visit` with the softmax probabilities `[Tq, L]` of each (batch, query head) and that head's
 * values `[L, Dv]`; false when the inputs are not a case handled here (or `visit` returns false).
 */
function forEachHead(
  matmul: CpuAccelerated,
  inputs: readonly HostTensor[],
  a: AttentionAttrs,
  visit: HeadVisitor,
): boolean {
  const [q, k, v, m] = inputs as [HostTensor, HostTensor, HostTensor, HostTensor | undefined];
  // Without a mask, or with a bool key-padding mask [B, Tk] (the CLIP text tower's case).
  const padding =
    m && a.mask === 'bool' && m.shape.length === 2 && m.shape[0] === q.shape[0] && m.shape[1] === k.shape[2];
  if (m && !padding) return false;
  if (q.dtype !== 'f32' || k.dtype !== 'f32' || v.dtype !== 'f32') return false;
  const [B, Hq, Tq, D] = q.shape as [number, number, number, number];
  const [, Hkv, Tk] = k.shape as [number, number, number, number];
  const Dv = v.shape[3]!;
  const L = a.kvLength;
  const group = Hq / Hkv;
  const qd = q.data as Float32Array;
  const kd = k.data as Float32Array;
  const vd = v.data as Float32Array;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kh = Math.floor(h / group);
      const qs = qd.subarray((b * Hq + h) * Tq * D, ((b * Hq + h) * Tq + Tq) * D); // [Tq, D]
      const ks = kd.subarray((b * Hkv + kh) * Tk * D, ((b * Hkv + kh) * Tk + L) * D); // [L, D]
      const vs = vd.subarray((b * Hkv + kh) * Tk * Dv, ((b * Hkv + kh) * Tk + L) * Dv); // [L, Dv]
      const [s] =
        matmul(
          [
            { data: qs, shape: [Tq, D], dtype: 'f32' },
            { data: ks, shape: [L, D], dtype: 'f32' },
          ],
          NT,
          [{ shape: [Tq, L], dtype: 'f32' }],
        ) ?? [];
      if (!s) return false;
      const keys = m ? (m.data as Uint8Array).subarray(b * Tk, b * Tk + L) : undefined;
      softmaxRows(s as Float32Array, Tq, L, a.scale, a.causal ? a.queryOffset : undefined, keys); // [Tq, L]
      if (!visit(b, h, s as Float32Array, vs)) return false;
    }
  }
  return true;
}

/** Wraps an accelerated matmul into an accelerated attention (undefined: use the reference). */
export function matmulAttention(matmul: CpuAccelerated): CpuAccelerated {
  return (inputs, attrs) => {
    const a = attrs as AttentionAttrs;
    const [q, , v] = inputs as [HostTensor, HostTensor, HostTensor];
    const [B, Hq, Tq] = q.shape as [number, number, number, number];
    const Dv = v.shape[3]!;
    const L = a.kvLength;
    const out = new Float32Array(B * Hq * Tq * Dv); // [B, Hq, Tq, Dv]
    const done = forEachHead(matmul, inputs, a, (b, h, probs, values) => {
      const [o] =
        matmul(
          [
            { data: probs, shape: [Tq, L], dtype: 'f32' },
            { data: values, shape: [L, Dv], dtype: 'f32' },
          ],
          NN,
          [{ shape: [Tq, Dv], dtype: 'f32' }],
        ) ?? [];
      if (!o) return false;
      out.set(o as Float32Array, (b * Hq + h) * Tq * Dv);
      return true;
    });
    return done ? [out as TypedArray] : undefined;
  };
}

/**
 * The probabilities `[B, Hq, Tq, kvLength]` that attention's gradient recomputes, through the
 * accelerated matmul (undefined: use the reference).
 */
export function matmulAttentionProbs(matmul: CpuAccelerated): CpuAccelerated {
  return (inputs, attrs) => {
    const a = attrs as AttentionAttrs;
    const [q] = inputs as [HostTensor];
    const [B, Hq, Tq] = q.shape as [number, number, number, number];
    const L = a.kvLength;
    const out = new Float32Array(B * Hq * Tq * L); // [B, Hq, Tq, L]
    const done = forEachHead(matmul, inputs, a, (b, h, probs) => {
      out.set(probs, (b * Hq + h) * Tq * L);
      return true;
    });
    return done ? [out as TypedArray] : undefined;
  };
}

/**
 * In place: row i becomes softmax(scale * row) over keys j <= i + offset (all keys without an
 * offset) whose `keys[j]` is set (all without a padding mask); other entries become 0.
 */
function softmaxRows(
  s: Float32Array,
  rows: number,
  cols: number,
  scale: number,
  offset: number | undefined,
  keys: Uint8Array | undefined,
): void {
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    const limit = offset === undefined ? cols : Math.min(cols, Math.max(0, i + offset + 1));
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < limit; j++) if (!keys || keys[j]) max = Math.max(max, s[base + j]! * scale);
    let total = 0;
    for (let j = 0; j < limit; j++) {
      const e = !keys || keys[j] ? Math.exp(s[base + j]! * scale - max) : 0;
      s[base + j] = e;
      total += e;
    }
    // A row that sees no key gives zeros, as the reference does.
    const inv = total > 0 ? 1 / total : 0;
    for (let j = 0; j < limit; j++) s[base + j]! *= inv;
    for (let j = limit; j < cols; j++) s[base + j] = 0;
  }
}
