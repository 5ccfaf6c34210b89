/**
 * Element types. `f32`, `i32`, `u32` and `bool` are compute types; `f16` and `bf16` are storage types
 * for weights, read by the kernels that accept them (matmul) and converted with {@link cast}.
 *
 * @example
 * ```ts
 * const t = tensor([1, 2, 3], [3], { backend, dtype: 'i32' });
 * ```
 */
export type DType = 'f32' | 'i32' | 'u32' | 'bool' | 'f16' | 'bf16';

/** The typed array that holds a dtype's values on the CPU and in {@link Tensor.read}. */
export interface DTypeArrays {
  f32: Float32Array;
  i32: Int32Array;
  u32: Uint32Array;
  bool: Uint8Array;
  f16: Uint16Array;
  bf16: Uint16Array;
}

/** Any typed array a tensor can hold. */
export type TypedArray = DTypeArrays[DType];

/** Bytes one element occupies in host memory. */
export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'f32':
    case 'i32':
    case 'u32':
      return 4;
    case 'f16':
    case 'bf16':
      return 2;
    case 'bool':
      return 1;
  }
}

/** A new zeroed typed array of the host type for `dtype`. */
export function allocArray<D extends DType>(dtype: D, size: number): DTypeArrays[D] {
  switch (dtype) {
    case 'f32':
      return new Float32Array(size) as DTypeArrays[D];
    case 'i32':
      return new Int32Array(size) as DTypeArrays[D];
    case 'u32':
      return new Uint32Array(size) as DTypeArrays[D];
    case 'bool':
      return new Uint8Array(size) as DTypeArrays[D];
    default:
      return new Uint16Array(size) as DTypeArrays[D];
  }
}

const DTYPES: readonly DType[] = ['f32', 'i32', 'u32', 'bool', 'f16', 'bf16'];

export function assertDType(value: unknown, what: string): DType {
  if (typeof value === 'string' && (DTYPES as readonly string[]).includes(value)) return value as DType;
  throw new TypeError(
    `${what}: unknown dtype ${JSON.stringify(value)} (expected one of ${DTYPES.join(', ')})`,
  );
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';
}

/** The typed array constructor that `array` was made with matches `dtype`. */
export function arrayMatches(array: ArrayLike<number>, dtype: DType): boolean {
  switch (dtype) {
    case 'f32':
      return array instanceof Float32Array;
    case 'i32':
      return array instanceof Int32Array;
    case 'u32':
      return array instanceof Uint32Array;
    case 'bool':
      return array instanceof Uint8Array;
    default:
      return array instanceof Uint16Array;
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half-precision bits to a number. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A number to IEEE half-precision bits, rounding to nearest even. */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  e = half >>> 10;
  return sign | half;
}

/** bfloat16 bits to a number. */
export function bf16ToF32(b: number): number {
  u32Scratch[0] = b << 16;
  return f32Scratch[0]!;
}

/** A number to bfloat16 bits, rounding to nearest even. */
export function f32ToBf16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}
