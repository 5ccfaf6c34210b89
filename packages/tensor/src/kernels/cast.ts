// cast(x, dtype) between f32, i32, u32, bool, f16 and bf16.
//
// Rules (the same on every backend): float -> integer truncates toward zero and saturates, NaN
// gives 0; i32 <-> u32 reinterpret the 32 bits; anything -> bool is `x != 0` (NaN is true);
// -> f16 / bf16 rounds to nearest even (through f32 for integers), matching `f32ToF16` and
// `f32ToBf16` in dtype.ts. On the GPU all float work is done on bits, so subnormals survive
// drivers that flush them.
import type { TensorInfo } from '../backend.js';
import { type GpuContext, type GpuTensor, workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import {
  allocArray,
  assertDType,
  quantizedUnsupported,
  bf16ToF32,
  isFloat,
  isQuantized,
  type DType,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  type TypedArray,
} from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel, TfjsCore, TfjsTensor } from '../kernel.js';
import type { Tensor } from '../tensor.js';

interface CastAttrs {
  /** The input's dtype (the tfjs implementation only sees tfjs's float32/int32/bool). */
  from: DType;
  dtype: DType;
}

/** How a dtype's values convert: as floats, as signed or as unsigned integers. */
type Kind = 'float' | 'int' | 'uint';

function kindOf(dtype: DType): Kind {
  if (dtype === 'i32') return 'int';
  if (dtype === 'u32' || dtype === 'bool') return 'uint';
  return 'float';
}

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;
const U32_MAX = 4294967295;

function saturateI32(v: number): number {
  if (Number.isNaN(v)) return 0;
  if (v >= 2147483648) return I32_MAX;
  if (v <= I32_MIN) return I32_MIN;
  return Math.trunc(v);
}

function saturateU32(v: number): number {
  if (Number.isNaN(v) || v <= 0) return 0;
  if (v >= 4294967296) return U32_MAX;
  return Math.trunc(v);
}

/** Converts one decoded value `v` of kind `from` to the stored representation of `to`. */
function convertValue(v: number, from: Kind, to: DType): number {
  switch (to) {
    case 'f32':
      return v;
    case 'f16':
      return f32ToF16(v);
    case 'bf16':
      return f32ToBf16(v);
    case 'i32':
      return from === 'float' ? saturateI32(v) : v | 0;
    case 'u32':
      return from === 'float' ? saturateU32(v) : v >>> 0;
    case 'bool':
      return v !== 0 ? 1 : 0;
    default:
      return quantizedUnsupported('cast', to);
  }
}

function decode(data: TypedArray, dtype: DType): ArrayLike<number> {
  if (dtype === 'f16') return Float32Array.from(data, f16ToF32);
  if (dtype === 'bf16') return Float32Array.from(data, bf16ToF32);
  return data;
}

function convertArray(values: ArrayLike<number>, from: DType, to: DType): TypedArray {
  const out = allocArray(to, values.length);
  const kind = kindOf(from);
  for (let i = 0; i < values.length; i++) out[i] = convertValue(values[i]!, kind, to);
  return out;
}

// ---------------------------------------------------------------------------------------------
// WGSL: every element travels as u32 bits; f16/bf16 are packed two per word, low half first.

const WGSL_CONVERSIONS = `
fn f16ToF32Bits(h: u32) -> u32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    if (m == 0u) { return sign; }
    // Subnormal half: renormalize around its leading bit (a normal f32 holds it exactly).
    let lead = firstLeadingBit(m);
    return sign | ((lead + 103u) << 23u) | ((m << (23u - lead)) & 0x7fffffu);
  }
  if (e == 31u) { return sign | 0x7f800000u | (m << 13u); }
  return sign | ((e + 112u) << 23u) | (m << 13u);
}
fn f32BitsToF16(x: u32) -> u32 {
  let sign = (x >> 16u) & 0x8000u;
  let exp = (x >> 23u) & 0xffu;
  var mant = x & 0x7fffffu;
  if (exp == 0xffu) { return sign | 0x7c00u | select(0u, 0x200u, mant != 0u); }
  let e = i32(exp) - 112;
  if (e >= 31) { return sign | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    mant = mant | 0x800000u;
    let shift = u32(14 - e);
    var half = mant >> shift;
    let rem = mant & ((1u << shift) - 1u);
    let mid = 1u << (shift - 1u);
    if (rem > mid || (rem == mid && (half & 1u) != 0u)) { half += 1u; }
    return sign | half;
  }
  var half = (u32(e) << 10u) | (mant >> 13u);
  let rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u) != 0u)) { half += 1u; }
  return sign | half;
}
fn f32BitsToBf16(x: u32) -> u32 {
  if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu) != 0u) { return ((x >> 16u) | 0x40u) & 0xffffu; }
  return ((x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u) & 0xffffu;
}
// Integer -> f32 rounding to nearest even (WGSL leaves the rounding of f32(i32/u32) to the driver).
fn u32ToF32Bits(u: u32) -> u32 {
  let lead = firstLeadingBit(u);
  if (u < 0x1000000u) { return bitcast<u32>(f32(u)); } // below 2^24: exact
  let shift = lead - 23u;
  var mant = u >> shift;
  let rem = u & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (mant & 1u) != 0u)) { mant += 1u; }
  // A carry out of the mantissa (mant = 2^24) bumps the exponent field, as it should.
  return ((lead + 127u) << 23u) + (mant - 0x800000u);
}
fn i32ToF32Bits(v: i32) -> u32 {
  let bits = bitcast<u32>(v);
  let negative = (bits & 0x80000000u) != 0u;
  let magnitude = select(bits, ~bits + 1u, negative); // two's complement; i32 min stays 2^31
  return u32ToF32Bits(magnitude) | select(0u, 0x80000000u, negative);
}
fn isNanBits(x: u32) -> bool { return (x & 0x7fffffffu) > 0x7f800000u; }
fn saturateI32(x: u32) -> i32 {
  if (isNanBits(x)) { return 0; }
  let v = bitcast<f32>(x);
  if (v >= 2147483648.0) { return 2147483647; }
  if (v <= -2147483648.0) { return -2147483647 - 1; }
  return i32(v);
}
fn saturateU32(x: u32) -> u32 {
  if (isNanBits(x)) { return 0u; }
  let v = bitcast<f32>(x);
  if (v >= 4294967296.0) { return 0xffffffffu; }
  if (v <= 0.0) { return 0u; }
  return u32(v);
}`;

/** WGSL statements turning the raw element `raw` (u32) into `fb` (f32 bits), `iv` (i32) or `uv` (u32). */
function wgslDecode(dtype: DType): string {
  switch (dtype) {
    case 'f32':
      return 'let fb = raw;';
    case 'f16':
      return 'let fb = f16ToF32Bits(raw);';
    case 'bf16':
      return 'let fb = raw << 16u;';
    case 'i32':
      return 'let iv = bitcast<i32>(raw);';
    case 'u32':
      return 'let uv = raw;';
    case 'bool':
      return 'let uv = u32(raw != 0u);';
    default:
      return quantizedUnsupported('cast', dtype);
  }
}

/** WGSL expression for the output bits, from the decoded value of kind `from`. */
function wgslEncode(from: Kind, to: DType): string {
  const floatBits = from === 'float' ? 'fb' : from === 'int' ? 'i32ToF32Bits(iv)' : 'u32ToF32Bits(uv)';
  switch (to) {
    case 'f32':
      return floatBits;
    case 'f16':
      return `f32BitsToF16(${floatBits})`;
    case 'bf16':
      return `f32BitsToBf16(${floatBits})`;
    case 'i32':
      return from === 'float' ? 'bitcast<u32>(saturateI32(fb))' : from === 'int' ? 'bitcast<u32>(iv)' : 'uv';
    case 'u32':
      return from === 'float' ? 'saturateU32(fb)' : from === 'int' ? 'bitcast<u32>(iv)' : 'uv';
    case 'bool':
      return from === 'float'
        ? 'u32((fb & 0x7fffffffu) != 0u)'
        : from === 'int'
          ? 'u32(iv != 0)'
          : 'u32(uv != 0u)';
    default:
      return quantizedUnsupported('cast', to);
  }
}

const isPacked = (dtype: DType): boolean => dtype === 'f16' || dtype === 'bf16';
const castParams = uniformLayout({ size: 'u32' });
const WG = 256;

function castWgsl(from: DType, to: DType): string {
  const load = isPacked(from) ? '(xBuf[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu' : 'xBuf[i]';
  const body = isPacked(to)
    ? `let w = index;
  if (2u * w >= p.size) { return; }
  let hi = select(0u, convert(2u * w + 1u), 2u * w + 1u < p.size);
  yBuf[w] = convert(2u * w) | (hi << 16u);`
    : `if (index >= p.size) { return; }
  yBuf[index] = convert(index);`;
  return `${castParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> xBuf: array<u32>;
@group(0) @binding(1) var<storage, read_write> yBuf: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;
${WGSL_CONVERSIONS}
fn convert(i: u32) -> u32 {
  let raw = ${load};
  ${wgslDecode(from)}
  return ${wgslEncode(kindOf(from), to)};
}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let index = gid.x + gid.y * nwg.x * ${WG}u;
  ${body}
}`;
}

function dispatchCast(ctx: GpuContext, x: GpuTensor, out: GpuTensor): void {
  if (out.size === 0) return;
  const pipeline = ctx.pipeline(`cast:${x.dtype}:${out.dtype}`, () => castWgsl(x.dtype, out.dtype));
  const invocations = isPacked(out.dtype) ? Math.ceil(out.size / 2) : out.size;
  ctx.dispatch(
    pipeline,
    [x, out],
    castParams.pack({ size: out.size }),
    workgroups1d(Math.ceil(invocations / WG)),
  );
}

// tfjs holds f16/bf16 as float32 and u32 as int32: conversions tfjs ops cannot round or wrap
// exactly go through the host (casts to storage types are rare and happen at load time).
function tfjsCast(tf: TfjsCore, x: TfjsTensor, from: DType, to: DType): TfjsTensor {
  const fromKind = kindOf(from);
  const toKind = kindOf(to);
  const viaHost =
    to === 'f16' ||
    to === 'bf16' ||
    (to === 'u32' && fromKind === 'float') ||
    (from === 'u32' && toKind === 'float');
  if (viaHost) {
    const raw: TypedArray = x.dataSync();
    const values = from === 'u32' ? Float64Array.from(raw, (v) => v >>> 0) : raw;
    const out = convertArray(values, from, to);
    if (to === 'f16') return tf.tensor(Float32Array.from(out, f16ToF32), x.shape, 'float32');
    if (to === 'bf16') return tf.tensor(Float32Array.from(out, bf16ToF32), x.shape, 'float32');
    if (to === 'u32')
      return tf.tensor(new Int32Array(out.buffer, out.byteOffset, out.length), x.shape, 'int32');
    return tf.tensor(out, x.shape, 'float32');
  }
  if (to === 'bool') return from === 'bool' ? tf.clone(x) : tf.notEqual(x, 0);
  // Here `to` is f32 (f16/bf16 went through the host) or an integer.
  if (toKind === 'float') return fromKind === 'float' ? tf.clone(x) : tf.cast(x, 'float32');
  if (fromKind === 'float') {
    // to i32: saturate (2147483520 is the largest f32 below 2^31); NaN gives 0 (tfjs-wasm's cast
    // gives -2^31, so NaN is zeroed before the cast).
    const noNaN = tf.where(tf.isNaN(x), tf.zerosLike(x), x);
    const saturated = tf.cast(tf.clipByValue(noNaN, I32_MIN, 2147483520), 'int32');
    return tf.where(tf.greaterEqual(x, 2147483648), tf.scalar(I32_MAX, 'int32'), saturated);
  }
  // i32 <-> u32 share tfjs's int32 bits.
  return from === 'bool' ? tf.cast(x, 'int32') : tf.clone(x);
}

/** @internal The kernel behind {@link cast}. */
export const castKernel: Kernel<CastAttrs> = {
  name: 'cast',
  infer([x], { from, dtype }): TensorInfo[] {
    if (x!.dtype !== from) throw new TypeError(`cast: attrs.from is ${from} but x is ${x!.dtype}`);
    // Here, not in each backend's code, so every backend (tfjs included) and every size rejects it.
    if (isQuantized(dtype)) quantizedUnsupported('cast', dtype);
    if (isQuantized(from)) quantizedUnsupported('cast', from);
    return [{ shape: x!.shape, dtype }];
  },
  cpu([x], { dtype }) {
    return [convertArray(decode(x!.data, x!.dtype), x!.dtype, dtype)];
  },
  webgpu(ctx, [x], [out]) {
    dispatchCast(ctx, x!, out!);
  },
  tfjs(tf, [x], { from, dtype }) {
    return [tfjsCast(tf, x, from, dtype)];
  },
  grad({ dy: [dy], attrs: { from, dtype } }) {
    // Between floats (f32, f16, bf16 either way) the gradient passes, cast back to the input's
    // dtype, as in PyTorch; to an integer or bool no gradient flows (those outputs are not tracked).
    if (!dy || !isFloat(from) || !isFloat(dtype)) return [undefined];
    return [from === dtype ? dy : cast(dy, from)];
  },
};

/**
 * Converts `x` to `dtype`. Floats to integers truncate toward zero and saturate (NaN gives 0);
 * i32 and u32 reinterpret each other's bits; any dtype to bool is `x != 0`; f16 and bf16 round to
 * nearest even. Casts between float dtypes pass the gradient (cast back to the input's dtype);
 * casts to integers and bool are constants for autograd. The block-quantized formats (q8, q4) are not
 * cast targets or sources: use {@link quantizeWeight} and {@link dequantize}.
 *
 * @example
 * ```ts
 * const w = cast(weightF16, 'f32');
 * const count = sum(cast(compare('equal', predicted, labels), 'i32'));
 * ```
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  const to = assertDType(dtype, 'cast');
  return run1(castKernel, [x], { from: x.dtype, dtype: to });
}
