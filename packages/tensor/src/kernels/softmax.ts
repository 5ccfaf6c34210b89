// softmax and logSoftmax over one axis, with an optional mask broadcast to x: a bool mask (false
// = masked) or an additive f32 mask (-Infinity = masked, other values are added to the logits).
//
// Masked positions get probability 0 (logSoftmax: -Infinity). A row whose every position is
// masked gives zeros from softmax and -Infinity from logSoftmax, never NaN. The max is taken over
// unmasked positions only and masked positions are skipped explicitly, so the GPU path never
// relies on arithmetic with infinities.
import type { TensorInfo } from '../backend.js';
import { type GpuContext, type GpuTensor, workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { full } from '../create.js';
import { allocArray } from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel, TfjsCore, TfjsTensor } from '../kernel.js';
import { broadcastShapes, formatShape, normAxis, type Shape, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { compare, mul, sub } from './binary.js';
import { assertRank, broadcastOffsets, MAX_RANK } from './elementwise.js';
import { rowEntry, sum, WGSL_INF, WGSL_UNRAVEL, wgslRowMain, wgslWorkgroupReduce } from './reduce.js';
import { softmaxGrad } from './softmaxGrad.js';
import { sumToShape } from './sumToShape.js';
import { exp } from './unary.js';
import { where } from './where.js';

type MaskKind = 'none' | 'bool' | 'additive';

interface SoftmaxAttrs {
  /** Normalized axis. */
  axis: number;
  log: boolean;
  mask: MaskKind;
}

/** `[outer, n, inner]`: the view softmax works on. */
function view(shape: Shape, axis: number): { outer: number; n: number; inner: number } {
  return {
    outer: shape.slice(0, axis).reduce((a, b) => a * b, 1),
    n: shape[axis]!,
    inner: shape.slice(axis + 1).reduce((a, b) => a * b, 1),
  };
}

// ---------------------------------------------------------------------------------------------
// WebGPU.

const softmaxParams = uniformLayout({
  rows: 'u32',
  n: 'u32',
  inner: 'u32',
  rank: 'u32',
  maskAxisStride: 'u32',
  xShape: 'shape',
  maskStrides: 'shape',
});

/** Rows longer than this (along a last axis) get a workgroup each. */
const ROW_THRESHOLD = 32;

function softmaxWgsl(log: boolean, mask: MaskKind, rows: boolean, wg: number, subgroups: boolean): string {
  const entry = rowEntry(subgroups);
  const maskAt = 'mbase + j * p.maskAxisStride';
  const keep =
    mask === 'bool'
      ? `maskBuf[${maskAt}] != 0u`
      : mask === 'additive'
        ? `bitcast<u32>(maskBuf[${maskAt}]) != 0xff800000u`
        : 'true';
  const logit =
    mask === 'additive' ? `xBuf[base + j * p.inner] + maskBuf[${maskAt}]` : 'xBuf[base + j * p.inner]';
  const loop = rows ? `for (var j = lid; j < p.n; j += ${wg}u)` : 'for (var j = 0u; j < p.n; j++)';
  const result = log ? 'z - m - logS' : 'exp(z - m) * invS';
  const masked = log ? 'negInf()' : '0.0';
  const maskDecl =
    mask === 'none'
      ? ''
      : `@group(0) @binding(1) var<storage, read> maskBuf: array<${mask === 'bool' ? 'u32' : 'f32'}>;`;
  const out = mask === 'none' ? 1 : 2;
  const head = wgslRowMain(rows, wg, subgroups);
  return `${rows ? entry.enable : ''}${softmaxParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> xBuf: array<f32>;
${maskDecl}
@group(0) @binding(${out}) var<storage, read_write> yBuf: array<f32>;
@group(0) @binding(${out + 1}) var<uniform> p: Params;
${WGSL_UNRAVEL}
${WGSL_INF}
${rows ? wgslWorkgroupReduce('wgMax', 'f32', 'max', wg, subgroups) + wgslWorkgroupReduce('wgSum', 'f32', 'add', wg, subgroups) : ''}
fn keep(mbase: u32, j: u32) -> bool { return ${keep}; }
fn logit(base: u32, mbase: u32, j: u32) -> f32 { return ${logit}; }
${head}
  if (r >= p.rows) { return; } // uniform in "rows": r depends only on the workgroup
  // Row r of the [outer, n, inner] view starts at o * n * inner + k.
  let base = (r / p.inner) * p.n * p.inner + r % p.inner;
  let mbase = ${mask === 'none' ? '0u' : 'unravel(base, p.xShape, p.maskStrides, p.rank)'};
  var mAcc = negInf();
  ${loop} {
    if (keep(mbase, j)) { mAcc = max(mAcc, logit(base, mbase, j)); }
  }
  let m = ${rows ? 'wgMax(mAcc, lid, lane, sgSize)' : 'mAcc'};
  // Every position masked: m is still the -inf identity.
  let dead = bitcast<u32>(m) == 0xff800000u;
  var sAcc = 0.0;
  ${loop} {
    if (keep(mbase, j)) { sAcc += exp(logit(base, mbase, j) - m); }
  }
  let s = ${rows ? 'wgSum(sAcc, lid, lane, sgSize)' : 'sAcc'};
  let invS = 1.0 / s;
  let logS = log(s);
  ${loop} {
    var y = ${masked};
    if (!dead && keep(mbase, j)) {
      let z = logit(base, mbase, j);
      // A -inf logit is a masked one, also when the row's max is +inf or NaN (z - m would be NaN).
      if (bitcast<u32>(z) != 0xff800000u) { y = ${result}; }
    }
    yBuf[base + j * p.inner] = y;
  }
}`;
}

function dispatchSoftmax(
  ctx: GpuContext,
  inputs: readonly GpuTensor[],
  out: GpuTensor,
  attrs: SoftmaxAttrs,
): void {
  const x = inputs[0]!;
  if (out.size === 0) return;
  const { outer, n, inner } = view(x.shape, attrs.axis);
  const rows = inner === 1 && n > ROW_THRESHOLD;
  const wg = rows ? (n <= 256 ? 64 : 256) : 64;
  const subgroups = rows && ctx.features.subgroups;
  const key = `softmax:${attrs.log ? 'log' : 'exp'}:${attrs.mask}:${rows ? 'rows' : 'cols'}:${wg}:${subgroups ? 'sg' : ''}`;
  const pipeline = ctx.pipeline(key, () => softmaxWgsl(attrs.log, attrs.mask, rows, wg, subgroups));
  const pad = (v: readonly number[]) => [...v, ...new Array<number>(MAX_RANK - v.length).fill(0)];
  const mask = inputs[1];
  const maskStrides = mask ? maskStridesFor(mask.shape, x.shape) : [];
  const uniforms = softmaxParams.pack({
    rows: outer * inner,
    n,
    inner,
    rank: x.shape.length,
    maskAxisStride: maskStrides[attrs.axis] ?? 0,
    xShape: pad(x.shape),
    maskStrides: pad(maskStrides),
  });
  const count = outer * inner;
  ctx.dispatch(pipeline, [...inputs, out], uniforms, workgroups1d(rows ? count : Math.ceil(count / wg)));
}

/** Strides reading `mask` at x's indexes (0 along broadcast axes), one per axis of x. */
function maskStridesFor(maskShape: Shape, xShape: Shape): number[] {
  const strides = new Array<number>(xShape.length).fill(0);
  let s = 1;
  for (let i = maskShape.length - 1; i >= 0; i--) {
    const d = maskShape[i]!;
    strides[xShape.length - maskShape.length + i] = d === 1 ? 0 : s;
    s *= d;
  }
  return strides;
}

// ---------------------------------------------------------------------------------------------
// tfjs.

function tfjsSoftmax(
  tf: TfjsCore,
  [x, mask]: readonly TfjsTensor[],
  { axis, log, mask: kind }: SoftmaxAttrs,
): TfjsTensor {
  const shape = x.shape;
  let z = x;
  let keep: TfjsTensor | undefined;
  if (kind === 'bool') keep = tf.broadcastTo(tf.cast(mask, 'bool'), shape);
  else if (kind === 'additive') {
    const m = tf.broadcastTo(mask, shape);
    keep = tf.notEqual(m, Number.NEGATIVE_INFINITY);
    z = tf.add(x, m);
  }
  const negInf = tf.fill(shape, Number.NEGATIVE_INFINITY);
  const zMasked = keep ? tf.where(keep, z, negInf) : z;
  const m = tf.max(zMasked, axis, true);
  const dead = tf.equal(m, Number.NEGATIVE_INFINITY);
  const shift = tf.where(dead, tf.zerosLike(m), m);
  const e = tf.exp(tf.sub(zMasked, shift));
  const s = tf.sum(e, axis, true);
  // A -inf logit is masked (0) also where the row's max is +inf or NaN and the sum is NaN, as on
  // the CPU and WebGPU (divNoNan(0, NaN) would be NaN).
  if (!log) return tf.where(tf.equal(zMasked, Number.NEGATIVE_INFINITY), tf.zerosLike(e), tf.divNoNan(e, s));
  const y = tf.sub(tf.sub(zMasked, shift), tf.log(s));
  return tf.where(
    tf.logicalOr(tf.broadcastTo(dead, shape), tf.equal(zMasked, Number.NEGATIVE_INFINITY)),
    negInf,
    y,
  );
}

// ---------------------------------------------------------------------------------------------
// CPU.

/**
 * Unmasked softmax over the middle axis of `[outer, n, inner]` with `inner > 1` (the channels of a
 * `[B, V, h, w]` grid): the `inner` rows of each outer block are handled side by side, so every
 * pass walks memory in order instead of striding by `inner`, and each exp is taken once. The
 * per-element arithmetic is the reference loop's.
 */
function softmaxColumns(
  xd: Float32Array,
  outer: number,
  n: number,
  inner: number,
  log: boolean,
): Float32Array {
  const y = new Float32Array(xd.length); // [outer, n, inner]
  const m = new Float64Array(inner); // [inner] row maxima
  const s = new Float64Array(inner); // [inner] sums of exp(z - m)
  const e = log ? undefined : new Float64Array(n * inner); // [n, inner] exp(z - m) of one block
  for (let o = 0; o < outer; o++) {
    const block = o * n * inner;
    m.fill(Number.NEGATIVE_INFINITY);
    s.fill(0);
    for (let j = 0, at = block; j < n; j++, at += inner)
      for (let k = 0; k < inner; k++) m[k] = Math.max(m[k]!, xd[at + k]!);
    for (let j = 0, at = block; j < n; j++, at += inner) {
      for (let k = 0; k < inner; k++) {
        const v = Math.exp(xd[at + k]! - m[k]!);
        s[k]! += v;
        if (e) e[at - block + k] = v;
      }
    }
    if (log) for (let k = 0; k < inner; k++) s[k] = Math.log(s[k]!);
    for (let j = 0, at = block; j < n; j++, at += inner) {
      for (let k = 0; k < inner; k++) {
        const z = xd[at + k]!;
        if (m[k] === Number.NEGATIVE_INFINITY || z === Number.NEGATIVE_INFINITY)
          y[at + k] = log ? Number.NEGATIVE_INFINITY : 0;
        else y[at + k] = e ? e[at - block + k]! / s[k]! : z - m[k]! - s[k]!;
      }
    }
  }
  return y;
}

// ---------------------------------------------------------------------------------------------
// The kernel.

/** @internal The kernel behind {@link softmax} and {@link logSoftmax}. */
export const softmaxKernel: Kernel<SoftmaxAttrs> = {
  name: 'softmax',
  infer([x, mask], { axis, log }): TensorInfo[] {
    const op = log ? 'logSoftmax' : 'softmax';
    if (x!.dtype !== 'f32')
      throw new TypeError(`${op}: x must be f32, got ${x!.dtype}${formatShape(x!.shape)}`);
    assertRank(x!, op);
    if (x!.shape.length === 0) throw new RangeError(`${op}: x must have at least one axis, got a scalar`);
    if (mask) {
      if (mask.dtype !== 'bool' && mask.dtype !== 'f32') {
        throw new TypeError(
          `${op}: mask must be bool or f32 (additive), got ${mask.dtype}${formatShape(mask.shape)}`,
        );
      }
      let ok = mask.shape.length <= x!.shape.length;
      if (ok) {
        try {
          ok = shapesEqual(broadcastShapes(mask.shape, x!.shape, op), x!.shape);
        } catch {
          ok = false;
        }
      }
      if (!ok) {
        throw new RangeError(
          `${op}: mask of shape ${formatShape(mask.shape)} does not broadcast to x of shape ${formatShape(x!.shape)}`,
        );
      }
    }
    if (axis < 0 || axis >= x!.shape.length)
      throw new RangeError(`${op}: axis ${axis} is out of range for x ${formatShape(x!.shape)}`);
    return [{ shape: x!.shape, dtype: 'f32' }];
  },
  cpu([x, mask], { axis, log }) {
    const { outer, n, inner } = view(x!.shape, axis);
    if (!mask && inner > 1) return [softmaxColumns(x!.data as Float32Array, outer, n, inner, log)];
    const y = allocArray('f32', x!.data.length);
    const mo = mask ? broadcastOffsets(mask.shape, x!.shape) : undefined;
    const xd = x!.data;
    // Masked positions give -inf logits (bool false, or an additive -inf).
    const z = (i: number): number => {
      if (!mask) return xd[i]!;
      const mv = mask.data[mo ? mo[i]! : i]!;
      if (mask.dtype === 'bool') return mv ? xd[i]! : Number.NEGATIVE_INFINITY;
      // The f32 sum, as the other backends (and PyTorch) add: in doubles, x + -1e9 would keep x's
      // differences, and such a "masked" row would not come out uniform.
      return mv === Number.NEGATIVE_INFINITY ? mv : Math.fround(xd[i]! + mv);
    };
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < inner; k++) {
        const base = o * n * inner + k;
        let m = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < n; j++) m = Math.max(m, z(base + j * inner));
        let s = 0;
        if (m !== Number.NEGATIVE_INFINITY)
          for (let j = 0; j < n; j++) s += Math.exp(z(base + j * inner) - m);
        for (let j = 0; j < n; j++) {
          const i = base + j * inner;
          const zi = z(i);
          if (m === Number.NEGATIVE_INFINITY || zi === Number.NEGATIVE_INFINITY)
            y[i] = log ? Number.NEGATIVE_INFINITY : 0;
          else y[i] = log ? zi - m - Math.log(s) : Math.exp(zi - m) / s;
        }
      }
    }
    return [y];
  },
  webgpu(ctx, inputs, [out], attrs) {
    dispatchSoftmax(ctx, inputs, out!, attrs);
  },
  tfjs(tf, inputs, attrs) {
    return [tfjsSoftmax(tf, inputs, attrs)];
  },
  grad({ dy: [dy], inputs: [, mask], outputs: [y], attrs }) {
    if (!dy) return [undefined, undefined];
    let dx: Tensor;
    if (!attrs.log) {
      // dx = y (dy - sum(dy y)); masked positions have y = 0. One pass per row over the last axis.
      dx =
        attrs.axis === y!.rank - 1
          ? softmaxGrad(y!, dy)
          : mul(y!, sub(dy, sum(mul(dy, y!), attrs.axis, true)));
    } else {
      // dx = dy' - p sum(dy'), with dy' = dy on unmasked positions (masked outputs are constant).
      const p = exp(y!); // softmax(x, axis, mask): masked positions have y = -inf, p = 0
      const kept = keepMask(mask);
      const g = kept ? where(kept, dy, full([], 0, { backend: dy.backend })) : dy;
      dx = sub(g, mul(p, sum(g, attrs.axis, true)));
    }
    return [dx, mask && mask.dtype === 'f32' ? sumToShape(dx, mask.shape) : undefined];
  },
};

/** Where the mask keeps a position (bool), or undefined without a mask. */
function keepMask(mask: Tensor | undefined): Tensor | undefined {
  if (!mask) return undefined;
  if (mask.dtype === 'bool') return mask;
  return compare('notEqual', mask, full([], Number.NEGATIVE_INFINITY, { backend: mask.backend }));
}

function runSoftmax(x: Tensor, axis: number, mask: Tensor | undefined, log: boolean): Tensor {
  const op = log ? 'logSoftmax' : 'softmax';
  checkTensor(x, op, 'x');
  const a = normAxis(axis, x.rank, op);
  // null, like undefined, means no mask (as the falsy test below always took it).
  if (mask !== undefined && mask !== null) checkTensor(mask, op, 'mask');
  const kind: MaskKind = !mask ? 'none' : mask.dtype === 'bool' ? 'bool' : 'additive';
  return run1(softmaxKernel, mask ? [x, mask] : [x], { axis: a, log, mask: kind });
}

/**
 * `exp(x) / sum(exp(x))` along `axis` (default: last), computed stably by subtracting the row max.
 * `mask` broadcasts to `x`: bool (false = masked) or f32 added to the logits (-Infinity =
 * masked). Masked positions get probability 0; a fully masked row gives all zeros (not NaN).
 *
 * @example
 * ```ts
 * const probs = softmax(scores, -1, causalMask); // [B, H, T, T] with a bool [T, T] mask
 * ```
 */
export function softmax(x: Tensor, axis = -1, mask?: Tensor): Tensor {
  return runSoftmax(x, axis, mask, false);
}

/**
 * `x - logSumExp(x)` along `axis` (default: last), computed stably. `mask` works as in
 * {@link softmax}: masked positions give -Infinity (log of probability 0), and so does every
 * position of a fully masked row (never NaN).
 *
 * @example
 * ```ts
 * const logProbs = logSoftmax(logits); // [B, T, V]
 * ```
 */
export function logSoftmax(x: Tensor, axis = -1, mask?: Tensor): Tensor {
  return runSoftmax(x, axis, mask, true);
}
