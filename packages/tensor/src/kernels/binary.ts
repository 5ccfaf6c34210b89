// Binary elementwise ops with NumPy broadcasting: add, sub, mul, div, pow, maximum, minimum and the
// comparisons (which return bool).
import type { TensorInfo } from '../backend.js';
import { checkTensor } from '../checkTensor.js';
import { full } from '../create.js';
import { allocArray, type TypedArray } from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel, TfjsTensor } from '../kernel.js';
import { broadcastShapes, shapesEqual, showValue } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { cast } from './cast.js';
import { assertRank, broadcastOffsets, dispatchElementwise, WGSL_NAN_OPS } from './elementwise.js';
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

/** What the CPU computes: the ops, plus `imul` for an i32 or u32 `mul`. */
type HostOp = BinaryOp | 'imul';

const JS: Record<HostOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  // A double product loses its low bits past 2^53, before the typed-array store wraps it; Math.imul
  // wraps exactly (as WGSL and PyTorch do), and a Uint32Array store reads its result as unsigned.
  imul: Math.imul,
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

/** f32 comparisons with NaN tested on its bits: false when either side is NaN, notEqual true. */
const IEEE_COMPARE: Partial<Record<BinaryOp, string>> = {
  equal: 'u32(a == b && !isNan(a) && !isNan(b))',
  notEqual: 'u32(a != b || isNan(a) || isNan(b))',
  less: 'u32(a < b && !isNan(a) && !isNan(b))',
  lessEqual: 'u32(a <= b && !isNan(a) && !isNan(b))',
  greater: 'u32(a > b && !isNan(a) && !isNan(b))',
  greaterEqual: 'u32(a >= b && !isNan(a) && !isNan(b))',
};

/**
 * f32 truthiness on the bits (x != 0, with NaN true as in PyTorch): a driver may fold `a != 0` on
 * a NaN to false.
 */
const F32_LOGICAL: Partial<Record<BinaryOp, string>> = {
  logicalAnd: 'u32((bitcast<u32>(a) & 0x7fffffffu) != 0u && (bitcast<u32>(b) & 0x7fffffffu) != 0u)',
  logicalOr: 'u32((bitcast<u32>(a) & 0x7fffffffu) != 0u || (bitcast<u32>(b) & 0x7fffffffu) != 0u)',
};

/** Ops whose int32 result bits are the same whether the operands' bits are read signed or unsigned. */
const SIGNLESS = new Set<BinaryOp>(['add', 'sub', 'equal', 'notEqual', 'logicalAnd', 'logicalOr']);

// WGSL pow(a, b) is exp2(b * log2(a)), undefined for a < 0 and for a = 0 with b <= 0 (a software
// driver gives 0 for 0 ** -1, NaN for Infinity ** 0). Match Math.pow instead, taking the special
// values apart and leaving WGSL pow only finite positive bases and finite powers: x ** 0 = 1 and
// x ** 1 = x for every x (NaN too); |a| = 0 or Infinity, or an infinite power, gives 0 or Infinity
// (1 ** Infinity is NaN); a negative base (-0 included) negates odd integer powers, and a finite
// nonzero one gives NaN for a non-integer power. Infinities are tested on their bits.
const POW_PRELUDE = `${WGSL_NAN_OPS}
fn powSigned(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (b == 1.0) { return a; }
  if (isNan(a) || isNan(b)) { return nanF32(); }
  let x = abs(a);
  let xBits = bitcast<u32>(x);
  let bInf = (bitcast<u32>(b) & 0x7fffffffu) == 0x7f800000u;
  let special = xBits == 0u || xBits == 0x7f800000u;
  var m = 0.0;
  if (special || bInf) {
    if (xBits == 0x3f800000u) { return nanF32(); }
    var infBits = 0x7f800000u;
    m = select(0.0, bitcast<f32>(infBits), (xBits > 0x3f800000u) == (b > 0.0));
  } else {
    m = pow(x, b);
  }
  if (bitcast<u32>(a) < 0x80000000u) { return m; }
  if (!special && !bInf && b != round(b)) { return nanF32(); }
  return select(m, -m, !bInf && abs(b) < 16777216.0 && fract(b * 0.5) == 0.5);
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

// Both blocks are trailing products of the output shape, so the smaller divides the larger and n:
// walk the output in chunks of the smaller non-scalar block, each chunk one contiguous row per operand.
function fill(
  op: HostOp,
  out: TypedArray,
  a: TypedArray,
  b: TypedArray,
  n: number,
  aBlock: number,
  bBlock: number,
): void {
  const aStep = aBlock === 1 ? 0 : 1;
  const bStep = bBlock === 1 ? 0 : 1;
  const chunk = Math.max(1, Math.min(aStep ? aBlock : n, bStep ? bBlock : n));
  for (let base = 0; base < n; base += chunk) {
    fillRow(op, out, base, a, aStep ? base % aBlock : 0, aStep, b, bStep ? base % bBlock : 0, bStep, chunk);
  }
}

/** One output row of `cols` elements; `aStep`/`bStep` are 1 (contiguous) or 0 (broadcast). */
function fillRow(
  op: HostOp,
  out: TypedArray,
  o: number,
  a: TypedArray,
  ao: number,
  aStep: number,
  b: TypedArray,
  bo: number,
  bStep: number,
  cols: number,
): void {
  switch (op) {
    case 'add':
      for (let j = 0; j < cols; j++) out[o + j] = a[ao + j * aStep]! + b[bo + j * bStep]!;
      return;
    case 'sub':
      for (let j = 0; j < cols; j++) out[o + j] = a[ao + j * aStep]! - b[bo + j * bStep]!;
      return;
    case 'mul':
      for (let j = 0; j < cols; j++) out[o + j] = a[ao + j * aStep]! * b[bo + j * bStep]!;
      return;
    case 'div':
      for (let j = 0; j < cols; j++) out[o + j] = a[ao + j * aStep]! / b[bo + j * bStep]!;
      return;
    default: {
      const f = JS[op];
      for (let j = 0; j < cols; j++) out[o + j] = f(a[ao + j * aStep]!, b[bo + j * bStep]!);
    }
  }
}

/**
 * Same-shape f32 arithmetic in loops that only ever see Float32Arrays: {@link fillRow} serves
 * every dtype, so its element accesses go polymorphic and cost several times more per element
 * on the large activations of training. False for ops it does not cover.
 */
function fillSameF32(op: BinaryOp, out: Float32Array, a: TypedArray, b: TypedArray): boolean {
  if (!(a instanceof Float32Array && b instanceof Float32Array)) return false;
  const n = out.length;
  switch (op) {
    case 'add':
      for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
      return true;
    case 'sub':
      for (let i = 0; i < n; i++) out[i] = a[i]! - b[i]!;
      return true;
    case 'mul':
      for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
      return true;
    case 'div':
      for (let i = 0; i < n; i++) out[i] = a[i]! / b[i]!;
      return true;
    default:
      return false;
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
      // d/da = b a^(b-1), taken as 0 where b = 0 (at a = 0 it would be 0 * Inf = NaN);
      // d/db = y log(a), taken as 0 where a = 0 (both as PyTorch does).
      const zero = full([], 0, { backend: a.backend });
      const dA = where(compare('equal', b, zero), zero, mul(b, pow(a, scale(b, 1, -1))));
      const dLogA = where(compare('equal', a, zero), zero, mul(y, log(a)));
      return [mul(dy, dA), mul(dy, dLogA)];
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
    // Errors name the public function: comparisons are only reached through compare().
    const name = COMPARE.has(op) ? `compare('${op}')` : op;
    if (a!.dtype !== b!.dtype) {
      throw new TypeError(`${name}: dtypes differ (${a!.dtype} and ${b!.dtype}); cast one of them first`);
    }
    if (op === 'pow' && a!.dtype !== 'f32') throw new TypeError(`pow: needs f32 tensors, got ${a!.dtype}`);
    // true + true has no bool answer (the backends stored 2, 255 or 0xFFFFFFFF): say so.
    if (a!.dtype === 'bool' && !COMPARE.has(op))
      throw new TypeError(
        `${op}: bool tensors hold truth values; cast to i32 or f32 for arithmetic (where() selects by them)`,
      );
    if (a!.dtype === 'f16' || a!.dtype === 'bf16')
      throw new TypeError(`${name}: ${a!.dtype} is a storage dtype; cast to f32 first`);
    assertRank(a!, name);
    assertRank(b!, name);
    // Equal shapes (the common case) pass a's frozen shape through, which the output then shares.
    const shape = shapesEqual(a!.shape, b!.shape) ? a!.shape : broadcastShapes(a!.shape, b!.shape, name);
    return [{ shape, dtype: COMPARE.has(op) ? 'bool' : a!.dtype }];
  },
  cpu([a, b], { op }, [out]) {
    const n = out!.shape.reduce((x, y) => x * y, 1);
    const result: TypedArray = allocArray(out!.dtype, n);
    const hostOp = op === 'mul' && (out!.dtype === 'i32' || out!.dtype === 'u32') ? 'imul' : op;
    const ad = a!.data;
    const bd = b!.data;
    // Hot cases without per-element index math: same shape, a scalar on either side, or the
    // smaller operand repeating as a trailing block (a bias [C] against [B, T, C]).
    const aBlock = trailingBlock(a!.shape, out!.shape);
    const bBlock = trailingBlock(b!.shape, out!.shape);
    if (aBlock === n && bBlock === n && result instanceof Float32Array && fillSameF32(op, result, ad, bd)) {
      return [result];
    }
    if (aBlock !== undefined && bBlock !== undefined) {
      fill(hostOp, result, ad, bd, n, aBlock, bBlock);
      return [result];
    }
    const rank = out!.shape.length;
    const cols = out!.shape[rank - 1] ?? 1;
    if (rank >= 2 && cols > 1) {
      // Row by row: each operand's last axis is either contiguous or broadcast (step 0), and only
      // the row starts need broadcast index math (a row statistic [N, 1] against [N, C]).
      const rowsShape = out!.shape.slice(0, -1);
      const rowOffsets = (shape: readonly number[]) => {
        const padded = [...new Array<number>(rank - shape.length).fill(1), ...shape];
        const step = padded[rank - 1] === 1 ? 0 : 1;
        const offsets = broadcastOffsets(padded.slice(0, -1), rowsShape);
        return { step, offsets, rowStride: step === 0 ? 1 : cols };
      };
      const ar = rowOffsets(a!.shape);
      const br = rowOffsets(b!.shape);
      const rows = n / cols;
      for (let r = 0; r < rows; r++) {
        const ao = (ar.offsets ? ar.offsets[r]! : r) * ar.rowStride;
        const bo = (br.offsets ? br.offsets[r]! : r) * br.rowStride;
        fillRow(hostOp, result, r * cols, ad, ao, ar.step, bd, bo, br.step, cols);
      }
      return [result];
    }
    const f = JS[hostOp];
    const ao = broadcastOffsets(a!.shape, out!.shape);
    const bo = broadcastOffsets(b!.shape, out!.shape);
    for (let i = 0; i < n; i++) result[i] = f(ad[ao ? ao[i]! : i]!, bd[bo ? bo[i]! : i]!);
    return [result];
  },
  webgpu(ctx, [a, b], [out], { op }) {
    const f32 = a!.dtype === 'f32';
    // f32 maximum/minimum propagate NaN; integer division by zero gives 0 (WGSL's gives a).
    if ((op === 'maximum' || op === 'minimum') && f32) {
      dispatchElementwise(
        ctx,
        op,
        [a!, b!],
        out!,
        `${op === 'maximum' ? 'max' : 'min'}NaN(a, b)`,
        WGSL_NAN_OPS,
      );
    } else if (op === 'div' && !f32) {
      dispatchElementwise(ctx, op, [a!, b!], out!, 'select(a / b, 0, b == 0)');
    } else if (f32 && op in F32_LOGICAL) {
      dispatchElementwise(ctx, op, [a!, b!], out!, F32_LOGICAL[op]!);
    } else if (f32 && op in IEEE_COMPARE) {
      // IEEE comparisons with NaN (false; notEqual true), which a driver may not assume.
      dispatchElementwise(ctx, op, [a!, b!], out!, IEEE_COMPARE[op]!, WGSL_NAN_OPS);
    } else dispatchElementwise(ctx, op, [a!, b!], out!, WGSL[op], op === 'pow' ? POW_PRELUDE : '');
  },
  tfjs(tf, [a, b], { op }, _, [info]) {
    // tfjs holds u32 as int32, so ordering, division and products would read words >= 2^31 as
    // negative; it multiplies int32 as doubles (losing bits past 2^53) and has no exact truncating
    // int32 division. Those run on the CPU reference; add, sub and equality are the same on the bits.
    const int = info!.dtype === 'i32' || info!.dtype === 'u32';
    if ((int && (op === 'mul' || op === 'div')) || (info!.dtype === 'u32' && !SIGNLESS.has(op)))
      return undefined;
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
    // `x != 0`, not tf.cast(x, 'bool'): tfjs-wasm's cast to bool keeps each value's low byte.
    const truthy = (x: TfjsTensor) => (x.dtype === 'bool' ? x : tf.notEqual(x, 0));
    if (op === 'logicalAnd' || op === 'logicalOr') return [fn(truthy(a), truthy(b))];
    if (op === 'pow' && info!.dtype === 'f32') {
      // Math.pow gives NaN for (+-1) ** (+-Infinity or NaN), the reference's rule; C's pow (tfjs-wasm)
      // gives 1.
      const y = tf.pow(a, b);
      const nan = tf.logicalAnd(tf.equal(tf.abs(a), 1), tf.logicalNot(tf.isFinite(b)));
      return [tf.where(tf.broadcastTo(nan, y.shape), tf.fill(y.shape, Number.NaN), y)];
    }
    if ((op === 'maximum' || op === 'minimum') && info!.dtype === 'f32') {
      // NaN if either operand is NaN (PyTorch); tfjs-wasm returns the other operand.
      const m = fn(a, b);
      const nan = tf.logicalOr(tf.isNaN(a), tf.isNaN(b));
      return [tf.where(tf.broadcastTo(nan, m.shape), tf.fill(m.shape, Number.NaN), m)];
    }
    return [fn(a, b)];
  },
  grad({ dy: [dy], inputs: [a, b], outputs: [y], attrs: { op } }) {
    if (!dy || a!.dtype !== 'f32') return [undefined, undefined];
    const [da, db] = binaryGrad(op, a!, b!, y!, dy);
    return [da && sumToShape(da, a!.shape), db && sumToShape(db, b!.shape)];
  },
};

/** Runs `op` on `a` and `b`, first checking both are live tensors; errors name `name` (the public function). */
function binary(op: BinaryOp, a: Tensor, b: Tensor, name: string = op): Tensor {
  checkTensor(a, name, 'a');
  checkTensor(b, name, 'b');
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
 * `a / b` with broadcasting. Integer division truncates toward zero, and an integer division by
 * zero gives 0 on every backend.
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
 * Elementwise maximum with broadcasting; NaN if either operand is NaN (as PyTorch).
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
 * Elementwise minimum with broadcasting; NaN if either operand is NaN (as PyTorch).
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
  // Checked here: an op outside COMPARE would run as arithmetic, a non-string fails deep inside.
  if (!COMPARE.has(op))
    throw new TypeError(`compare: op must be one of ${[...COMPARE].join(', ')}, got ${showValue(op)}`);
  return binary(op, a, b, 'compare');
}
