// Attention on the CPU through the accelerated matmul, all heads in one batched call where the
// keys fill their buffer (else one call per kv head): S = Q K^T (scaled, causal limit), a float32
// softmax per row (WebAssembly SIMD) with the causal limit and any mask the op takes (bool or
// additive, padding [B, Tk] or broadcast [B, Hq, Tq, Tk]), O = P V. Operands in another layout
// (bthd, or one packed qkv tensor) are gathered into [B, H, T, X] first and the output scattered back.
import type { TypedArray } from '../../dtype.js';
import type { HostTensor } from '../../kernel.js';
import {
  type AttentionAttrs,
  type AttentionDims,
  type AttentionView,
  attentionDims,
  contiguousView,
  isBhtdView,
} from '../../kernels/attention/attentionDims.js';
import {
  type AttentionQkvAttrs,
  attentionQkvArrays,
  attentionQkvDims,
} from '../../kernels/attention/attentionQkv.js';
import {
  type AttentionArrays,
  attentionArrays,
  viewRow,
} from '../../kernels/attention/attentionReference.js';
import type { CpuAccelerated } from './CpuBackend.js';
import type { FusedAttention } from './wasm/wasmAttention.js';
import type { WasmRowOps } from './wasm/wasmRowOps.js';

/** What the accelerated attention needs of its inputs; undefined when they are not handled here. */
interface Heads {
  readonly B: number;
  readonly Hq: number;
  readonly Hkv: number;
  readonly Tq: number;
  readonly Tk: number;
  readonly L: number;
  readonly D: number;
  readonly Dv: number;
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly mask: MaskView | undefined;
}

/** A mask input as softmaxRows reads it. */
interface MaskView {
  readonly data: Uint8Array | Float32Array;
  /** Added to the scaled scores (-Infinity masks a key); else bool, nonzero = may attend. */
  readonly additive: boolean;
  /** Element strides over [B, Hq, Tq] (0 on broadcast axes); keys are contiguous. */
  readonly strides: readonly [number, number, number];
}

/** What an attention kernel's inputs hold: their arrays and dims (views included). */
export type AttentionOperands = (
  inputs: readonly HostTensor[],
  attrs: AttentionAttrs,
) => { arrays: AttentionArrays; dims: AttentionDims };

/** The operands of the attention kernel `[q, k, v, mask?]`. */
export const attentionOperands: AttentionOperands = (inputs, attrs) => ({
  arrays: attentionArrays(inputs),
  dims: attentionDims(inputs, attrs),
});

/** The operands of the packed-qkv attention kernel `[qkv, mask?]`. */
export const attentionQkvOperands: AttentionOperands = (inputs, attrs) => ({
  arrays: attentionQkvArrays(inputs),
  dims: attentionQkvDims(inputs, attrs as AttentionQkvAttrs),
});

/** Each (b, h, t) row of X floats of `src` read through `from`, written through `to`, into a new array. */
function copyRows(
  src: Float32Array,
  from: AttentionView,
  to: AttentionView,
  [B, H, T, X]: readonly [number, number, number, number],
): Float32Array {
  const out = new Float32Array(B * H * T * X);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        // A plain loop: a subarray view per row was most of a text forward's JS garbage.
        const at = viewRow(from, b, h, t);
        const o = viewRow(to, b, h, t);
        for (let x = 0; x < X; x++) out[o + x] = src[at + x]!;
      }
  return out;
}

/**
 * Rows between a view and a contiguous `[B, H, T, X]` array: gathered into one (`toBhtd`) or
 * scattered out of one; the array itself when the view already is contiguous.
 */
function relayout(
  data: Float32Array,
  w: AttentionView,
  dims: [number, number, number, number],
  toBhtd: boolean,
) {
  const [B, H, T, X] = dims;
  if (isBhtdView(w, B, H, T, X)) return data;
  const c = contiguousView('bhtd', H, T, X);
  return toBhtd ? copyRows(data, w, c, dims) : copyRows(data, c, w, dims);
}

function heads(
  { q, k, v, mask: m }: AttentionArrays,
  dims: AttentionDims,
  a: AttentionAttrs,
): Heads | undefined {
  if (!(q instanceof Float32Array && k instanceof Float32Array && v instanceof Float32Array))
    return undefined;
  if (m && !(m instanceof Uint8Array || m instanceof Float32Array)) return undefined;
  const { batch: B, qHeads: Hq, kvHeads: Hkv, tq: Tq, tk: Tk, d: D, dv: Dv, views } = dims;
  return {
    B,
    Hq,
    Hkv,
    Tq,
    Tk,
    L: a.kvLength,
    D,
    Dv,
    q: relayout(q, views.q, [B, Hq, Tq, D], true),
    k: relayout(k, views.k, [B, Hkv, Tk, D], true),
    v: relayout(v, views.v, [B, Hkv, Tk, Dv], true),
    mask: m && { data: m, additive: a.mask === 'additive', strides: dims.maskStrides },
  };
}

/**
 * Per kv head, x times its first L rows of y ([Tk, cols] each): S = Q K^T with `transB`
 * (x [B, Hkv, G·Tq, cols] -> [B, Hkv, G·Tq, L]), O = P V without (x [B, Hkv, G·Tq, L] ->
 * [B, Hkv, G·Tq, cols]). The query heads of a group are contiguous, so a group's rows are one
 * matrix: one batched call covers every head when L = Tk, else one call per kv head.
 */
function perKvHead(
  matmul: CpuAccelerated,
  h: Heads,
  x: Float32Array,
  y: Float32Array,
  cols: number,
  transB: boolean,
): Float32Array | undefined {
  const items = h.B * h.Hkv;
  const rows = (h.Hq / h.Hkv) * h.Tq;
  const inner = transB ? cols : h.L;
  const out = transB ? h.L : cols;
  const attrs = { transposeA: false, transposeB: transB, activation: 'none' };
  if (h.L === h.Tk) {
    const [r] =
      matmul(
        [
          { data: x, shape: [items, rows, inner], dtype: 'f32' },
          { data: y, shape: [items, h.Tk, cols], dtype: 'f32' },
        ],
        attrs,
        [{ shape: [items, rows, out], dtype: 'f32' }],
      ) ?? [];
    return r as Float32Array | undefined;
  }
  const result = new Float32Array(items * rows * out);
  for (let i = 0; i < items; i++) {
    const [r] =
      matmul(
        [
          { data: x.subarray(i * rows * inner, (i + 1) * rows * inner), shape: [rows, inner], dtype: 'f32' },
          { data: y.subarray(i * h.Tk * cols, (i * h.Tk + h.L) * cols), shape: [h.L, cols], dtype: 'f32' },
        ],
        attrs,
        [{ shape: [rows, out], dtype: 'f32' }],
      ) ?? [];
    if (!r) return undefined;
    result.set(r as Float32Array, i * rows * out);
  }
  return result;
}

/** The softmax probabilities [B, Hq, Tq, L] (S = Q K^T scaled, masked, per row). */
function probabilities(
  matmul: CpuAccelerated,
  rows: WasmRowOps,
  h: Heads,
  a: AttentionAttrs,
): Float32Array | undefined {
  const s = perKvHead(matmul, h, h.q, h.k, h.D, true); // [B, Hkv, G·Tq, L] = [B, Hq, Tq, L]
  if (!s) return undefined;
  const offset = a.causal ? a.queryOffset : undefined;
  if (!h.mask && (offset === undefined || offset + 1 >= h.L))
    return rows.softmaxRows(s, h.L, a.scale) ? s : undefined;
  const size = h.Tq * h.L;
  const [mB, mH, mQ] = h.mask?.strides ?? [0, 0, 0];
  for (let b = 0; b < h.B; b++) {
    for (let head = 0; head < h.Hq; head++) {
      const at = (b * h.Hq + head) * size;
      const mask = h.mask && { ...h.mask, at: b * mB + head * mH, rowStride: mQ };
      maskRows(s.subarray(at, at + size), h.Tq, h.L, a.scale, offset, mask);
    }
  }
  return rows.softmaxRows(s, h.L, 1) ? s : undefined;
}

/**
 * Wraps an accelerated matmul into an accelerated attention (undefined: use the reference), for the
 * kernel whose inputs `operands` reads (the attention kernel's by default); `fused` first, when it
 * takes the job.
 */
export function matmulAttention(
  matmul: CpuAccelerated,
  rows: WasmRowOps,
  operands: AttentionOperands = attentionOperands,
  fused?: FusedAttention,
): CpuAccelerated {
  return (inputs, attrs) => {
    const a = attrs as AttentionAttrs;
    const { arrays, dims } = operands(inputs, a);
    // Short sequences without a mask: one WebAssembly job reading the operands in place.
    const whole = fused?.(arrays, dims, a);
    if (whole) return [whole as TypedArray];
    const h = heads(arrays, dims, a);
    const p = h && probabilities(matmul, rows, h, a); // [B, Hq, Tq, L]
    const out = h && p && perKvHead(matmul, h, p, h.v, h.Dv, false); // [B, Hq, Tq, Dv]
    return out ? [relayout(out, dims.views.out, [h.B, h.Hq, h.Tq, h.Dv], false) as TypedArray] : undefined;
  };
}

/**
 * The probabilities `[B, Hq, Tq, kvLength]` that attention's gradient recomputes, through the
 * accelerated matmul (undefined: use the reference).
 */
export function matmulAttentionProbs(matmul: CpuAccelerated, rows: WasmRowOps): CpuAccelerated {
  return (inputs, attrs) => {
    const a = attrs as AttentionAttrs;
    const { arrays, dims } = attentionOperands(inputs, a);
    const h = heads(arrays, dims, a);
    const p = h && probabilities(matmul, rows, h, a);
    return p ? [p as TypedArray] : undefined;
  };
}

/**
 * In place, before the softmax: row i becomes scale * row + additive mask over keys j <= i + offset
 * (all keys without an offset) that the mask lets through, and -Infinity elsewhere (the softmax
 * gives those exactly 0, and a row that sees no key zeros, as the reference does). Row i's mask
 * values start at `mask.at + i * rowStride`.
 */
function maskRows(
  s: Float32Array,
  rows: number,
  cols: number,
  scale: number,
  offset: number | undefined,
  mask: (MaskView & { at: number; rowStride: number }) | undefined,
): void {
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    const limit = offset === undefined ? cols : Math.min(cols, Math.max(0, i + offset + 1));
    const m = mask ? mask.at + i * mask.rowStride : 0;
    if (!mask) for (let j = 0; j < limit; j++) s[base + j]! *= scale;
    else if (mask.additive)
      for (let j = 0; j < limit; j++) s[base + j] = s[base + j]! * scale + mask.data[m + j]!;
    else
      for (let j = 0; j < limit; j++)
        s[base + j] = mask.data[m + j] ? s[base + j]! * scale : Number.NEGATIVE_INFINITY;
    s.fill(Number.NEGATIVE_INFINITY, base + limit, base + cols);
  }
}
