// Unary elementwise ops: one kernel with an `op` attribute, like binary.ts. All are f32 only except
// neg, abs and sign (also i32). clamp and scale take two numbers (`a`, `b`) passed as uniforms so a
// new constant does not compile a new pipeline.
//
// Several WGSL builtins are not used as-is because their required accuracy is loose or drivers
// differ: tanh (NaN for large |x| on some drivers; poor relative accuracy near 0), sin/cos (2^-11
// absolute error allowed by the spec), and erf (not in WGSL at all).
import type { TensorInfo } from '../backend.js';
import {
  type GpuContext,
  type GpuTensor,
  wgslStorageType,
  workgroups1d,
} from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { full } from '../create.js';
import { allocArray, type TypedArray } from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel, TfjsCore, TfjsTensor } from '../kernel.js';
import { formatShape, showValue } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add, compare, div, mul } from './binary.js';
import { cast } from './cast.js';
import { WGSL_NAN_OPS } from './elementwise.js';

/** The unary elementwise operations. */
export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'abs'
  | 'sign'
  | 'tanh'
  | 'sigmoid'
  | 'relu'
  | 'erf'
  | 'gelu'
  | 'geluTanh'
  | 'quickGelu'
  | 'silu'
  | 'square'
  | 'sin'
  | 'cos'
  | 'clamp'
  | 'scale';

interface UnaryAttrs {
  op: UnaryOp;
  /** clamp: the lower bound; scale: alpha. */
  a: number;
  /** clamp: the upper bound; scale: beta. */
  b: number;
}

const SQRT1_2 = Math.SQRT1_2;
const GELU_TANH_K = Math.sqrt(2 / Math.PI);
const GELU_TANH_C = 0.044715;
const QUICK_GELU_K = 1.702;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

// ---------------------------------------------------------------------------------------------
// Accurate erf / erfc in double precision for the CPU reference (exported for tests).

/**
 * @internal erf(x) in double precision (error below 1e-15): a positive-term series, or erfc's
 * continued fraction. The CPU reference of {@link erf} and {@link gelu}.
 *
 * @example
 * ```ts
 * erfRef(1); // 0.8427007929497149
 * ```
 */
export function erfRef(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax < 3) return erfSeries(x);
  return Math.sign(x) * (1 - erfcContinuedFraction(ax));
}

/**
 * @internal erfc(x) = 1 - erf(x) in double precision, accurate relative to erfc itself for large x.
 *
 * @example
 * ```ts
 * erfcRef(5); // 1.5374597944280349e-12
 * ```
 */
export function erfcRef(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x < 3) return 1 - erfSeries(x);
  return erfcContinuedFraction(x);
}

// erf(x) = 2/sqrt(pi) exp(-x^2) sum_n (2x^2)^n x / (1*3*...*(2n+1)): every term is positive, so
// no cancellation, unlike the Taylor series.
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

// erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated bottom-up;
// 120 levels converge to double precision for x >= 3.
function erfcContinuedFraction(x: number): number {
  let f = x;
  for (let n = 120; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

function sigmoidRef(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

// ---------------------------------------------------------------------------------------------
// WGSL helpers (f32).

const WGSL_SIGMOID = `
// exp(-|x|) never overflows; the x < 0 branch keeps relative accuracy for tiny results.
fn sigmoidStable(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e, 1.0, x >= 0.0) / (1.0 + e);
}`;

const WGSL_TANH = `
// Odd Taylor polynomial near 0 (where (1 - e)/(1 + e) cancels), exp(-2|x|) elsewhere: it never
// overflows, so large inputs give +-1, never NaN.
fn tanhStable(x: f32) -> f32 {
  let ax = abs(x);
  if (ax < 0.3) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.333333333 + x2 * (0.133333333 + x2 * (-0.053968254 + x2 * (0.021869489 + x2 * -0.008863235)))));
  }
  let e = exp(-2.0 * ax);
  return sign(x) * (1.0 - e) / (1.0 + e);
}`;

// erfc for z >= 0: the Chebyshev fit of Press et al. (Numerical Recipes, erfcc), fractional error
// below 1.2e-7 for all z >= 0; about 5e-7 after f32 rounding. erf near 0 uses the Taylor series,
// because 1 - erfc(z) loses relative accuracy there.
const WGSL_ERF = `
fn erfcPos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-z * z + poly);
}
fn erfApprox(x: f32) -> f32 {
  let ax = abs(x);
  if (ax < 0.5) {
    let x2 = x * x;
    return 1.1283791671 * x * (1.0 + x2 * (-0.333333333 + x2 * (0.1 + x2 * (-0.023809524 + x2 * (0.0046296296 + x2 * (-0.00075757576 + x2 * 0.00010683761))))));
  }
  return sign(x) * (1.0 - erfcPos(ax));
}
// x * Phi(x) written with erfc so that negative x keeps relative accuracy (no 1 + erf cancellation).
// x >= 0 as x * (1 - c / 2): +inf gives +inf (x - 0.5 * x * c would be inf - inf * 0 = NaN).
fn geluErf(x: f32) -> f32 {
  let c = erfcPos(abs(x) * ${SQRT1_2});
  return select(x * (1.0 - 0.5 * c), 0.5 * x * c, x < 0.0);
}`;

const WGSL_SINCOS = `
// Cody-Waite reduction by pi/2, then Taylor polynomials on [-pi/4, pi/4]. For |k| <= 2^11 a
// three-part constant (k * part exact). Up to |k| = 2^24 (|x| ~ 2.6e7) k is split in two 12-bit
// halves and pi/2 in four 12-bit parts: every product is exact, the first subtractions cancel
// exactly (Sterbenz), and r keeps about an ulp. Past that no f32 reduction is exact (x's own ulp
// is 2 or more): the driver's sin and cos, held in [-1, 1]; NaN for an infinite or NaN x.
fn sinCosPoly(r: f32) -> vec2<f32> {
  let r2 = r * r;
  let s = r + r * r2 * (-0.16666667 + r2 * (0.0083333333 + r2 * (-0.00019841270 + r2 * 2.7557319e-6)));
  let c = 1.0 + r2 * (-0.5 + r2 * (0.041666667 + r2 * (-0.0013888889 + r2 * (2.4801587e-5 + r2 * -2.7557319e-7))));
  return vec2<f32>(s, c);
}
fn sinCos(x: f32) -> vec2<f32> {
  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) {
    var nanBits = 0x7fc00000u;
    return vec2<f32>(bitcast<f32>(nanBits));
  }
  let k = round(x * 0.63661977);
  if (abs(k) > 16777216.0) { return clamp(vec2<f32>(sin(x), cos(x)), vec2<f32>(-1.0), vec2<f32>(1.0)); }
  var r: f32;
  if (abs(k) <= 2048.0) {
    r = ((x - k * 1.5703125) - k * 4.8375129699707031e-4) - k * 7.5497899548918822e-8;
  } else {
    let kh = round(k * (1.0 / 4096.0)) * 4096.0; // [k] = kh + kl, |kl| <= 2048
    let kl = k - kh;
    r = (x - kh * 1.57080078125) - kl * 1.57080078125;
    r = (r - kh * -4.4535845518112183e-6) - kl * -4.4535845518112183e-6;
    r = (r - kh * -8.7061380327213556e-10) - kl * -8.7061380327213556e-10;
    r = (r - kh * 6.2228000530240020e-14) - kl * 6.2228000530240020e-14;
  }
  // Past |x| ~ 1e6, x * (2/pi) is rounded to 0.125 or coarser: k may be one off and |r| past pi/4,
  // where the polynomials lose digits. A second, small step puts r back (k2 is -1, 0 or 1).
  let k2 = round(r * 0.63661977);
  r = ((r - k2 * 1.5703125) - k2 * 4.8375129699707031e-4) - k2 * 7.5497899548918822e-8;
  let sc = sinCosPoly(r);
  switch ((i32(k) + i32(k2)) & 3) {
    case 0: { return sc; }
    case 1: { return vec2<f32>(sc.y, -sc.x); }
    case 2: { return -sc; }
    default: { return vec2<f32>(-sc.y, sc.x); }
  }
}`;

const WGSL_NAN = `${WGSL_NAN_OPS}
fn infF32() -> f32 { var bits = 0x7f800000u; return bitcast<f32>(bits); }`;

// ---------------------------------------------------------------------------------------------
// The table of ops.

type Grad = (x: Tensor, y: Tensor, dy: Tensor, a: number, b: number) => Tensor;

interface OpDef {
  /** Reference on doubles (the result is rounded to f32, or wrapped to i32). */
  js: (x: number, a: number, b: number) => number;
  /** WGSL expression of `x` (and the uniforms `p.a`, `p.b`). */
  wgsl: string;
  /** The expression for f32 inputs, where it differs from `wgsl` (an op with `ints`). */
  wgslF32?: string;
  prelude?: string;
  tfjs: (tf: TfjsCore, x: TfjsTensor, a: number, b: number) => TfjsTensor;
  /** Also defined for i32 inputs. */
  ints?: boolean;
  grad: Grad;
}

/** `y`, with `x`'s NaNs where `x` has them (tfjs-wasm's clip and relu and every tfjs sign drop NaN). */
const keepNaN = (tf: TfjsCore, x: TfjsTensor, y: TfjsTensor): TfjsTensor => tf.where(tf.isNaN(x), x, y);
const scalar = (like: Tensor, v: number): Tensor => full([], v, { backend: like.backend, dtype: like.dtype });
/** 1 where `op(x, 0)` holds, else 0 (f32). */
const indicator = (x: Tensor, op: 'greater' | 'less', v = 0): Tensor =>
  cast(compare(op, x, scalar(x, v)), 'f32');
/** dy * ds/dz for s = sigmoid(z): dy * s * (1 - s). */
const sigmoidSlope = (s: Tensor): Tensor => mul(s, scale(s, -1, 1));

const OPS: Record<UnaryOp, OpDef> = {
  neg: { js: (x) => -x, wgsl: '-x', tfjs: (tf, x) => tf.neg(x), ints: true, grad: (_x, _y, dy) => neg(dy) },
  exp: { js: Math.exp, wgsl: 'exp(x)', tfjs: (tf, x) => tf.exp(x), grad: (_x, y, dy) => mul(dy, y) },
  log: {
    js: Math.log,
    // WGSL leaves log of x <= 0 undefined; match IEEE (NaN below 0, -inf at 0).
    wgsl: 'select(log(x), select(nanF32(), -infF32(), x == 0.0), x <= 0.0)',
    prelude: WGSL_NAN,
    tfjs: (tf, x) => tf.log(x),
    grad: (x, _y, dy) => div(dy, x),
  },
  sqrt: {
    js: Math.sqrt,
    wgsl: 'select(sqrt(x), nanF32(), x < 0.0)',
    prelude: WGSL_NAN,
    tfjs: (tf, x) => tf.sqrt(x),
    grad: (_x, y, dy) => div(scale(dy, 0.5), y),
  },
  rsqrt: {
    js: (x) => 1 / Math.sqrt(x),
    wgsl: 'select(select(inverseSqrt(x), infF32(), x == 0.0), nanF32(), x < 0.0)',
    prelude: WGSL_NAN,
    tfjs: (tf, x) => tf.rsqrt(x),
    // d/dx x^(-1/2) = -y^3 / 2
    grad: (_x, y, dy) => mul(dy, scale(mul(square(y), y), -0.5)),
  },
  abs: {
    js: Math.abs,
    wgsl: 'abs(x)',
    // tfjs's abs computes in float32 (int32 past 2^24 loses bits): subtract from 0 for int32.
    tfjs: (tf, x) =>
      x.dtype === 'int32' ? tf.where(tf.less(x, 0), tf.sub(tf.scalar(0, 'int32'), x), x) : tf.abs(x),
    ints: true,
    grad: (x, _y, dy) => mul(dy, sign(x)),
  },
  sign: {
    js: Math.sign,
    // WGSL's sign(NaN) is 0 (or anything): keep the NaN, as Math.sign and PyTorch do.
    wgsl: 'sign(x)',
    wgslF32: 'select(sign(x), x, isNan(x))',
    prelude: WGSL_NAN_OPS,
    // tf.sign(NaN) is 0; the reference's Math.sign keeps NaN.
    tfjs: (tf, x) => (x.dtype === 'int32' ? tf.sign(x) : keepNaN(tf, x, tf.sign(x))),
    ints: true,
    grad: (x) => full(x.shape, 0, { backend: x.backend, dtype: x.dtype }),
  },
  tanh: {
    js: Math.tanh,
    wgsl: 'tanhStable(x)',
    prelude: WGSL_TANH,
    tfjs: (tf, x) => tf.tanh(x),
    grad: (_x, y, dy) => mul(dy, scale(square(y), -1, 1)),
  },
  sigmoid: {
    js: sigmoidRef,
    wgsl: 'sigmoidStable(x)',
    prelude: WGSL_SIGMOID,
    tfjs: (tf, x) => tf.sigmoid(x),
    grad: (_x, y, dy) => mul(dy, sigmoidSlope(y)),
  },
  relu: {
    js: (x) => (x > 0 ? x : Number.isNaN(x) ? x : 0),
    // max() may return 0 for a NaN, and a compiler may fold a float NaN test away: the bits decide.
    wgsl: 'select(0.0, x, x > 0.0 || (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u)',
    // tfjs-wasm's relu gives 0 for NaN.
    tfjs: (tf, x) => keepNaN(tf, x, tf.relu(x)),
    grad: (x, _y, dy) => mul(dy, indicator(x, 'greater')),
  },
  erf: {
    js: erfRef,
    wgsl: 'erfApprox(x)',
    prelude: WGSL_ERF,
    tfjs: (tf, x) => tf.erf(x),
    // d/dx erf(x) = 2/sqrt(pi) exp(-x^2)
    grad: (x, _y, dy) => mul(dy, scale(exp(scale(square(x), -1)), TWO_OVER_SQRT_PI)),
  },
  gelu: {
    js: (x) => (x < 0 ? 0.5 * x * erfcRef(-x * SQRT1_2) : 0.5 * x * (1 + erfRef(x * SQRT1_2))),
    wgsl: 'geluErf(x)',
    prelude: WGSL_ERF,
    tfjs: (tf, x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, SQRT1_2)))),
    // Phi(x) + x phi(x), phi the standard normal density.
    grad: (x, _y, dy) => {
      const cdf = scale(erf(scale(x, SQRT1_2)), 0.5, 0.5);
      const pdf = scale(exp(scale(square(x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
      return mul(dy, add(cdf, mul(x, pdf)));
    },
  },
  geluTanh: {
    js: (x) => 0.5 * x * (1 + Math.tanh(GELU_TANH_K * (x + GELU_TANH_C * x * x * x))),
    // 0.5 (1 + tanh(u)) = sigmoid(2u): no cancellation for negative x.
    wgsl: `x * sigmoidStable(${2 * GELU_TANH_K} * (x + ${GELU_TANH_C} * x * x * x))`,
    prelude: WGSL_SIGMOID,
    tfjs: (tf, x) =>
      tf.mul(
        tf.mul(x, 0.5),
        tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), GELU_TANH_C)), GELU_TANH_K))),
      ),
    // y = x s(2u), u = k (x + c x^3): y' = s + x s (1 - s) 2k (1 + 3c x^2)
    grad: (x, _y, dy) => {
      const s = sigmoid(scale(add(x, scale(mul(square(x), x), GELU_TANH_C)), 2 * GELU_TANH_K));
      const du = scale(square(x), 6 * GELU_TANH_K * GELU_TANH_C, 2 * GELU_TANH_K);
      return mul(dy, add(s, mul(mul(x, sigmoidSlope(s)), du)));
    },
  },
  quickGelu: {
    js: (x) => x * sigmoidRef(QUICK_GELU_K * x),
    wgsl: `x * sigmoidStable(${QUICK_GELU_K} * x)`,
    prelude: WGSL_SIGMOID,
    tfjs: (tf, x) => tf.mul(x, tf.sigmoid(tf.mul(x, QUICK_GELU_K))),
    grad: (x, _y, dy) => {
      const s = sigmoid(scale(x, QUICK_GELU_K));
      return mul(dy, add(s, scale(mul(x, sigmoidSlope(s)), QUICK_GELU_K)));
    },
  },
  silu: {
    js: (x) => x * sigmoidRef(x),
    wgsl: 'x * sigmoidStable(x)',
    prelude: WGSL_SIGMOID,
    tfjs: (tf, x) => tf.mul(x, tf.sigmoid(x)),
    grad: (x, _y, dy) => {
      const s = sigmoid(x);
      return mul(dy, add(s, mul(x, sigmoidSlope(s))));
    },
  },
  square: {
    js: (x) => x * x,
    wgsl: 'x * x',
    tfjs: (tf, x) => tf.square(x),
    grad: (x, _y, dy) => mul(dy, scale(x, 2)),
  },
  sin: {
    js: Math.sin,
    wgsl: 'sinCos(x).x',
    prelude: WGSL_SINCOS,
    tfjs: (tf, x) => tf.sin(x),
    grad: (x, _y, dy) => mul(dy, cos(x)),
  },
  cos: {
    js: Math.cos,
    wgsl: 'sinCos(x).y',
    prelude: WGSL_SINCOS,
    tfjs: (tf, x) => tf.cos(x),
    grad: (x, _y, dy) => mul(dy, scale(sin(x), -1)),
  },
  clamp: {
    js: (x, lo, hi) => Math.min(Math.max(x, lo), hi),
    // WGSL's clamp of a NaN may give a bound: keep the NaN.
    wgsl: 'select(clamp(x, p.a, p.b), x, isNan(x))',
    prelude: WGSL_NAN_OPS,
    tfjs: (tf, x, lo, hi) => keepNaN(tf, x, tf.clipByValue(x, lo, hi)),
    // The gradient passes where lo <= x <= hi (as in PyTorch).
    grad: (x, _y, dy, lo, hi) =>
      mul(dy, mul(scale(indicator(x, 'less', lo), -1, 1), scale(indicator(x, 'greater', hi), -1, 1))),
  },
  scale: {
    js: (x, alpha, beta) => alpha * x + beta,
    wgsl: 'p.a * x + p.b',
    tfjs: (tf, x, alpha, beta) => tf.add(tf.mul(x, alpha), beta),
    grad: (_x, _y, dy, alpha) => scale(dy, alpha),
  },
};

const unaryParams = uniformLayout({ size: 'u32', a: 'f32', b: 'f32' });
const WG = 256;

function dispatchUnary(ctx: GpuContext, x: GpuTensor, out: GpuTensor, attrs: UnaryAttrs): void {
  if (out.size === 0) return;
  const def = OPS[attrs.op];
  const type = wgslStorageType(x.dtype);
  const pipeline = ctx.pipeline(`unary:${attrs.op}:${type}`, () => {
    return `${unaryParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> xBuf: array<${type}>;
@group(0) @binding(1) var<storage, read_write> yBuf: array<${type}>;
@group(0) @binding(2) var<uniform> p: Params;
${def.prelude ?? ''}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= p.size) { return; }
  let x = xBuf[i];
  yBuf[i] = ${(type === 'f32' && def.wgslF32) || def.wgsl};
}`;
  });
  const uniforms =
    Object.is(attrs.a, 0) && Object.is(attrs.b, 0)
      ? sizeOnlyUniforms(out.size)
      : unaryParams.pack({ size: out.size, a: attrs.a, b: attrs.b });
  ctx.dispatch(pipeline, [x, out], uniforms, workgroups1d(Math.ceil(out.size / WG)));
}

// Ops without constants (relu, exp, ...) pack only the size: reuse those bytes instead of packing
// them per dispatch (the backend copies uniform bytes at dispatch, so sharing them is safe).
const sizeOnlyCache = new Map<number, Uint8Array>();

function sizeOnlyUniforms(size: number): Uint8Array {
  let bytes = sizeOnlyCache.get(size);
  if (!bytes) {
    if (sizeOnlyCache.size >= 4096) sizeOnlyCache.clear();
    bytes = unaryParams.pack({ size, a: 0, b: 0 });
    sizeOnlyCache.set(size, bytes);
  }
  return bytes;
}

/** @internal The kernel behind every unary op (attribute `op`). */
export const unaryKernel: Kernel<UnaryAttrs> = {
  name: 'unary',
  infer([x], { op }): TensorInfo[] {
    const def = OPS[op];
    if (!def) throw new TypeError(`unary: unknown op ${JSON.stringify(op)}`);
    const ok = x!.dtype === 'f32' || (def.ints === true && x!.dtype === 'i32');
    if (!ok) {
      const allowed = def.ints ? 'f32 or i32' : 'f32';
      const hint = x!.dtype === 'f16' || x!.dtype === 'bf16' ? '; cast to f32 first' : '';
      throw new TypeError(`${op}: x must be ${allowed}, got ${x!.dtype}${formatShape(x!.shape)}${hint}`);
    }
    return [{ shape: x!.shape, dtype: x!.dtype }];
  },
  cpu([x], { op, a, b }, [out]) {
    const result = allocArray(out!.dtype, x!.data.length);
    const xd = x!.data;
    if (!fastUnary(op, result, xd, a, b)) {
      const f = OPS[op].js;
      for (let i = 0; i < result.length; i++) result[i] = f(xd[i]!, a, b);
    }
    return [result];
  },
  webgpu(ctx, [x], [out], attrs) {
    dispatchUnary(ctx, x!, out!, attrs);
  },
  tfjs(tf, [x], { op, a, b }) {
    return [OPS[op].tfjs(tf, x, a, b)];
  },
  grad({ dy: [dy], inputs: [x], outputs: [y], attrs: { op, a, b } }) {
    if (!dy || x!.dtype !== 'f32') return [undefined];
    return [OPS[op].grad(x!, y!, dy, a, b)];
  },
};

/**
 * Loops of their own for the ops training runs over whole activations, so the element operation
 * inlines (one call site shared by every op's function is megamorphic and several times slower).
 * Same formulas as {@link OPS}; false for the other ops.
 */
function fastUnary(op: UnaryOp, out: TypedArray, x: TypedArray, a: number, b: number): boolean {
  const n = out.length;
  switch (op) {
    case 'relu':
      if (x instanceof Float32Array && out instanceof Float32Array) reluBits(out, x);
      else
        for (let i = 0; i < n; i++) {
          const v = x[i]!;
          out[i] = v > 0 ? v : Number.isNaN(v) ? v : 0;
        }
      return true;
    case 'scale':
      for (let i = 0; i < n; i++) out[i] = x[i]! * a + b;
      return true;
    case 'neg':
      for (let i = 0; i < n; i++) out[i] = -x[i]!;
      return true;
    case 'square':
      for (let i = 0; i < n; i++) out[i] = x[i]! * x[i]!;
      return true;
    case 'exp':
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]!);
      return true;
    case 'sigmoid':
      for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-x[i]!));
      return true;
    default:
      return false;
  }
}

/**
 * relu on the float bits, without a branch: a negative value's sign bit, smeared by `>> 31`, masks
 * it to +0, except a NaN (kept, as the reference keeps it). Any compare-and-select form compiles to
 * a branch that mispredicts on half of an activation's values: 2-3x slower on the dVAE's.
 */
function reluBits(out: Float32Array, x: Float32Array): void {
  const xi = new Int32Array(x.buffer, x.byteOffset, x.length);
  const oi = new Int32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < xi.length; i++) {
    const b = xi[i]!;
    const nan = -(((b & 0x7fffffff) > 0x7f800000) as unknown as number); // -1 for a NaN, else 0
    oi[i] = b & (~(b >> 31) | nan);
  }
}

/** Runs `op` on `x`, first checking it is a live tensor (errors name `op`, the public function). */
function unary(op: UnaryOp, x: Tensor, a = 0, b = 0): Tensor {
  checkTensor(x, op, 'x');
  return run1(unaryKernel, [x], { op, a, b });
}

/**
 * `-x` (f32 or i32).
 *
 * @example
 * ```ts
 * const y = neg(x);
 * ```
 */
export function neg(x: Tensor): Tensor {
  return unary('neg', x);
}

/**
 * `e^x`.
 *
 * @example
 * ```ts
 * const scale = exp(logitScale); // CLIP's learned temperature
 * ```
 */
export function exp(x: Tensor): Tensor {
  return unary('exp', x);
}

/**
 * Natural logarithm (NaN below 0, -Infinity at 0).
 *
 * @example
 * ```ts
 * const logProbs = log(probs);
 * ```
 */
export function log(x: Tensor): Tensor {
  return unary('log', x);
}

/**
 * Square root (NaN below 0).
 *
 * @example
 * ```ts
 * const std = sqrt(variance(x, -1, true));
 * ```
 */
export function sqrt(x: Tensor): Tensor {
  return unary('sqrt', x);
}

/**
 * `1 / sqrt(x)`.
 *
 * @example
 * ```ts
 * const invStd = rsqrt(add(variance(x, -1, true), eps));
 * ```
 */
export function rsqrt(x: Tensor): Tensor {
  return unary('rsqrt', x);
}

/**
 * `|x|` (f32 or i32).
 *
 * @example
 * ```ts
 * const l1 = sum(abs(sub(a, b)));
 * ```
 */
export function abs(x: Tensor): Tensor {
  return unary('abs', x);
}

/**
 * -1, 0 or 1 by the sign of `x` (f32 or i32); its gradient is zero.
 *
 * @example
 * ```ts
 * const s = sign(x); // [-1, 0, 1] for [-2, 0, 3]
 * ```
 */
export function sign(x: Tensor): Tensor {
  return unary('sign', x);
}

/**
 * Hyperbolic tangent; exactly ±1 for large |x|, never NaN.
 *
 * @example
 * ```ts
 * const h = tanh(preActivation);
 * ```
 */
export function tanh(x: Tensor): Tensor {
  return unary('tanh', x);
}

/**
 * `1 / (1 + e^-x)`, computed without overflow for any `x`.
 *
 * @example
 * ```ts
 * const gate = sigmoid(logits);
 * ```
 */
export function sigmoid(x: Tensor): Tensor {
  return unary('sigmoid', x);
}

/**
 * `max(x, 0)`; NaN stays NaN.
 *
 * @example
 * ```ts
 * const h = relu(add(matmul(x, w), b));
 * ```
 */
export function relu(x: Tensor): Tensor {
  return unary('relu', x);
}

/**
 * The error function (absolute error below 1e-6 on every backend).
 *
 * @example
 * ```ts
 * const cdf = scale(erf(scale(x, Math.SQRT1_2)), 0.5, 0.5); // standard normal CDF
 * ```
 */
export function erf(x: Tensor): Tensor {
  return unary('erf', x);
}

/**
 * Exact GELU, `x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2)))` (BERT, ViT, CLIP's vision tower in HF).
 *
 * @example
 * ```ts
 * const h = gelu(fc1(x)); // [B, T, 4C]
 * ```
 */
export function gelu(x: Tensor): Tensor {
  return unary('gelu', x);
}

/**
 * GELU with the tanh approximation, `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (GPT-2's
 * `gelu_new`, `gelu_pytorch_tanh`).
 *
 * @example
 * ```ts
 * const h = geluTanh(fc1(x));
 * ```
 */
export function geluTanh(x: Tensor): Tensor {
  return unary('geluTanh', x);
}

/**
 * `x * sigmoid(1.702 x)` (OpenAI CLIP's `QuickGELU`).
 *
 * @example
 * ```ts
 * const h = quickGelu(fc1(x));
 * ```
 */
export function quickGelu(x: Tensor): Tensor {
  return unary('quickGelu', x);
}

/**
 * `x * sigmoid(x)` (SiLU / swish, Llama's MLP gate).
 *
 * @example
 * ```ts
 * const h = mul(silu(gateProj), upProj);
 * ```
 */
export function silu(x: Tensor): Tensor {
  return unary('silu', x);
}

/**
 * `x * x`.
 *
 * @example
 * ```ts
 * const meanSquare = mean(square(x), -1, true);
 * ```
 */
export function square(x: Tensor): Tensor {
  return unary('square', x);
}

/**
 * Sine; full f32 accuracy for |x| up to about 2.6e7 (2^24 pi/2) on the CPU and WebGPU backends
 * (past that WebGPU takes its driver's sine, held in [-1, 1]).
 *
 * @example
 * ```ts
 * const s = sin(angles); // rotary embedding tables
 * ```
 */
export function sin(x: Tensor): Tensor {
  return unary('sin', x);
}

/**
 * Cosine; full f32 accuracy for |x| up to about 2.6e7 (2^24 pi/2) on the CPU and WebGPU backends
 * (past that WebGPU takes its driver's cosine, held in [-1, 1]).
 *
 * @example
 * ```ts
 * const c = cos(angles);
 * ```
 */
export function cos(x: Tensor): Tensor {
  return unary('cos', x);
}

/**
 * Limits `x` to `[min, max]` (NaN stays NaN); the gradient passes where `min <= x <= max`.
 *
 * @example
 * ```ts
 * const logitScale = clamp(rawScale, 0, Math.log(100));
 * ```
 */
export function clamp(x: Tensor, min: number, max: number): Tensor {
  checkTensor(x, 'clamp', 'x');
  if (typeof min !== 'number') throw new TypeError(`clamp: min must be a number, got ${showValue(min)}`);
  if (typeof max !== 'number') throw new TypeError(`clamp: max must be a number, got ${showValue(max)}`);
  if (!(min <= max))
    throw new RangeError(`clamp: min (${min}) must not exceed max (${max}) for x ${x.describe()}`);
  return unary('clamp', x, min, max);
}

/**
 * `alpha * x + beta` with numbers `alpha` and `beta`.
 *
 * @example
 * ```ts
 * const scores = scale(qk, 1 / Math.sqrt(headDim));
 * const pixels = scale(image, 2, -1); // [0, 1] -> [-1, 1]
 * ```
 */
export function scale(x: Tensor, alpha: number, beta = 0): Tensor {
  checkTensor(x, 'scale', 'x');
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) {
    throw new RangeError(
      `scale: alpha (${alpha}) and beta (${beta}) must be finite numbers (x ${x.describe()})`,
    );
  }
  return unary('scale', x, alpha, beta);
}
