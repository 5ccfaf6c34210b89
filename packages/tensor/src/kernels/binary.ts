// Binary elementwise ops with NumPy broadcasting: add, sub, mul, div, pow, maximum, minimum and the
// comparisons (which return bool).
import type { TensorInfo } from '../backend.js';
import { full } from '../create.js';
import { allocArray, type TypedArray } from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { broadcastShapes } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { cast } from './cast.js';
import { assertRank, broadcastOffsets, dispatchElementwise } from './elementwise.js';
import { sumToShape } from './sumToShape.js';
import { log, neg, scale } from './unary.js';
import { where } from './where.js';

/** The binary elementwise operations. */
export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'pow'
  | 'maximum'
  | 'minimum'
  | 'equal'
  | 'notEqual'
  | 'less'
  | 'lessEqual'
  | 'greater'
  | 'greaterEqual'
  | 'logicalAnd'
  | 'logicalOr';

const COMPARE = new Set<BinaryOp>([
  'equal',
  'notEqual',
  'less',
  'lessEqual',
  'greater',
  'greaterEqual',
  'logicalAnd',
  'logicalOr',
]);

const JS: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  maximum: (a, b) => (a > b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a < b || Number.isNaN(a) ? a : b),
  equal: (a, b) => +(a === b),
  notEqual: (a, b) => +(a !== b),
  less: (a, b) => +(a < b),
  lessEqual: (a, b) => +(a <= b),
  greater: (a, b) => +(a > b),
  greaterEqual: (a, b) => +(a >= b),
  logicalAnd: (a, b) => +(a !== 0 && b !== 0),
  logicalOr: (a, b) => +(a !== 0 || b !== 0),
};

const WGSL: Record<BinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  pow: 'powSigned(a, b)',
  maximum: 'max(a, b)',
  minimum: 'min(a, b)',
  equal: 'u32(a == b)',
  notEqual: 'u32(a != b)',
  less: 'u32(a < b)',
  lessEqual: 'u32(a <= b)',
  greater: 'u32(a > b)',
  greaterEqual: 'u32(a >= b)',
  logicalAnd: 'u32(a != 0 && b != 0)',
  logicalOr: 'u32(a != 0 || b != 0)',
};

// WGSL pow() is undefined for negative bases; match Math.pow for integer exponents.
const POW_PRELUDE = `fn powSigned(a: f32, b: f32) -> f32 {
  if (a >= 0.0) { return pow(a, b); }
  if (b != round(b)) { var nanBits = 0x7fc00000u; return bitcast<f32>(nanBits); }
  let m = pow(-a, b);
  return select(m, -m, (i32(b) & 1) == 1);
}`;

/**
 * When `inShape`, left-padded with ones, equals the trailing axes of `outShape` after some leading
 * ones (so its elements repeat as one contiguous block), the block length; else undefined.
 */
function trailingBlock(inShape: readonly number[], outShape: readonly number[]): number | undefined {
  const off = outShape.length - inShape.length;
  let i = 0;
  while (i < inShape.length && inShape[i] === 1) i++;
  for (let j = i; j < inShape.length; j++) if (inShape[j] !== outShape[off + j]) return undefined;
  return inShape.slice(i).reduce((x, y) => x * y, 1);
}

// One loop per common op so the element operation inlines; index i % block walks a repeating block.
function fill(
  op: BinaryOp,
  out: TypedArray,
  a: TypedArray,
  b: TypedArray,
  n: number,
  aBlock: number,
  bBlock: number,
): void {
  const ai = (i: number) => (aBlock === n ? i : aBlock === 1 ? 0 : i % aBlock);
  const bi = (i: number) => (bBlock === n ? i : bBlock === 1 ? 0 : i % bBlock);
  switch (op) {
    case 'add':
      for (let i = 0; i < n; i++) out[i] = a[ai(i)]! + b[bi(i)]!;
      return;
    case 'sub':
      for (let i = 0; i < n; i++) out[i] = a[ai(i)]! - b[bi(i)]!;
      return;
    case 'mul':
      for (let i = 0; i < n; i++) out[i] = a[ai(i)]! * b[bi(i)]!;
      return;
    case 'div':
      for (let i = 0; i < n; i++) out[i] = a[ai(i)]! / b[bi(i)]!;
      return;
    default: {
      const f = JS[op];
      for (let i = 0; i < n; i++) out[i] = f(a[ai(i)]!, b[bi(i)]!);
    }
  }
}

interface BinaryAttrs {
  op: BinaryOp;
}

/** Gradients of `y = op(a, b)` before reducing over broadcast axes (comparisons have none). */
function binaryGrad(
  op: BinaryOp,
  a: Tensor,
  b: Tensor,
  y: Tensor,
  dy: Tensor,
): [Tensor | undefined, Tensor | undefined] {
  switch (op) {
    case 'add':
      return [dy, dy];
    case 'sub':
      return [dy, neg(dy)];
    case 'mul':
      return [mul(dy, b), mul(dy, a)];
    case 'div':
      return [div(dy, b), neg(div(mul(dy, y), b))];
    case 'pow': {
      // d/da = b a^(b-1);  d/db = y log(a), taken as 0 where a = 0 (as PyTorch does).
      const zero = full([], 0, { backend: a.backend });
      const dLogA = where(compare('equal', a, zero), zero, mul(y, log(a)));
      return [mul(dy, mul(b, pow(a, scale(b, 1, -1)))), mul(dy, dLogA)];
    }
    case 'maximum':
    case 'minimum': {
      // The winner takes the gradient; ties split it evenly (as PyTorch does).
      const wins = cast(compare(op === 'maximum' ? 'greater' : 'less', a, b), 'f32');
      const ties = cast(compare('equal', a, b), 'f32');
      const shareA = add(wins, scale(ties, 0.5));
      return [mul(dy, shareA), mul(dy, scale(shareA, -1, 1))];
    }
    default:
      return [undefined, undefined];
  }
}

export const binaryKernel: Kernel<BinaryAttrs> = {
  name: 'binary',
  infer([a, b], { op }): TensorInfo[] {
    if (a!.dtype !== b!.dtype) {
      throw new TypeError(`${op}: dtypes differ (${a!.dtype} and ${b!.dtype}); cast one of them first`);
    }
    if (op === 'pow' && a!.dtype !== 'f32') throw new TypeError(`pow: needs f32 tensors, got ${a!.dtype}`);
    if (a!.dtype === 'f16' || a!.dtype === 'bf16')
      throw new TypeError(`${op}: ${a!.dtype} is a storage dtype; cast to f32 first`);
    assertRank(a!, op);
    assertRank(b!, op);
    const shape = broadcastShapes(a!.shape, b!.shape, op);
    return [{ shape, dtype: COMPARE.has(op) ? 'bool' : a!.dtype }];
  },
  cpu([a, b], { op }, [out]) {
    const n = out!.shape.reduce((x, y) => x * y, 1);
    const result: TypedArray = allocArray(out!.dtype, n);
    const ad = a!.data;
    const bd = b!.data;
    // Hot cases without per-element index math: same shape, a scalar on either side, or the
    // smaller operand repeating as a trailing block (a bias [C] against [B, T, C]).
    const aBlock = trailingBlock(a!.shape, out!.shape);
    const bBlock = trailingBlock(b!.shape, out!.shape);
    if (aBlock !== undefined && bBlock !== undefined) {
      fill(op, result, ad, bd, n, aBlock, bBlock);
      return [result];
    }
    const f = JS[op];
    const ao = broadcastOffsets(a!.shape, out!.shape);
    const bo = broadcastOffsets(b!.shape, out!.shape);
    for (let i = 0; i < n; i++) result[i] = f(ad[ao ? ao[i]! : i]!, bd[bo ? bo[i]! : i]!);
    return [result];
  },
  webgpu(ctx, [a, b], [out], { op }) {
    dispatchElementwise(ctx, op, [a!, b!], out!, WGSL[op], op === 'pow' ? POW_PRELUDE : '');
  },
  tfjs(tf, [a, b], { op }) {
    const fn = {
      add: tf.add,
      sub: tf.sub,
      mul: tf.mul,
      div: tf.div,
      pow: tf.pow,
      maximum: tf.maximum,
      minimum: tf.minimum,
      equal: tf.equal,
      notEqual: tf.notEqual,
      less: tf.less,
      lessEqual: tf.lessEqual,
      greater: tf.greater,
      greaterEqual: tf.greaterEqual,
      logicalAnd: tf.logicalAnd,
      logicalOr: tf.logicalOr,
    }[op];
    if (op === 'logicalAnd' || op === 'logicalOr') return [fn(tf.cast(a, 'bool'), tf.cast(b, 'bool'))];
    if (op === 'div' && a.dtype === 'int32')
      return [tf.cast(tf.div(tf.cast(a, 'float32'), tf.cast(b, 'float32')), 'int32')];
    return [fn(a, b)];
  },
  grad({ dy: [dy], inputs: [a, b], outputs: [y], attrs: { op } }) {
    if (!dy || a!.dtype !== 'f32') return [undefined, undefined];
    const [da, db] = binaryGrad(op, a!, b!, y!, dy);
    return [da && sumToShape(da, a!.shape), db && sumToShape(db, b!.shape)];
  },
};

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  return run1(binaryKernel, [a, b], { op });
}

/**
 * `a + b` with broadcasting.
 *
 * @example
 * ```ts
 * const y = add(x, bias); // [B, T, C] + [C]
 * ```
 */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary('add', a, b);
}

/**
 * `a - b` with broadcasting.
 *
 * @example
 * ```ts
 * const centered = sub(x, mean(x, [-1], true));
 * ```
 */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binary('sub', a, b);
}

/**
 * `a * b` with broadcasting.
 *
 * @example
 * ```ts
 * const scaled = mul(x, gamma);
 * ```
 */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary('mul', a, b);
}

/**
 * `a / b` with broadcasting (integer division truncates toward zero for i32 on cpu and webgpu).
 *
 * @example
 * ```ts
 * const normalized = div(x, norm);
 * ```
 */
export function div(a: Tensor, b: Tensor): Tensor {
  return binary('div', a, b);
}

/**
 * `a ** b` with broadcasting (f32).
 *
 * @example
 * ```ts
 * const squared = pow(x, two);
 * ```
 */
export function pow(a: Tensor, b: Tensor): Tensor {
  return binary('pow', a, b);
}

/**
 * Elementwise maximum with broadcasting.
 *
 * @example
 * ```ts
 * const clipped = maximum(x, zero);
 * ```
 */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return binary('maximum', a, b);
}

/**
 * Elementwise minimum with broadcasting.
 *
 * @example
 * ```ts
 * const clipped = minimum(x, limit);
 * ```
 */
export function minimum(a: Tensor, b: Tensor): Tensor {
  return binary('minimum', a, b);
}

/**
 * Elementwise comparison with broadcasting; returns a bool tensor.
 *
 * @example
 * ```ts
 * const isEnd = compare('equal', ids, endToken);
 * ```
 */
export function compare(
  op: 'equal' | 'notEqual' | 'less' | 'lessEqual' | 'greater' | 'greaterEqual' | 'logicalAnd' | 'logicalOr',
  a: Tensor,
  b: Tensor,
): Tensor {
  return binary(op, a, b);
}
