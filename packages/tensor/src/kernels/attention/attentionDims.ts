// Attributes, dimensions and input validation shared by the attention kernels (forward, the
// probabilities kernel the backward recomputes, and the CPU, WebGPU and tfjs implementations).
import type { TensorInfo } from '../../backend.js';
import { checkOptionalTensor, checkTensor } from '../../checkTensor.js';
import { formatShape } from '../../shape.js';
import { Tensor } from '../../tensor.js';
import { checkOptionKeys, flagOption } from '../options.js';

/** How the optional mask input is read: absent, bool (nonzero = may attend) or added to the scores. */
export type AttentionMaskKind = 'none' | 'bool' | 'additive';

/** Resolved attributes of an attention kernel (every option has a value by the time it runs). */
export interface AttentionAttrs {
  readonly causal: boolean;
  readonly scale: number;
  /** Keys `[0, kvLength)` are read; the rest of k and v is ignored (a preallocated cache). */
  readonly kvLength: number;
  /** Absolute position of query 0; row `i` may see keys `j <= i + queryOffset` when causal. */
  readonly queryOffset: number;
  readonly mask: AttentionMaskKind;
  /** How q, k, v and the output lay out their axes (default `'bhtd'`); see {@link AttentionLayout}. */
  readonly layout?: AttentionLayout;
}

/**
 * The axis order of attention's q, k, v and output: `'bhtd'` is `[B, H, T, D]` (heads first), and
 * `'bthd'` is `[B, T, H, D]`, what a projection `[B, T, H·D]` is once reshaped, so the heads need no
 * transpose on the way in or out.
 */
export type AttentionLayout = 'bhtd' | 'bthd';

/** Where one operand's element (b, h, t, c) lies: `offset + b·batch + h·head + t·token + c`. */
export interface AttentionView {
  readonly offset: number;
  readonly batch: number;
  readonly head: number;
  readonly token: number;
}

/** The element layout of q, k, v and the output. */
export interface AttentionViews {
  readonly q: AttentionView;
  readonly k: AttentionView;
  readonly v: AttentionView;
  readonly out: AttentionView;
}

/**
 * Options of `attention`.
 *
 * @example
 * ```ts
 * const options: AttentionOptions = { causal: true, kvLength: cache.length + 1 };
 * ```
 */
export interface AttentionOptions {
  /** Each query row sees only keys at or before its absolute position (`queryOffset + i`). */
  causal?: boolean;
  /**
   * A bool padding mask `[B, Tk]` (true = a real token), or a mask broadcastable to
   * `[B, Hq, Tq, Tk]` (each of the first three axes its size or 1): bool (true = may attend) or
   * f32 added to the scaled scores (`-Infinity` hides a key). Its last axis may also be `kvLength`.
   */
  mask?: Tensor;
  /** Multiplies `q·k` (default `1 / sqrt(D)`). */
  scale?: number;
  /**
   * Only keys `[0, kvLength)` of k and v are read (default Tk): a preallocated cache's valid prefix.
   * q, k and v share one layout, so `[B, Hkv, L, D]` caches are read with the default one.
   */
  kvLength?: number;
  /** Absolute position of query row 0 for causal masking (default `kvLength - Tq`). */
  queryOffset?: number;
  /**
   * `'bthd'`: q `[B, Tq, Hq, D]`, k `[B, Tk, Hkv, D]`, v `[B, Tk, Hkv, Dv]` and the output
   * `[B, Tq, Hq, Dv]`, the heads of a reshaped projection read in place (default `'bhtd'`). The
   * mask keeps its shapes (`[B, Tk]`, or broadcastable to `[B, Hq, Tq, Tk]`).
   */
  layout?: AttentionLayout;
}

/**
 * A valid queryOffset past kvLength - 1 (every key visible to every row) or below -tq (none) as
 * the nearest offset that means the same, so that kernels' `i + offset + 1` cannot overflow an
 * i32; other values (a non-integer, past ±2^31) stay as they are for the checks to name.
 */
function clampOffset(offset: number, tq: number, kvLength: number): number {
  if (!Number.isInteger(offset) || Math.abs(offset) >= 2 ** 31) return offset;
  return Math.max(-tq - 1, Math.min(kvLength, offset));
}

const ATTENTION_OPTION_KEYS = ['causal', 'mask', 'scale', 'kvLength', 'queryOffset', 'layout'];

/**
 * Checks the tensors and options of `op` (attention or attentionProbs) and resolves the options'
 * defaults into kernel attributes.
 */
export function attentionAttrs(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions,
  op = 'attention',
): AttentionAttrs {
  checkTensor(q, op, 'q');
  checkTensor(k, op, 'k');
  checkTensor(v, op, 'v');
  // A mask passed where the options go would otherwise read as an unknown option "id".
  if (options instanceof Tensor)
    throw new TypeError(`${op}: options must be an object, got a Tensor (pass a mask as { mask })`);
  checkOptionKeys(op, options, ATTENTION_OPTION_KEYS);
  checkOptionalTensor(options.mask, op, 'options.mask');
  const layout = options.layout ?? 'bhtd';
  if (layout !== 'bhtd' && layout !== 'bthd')
    throw new RangeError(`${op}: layout must be 'bhtd' or 'bthd', got ${JSON.stringify(layout)}`);
  const t = layout === 'bthd' ? 1 : 2; // the token axis
  const kvLength = options.kvLength ?? k.shape[t] ?? 0;
  const tq = q.shape[t] ?? 0;
  const { mask } = options;
  return {
    causal: flagOption(op, options, 'causal'),
    scale: options.scale ?? 1 / Math.sqrt(q.shape[3] ?? 1),
    kvLength,
    queryOffset: clampOffset(options.queryOffset ?? kvLength - tq, tq, kvLength),
    mask: mask === undefined ? 'none' : mask.dtype === 'bool' ? 'bool' : 'additive',
    ...(layout === 'bthd' ? { layout } : {}),
  };
}

/** Sizes of one attention call. */
export interface AttentionDims {
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads: number;
  /** Query heads per kv head (grouped-query attention); query head h reads kv head floor(h / group). */
  readonly group: number;
  readonly tq: number;
  /** Allocated key positions (k's token axis); only the first `kvLength` are valid. */
  readonly tk: number;
  readonly d: number;
  readonly dv: number;
  /** Element strides of the mask over [B, Hq, Tq] (0 on broadcast axes); its last axis has stride 1. */
  readonly maskStrides: readonly [number, number, number];
  /** Where q, k, v and the output keep each (b, h, t) row. */
  readonly views: AttentionViews;
}

/** The view of a contiguous `[B, H, T, X]` (`bhtd`) or `[B, T, H, X]` (`bthd`) tensor. */
export function contiguousView(layout: AttentionLayout, heads: number, t: number, x: number): AttentionView {
  return layout === 'bthd'
    ? { offset: 0, batch: t * heads * x, head: x, token: heads * x }
    : { offset: 0, batch: heads * t * x, head: t * x, token: x };
}

/**
 * Whether a view reads a contiguous `[B, H, T, X]` tensor: offset 0, and each axis longer than 1 at
 * its contiguous stride (a size-1 axis's stride never matters: a decode step's `[B, 1, H, D]` is one).
 */
export function isBhtdView(w: AttentionView, batch: number, heads: number, t: number, x: number): boolean {
  const c = contiguousView('bhtd', heads, t, x);
  return (
    w.offset === 0 &&
    (batch <= 1 || w.batch === c.batch) &&
    (heads <= 1 || w.head === c.head) &&
    (t <= 1 || w.token === c.token)
  );
}

const describe = (t: TensorInfo) => `${t.dtype}${formatShape(t.shape)}`;

/**
 * Validates q, k, v (and the mask) and returns the sizes. Errors name the op, the inputs and their
 * shapes.
 */
export function attentionDims(
  inputs: readonly TensorInfo[],
  attrs: AttentionAttrs,
  op = 'attention',
): AttentionDims {
  const [q, k, v, mask] = inputs as [TensorInfo, TensorInfo, TensorInfo, TensorInfo | undefined];
  const layout = attrs.layout ?? 'bhtd';
  const bthd = layout === 'bthd';
  const named: [string, TensorInfo, string][] = [
    ['q', q, bthd ? '[B, Tq, Hq, D]' : '[B, Hq, Tq, D]'],
    ['k', k, bthd ? '[B, Tk, Hkv, D]' : '[B, Hkv, Tk, D]'],
    ['v', v, bthd ? '[B, Tk, Hkv, Dv]' : '[B, Hkv, Tk, Dv]'],
  ];
  for (const [name, t, axes] of named) {
    if (t.shape.length !== 4)
      throw new RangeError(`${op}: ${name} must have rank 4 ${axes}, got ${describe(t)}`);
    if (t.dtype !== 'f32')
      throw new TypeError(`${op}: ${name} must be f32, got ${describe(t)}; cast it first`);
  }
  // [B, H, T, X] whatever the layout
  const bhtx = (t: TensorInfo) => {
    const [b, x, y, c] = t.shape as [number, number, number, number];
    return bthd ? ([b, y, x, c] as const) : ([b, x, y, c] as const);
  };
  const [batch, qHeads, tq, d] = bhtx(q);
  const [kb, kvHeads, tk, kd] = bhtx(k);
  const [vb, vh, vt, dv] = bhtx(v);
  const qk = `q ${describe(q)}, k ${describe(k)}`;
  if (kb !== batch) throw new RangeError(`${op}: batch sizes differ: ${qk}`);
  if (kd !== d) throw new RangeError(`${op}: q's head size ${d} differs from k's ${kd}: ${qk}`);
  if (vb !== kb || vh !== kvHeads || vt !== tk) {
    const axes = bthd ? '[B, Tk, Hkv]' : '[B, Hkv, Tk]';
    throw new RangeError(`${op}: k and v must agree on ${axes}: k ${describe(k)}, v ${describe(v)}`);
  }
  if (d < 1 || dv < 1) throw new RangeError(`${op}: head sizes must be at least 1: ${qk}, v ${describe(v)}`);
  if (kvHeads < 1 || qHeads % kvHeads !== 0) {
    throw new RangeError(`${op}: q's ${qHeads} heads are not a multiple of k's ${kvHeads} heads (${qk})`);
  }
  if (!Number.isInteger(attrs.kvLength) || attrs.kvLength < 0 || attrs.kvLength > tk) {
    throw new RangeError(
      `${op}: kvLength ${attrs.kvLength} must be an integer in [0, ${tk}] (k ${describe(k)})`,
    );
  }
  // Kernels hold it in an i32.
  if (!Number.isInteger(attrs.queryOffset) || Math.abs(attrs.queryOffset) >= 2 ** 31)
    throw new RangeError(`${op}: queryOffset ${attrs.queryOffset} must be an integer in (-2^31, 2^31)`);
  if (!Number.isFinite(attrs.scale))
    throw new RangeError(`${op}: scale ${attrs.scale} must be a finite number`);
  const maskStrides = mask ? maskStridesOf(mask, attrs, { batch, qHeads, tq, tk }, op) : ([0, 0, 0] as const);
  const views: AttentionViews = {
    q: contiguousView(layout, qHeads, tq, d),
    k: contiguousView(layout, kvHeads, tk, d),
    v: contiguousView(layout, kvHeads, tk, dv),
    out: contiguousView(layout, qHeads, tq, dv),
  };
  return { batch, qHeads, kvHeads, group: qHeads / kvHeads, tq, tk, d, dv, maskStrides, views };
}

/** Element strides of the mask over [B, Hq, Tq] (0 on broadcast axes), after checking that it fits. */
export function maskStridesOf(
  mask: TensorInfo,
  attrs: AttentionAttrs,
  { batch, qHeads, tq, tk }: { batch: number; qHeads: number; tq: number; tk: number },
  op: string,
): [number, number, number] {
  const keys = attrs.kvLength === tk ? `${tk}` : `${tk} or ${attrs.kvLength} (kvLength)`;
  const expected =
    `a bool padding mask [B, Tk] = [${batch}, ${keys}] or a mask broadcastable as ` +
    `[${batch} or 1, ${qHeads} or 1, ${tq} or 1, ${keys}]`;
  const wrongKind = attrs.mask === 'bool' ? mask.dtype !== 'bool' : mask.dtype !== 'f32';
  if (wrongKind || (mask.dtype !== 'bool' && mask.dtype !== 'f32')) {
    throw new TypeError(`${op}: the mask must be bool or f32 (additive), got ${describe(mask)}`);
  }
  const s = mask.shape;
  const last = s[s.length - 1];
  const keysOk = last === tk || last === attrs.kvLength;
  if (s.length === 2) {
    if (mask.dtype !== 'bool' || (s[0] !== batch && s[0] !== 1) || !keysOk) {
      throw new RangeError(`${op}: the mask ${describe(mask)} does not fit; expected ${expected}`);
    }
    return [s[0] === 1 ? 0 : last!, 0, 0];
  }
  const fits = (dim: number | undefined, n: number) => dim === n || dim === 1;
  if (s.length !== 4 || !fits(s[0], batch) || !fits(s[1], qHeads) || !fits(s[2], tq) || !keysOk) {
    throw new RangeError(`${op}: the mask ${describe(mask)} does not fit; expected ${expected}`);
  }
  const [mb, mh, mq, mk] = s as [number, number, number, number];
  return [mb === 1 ? 0 : mh * mq * mk, mh === 1 ? 0 : mq * mk, mq === 1 ? 0 : mk];
}
