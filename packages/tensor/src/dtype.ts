/**
 * Element types. `f32`, `i32`, `u32` and `bool` are compute types; `f16` and `bf16` are storage types
 * for weights, read by the kernels that accept them (matmul) and converted with {@link cast};
 * `q8` and `q4` are block-quantized weights (see {@link QuantizedDType}), read by matmul and
 * {@link dequantize} only.
 *
 * @example
 * ```ts
 * const t = tensor([1, 2, 3], [3], { backend, dtype: 'i32' });
 * ```
 */
export type DType = 'f32' | 'i32' | 'u32' | 'bool' | 'f16' | 'bf16' | 'q8' | 'q4';

/**
 * Block-quantized weight storage, symmetric, with one f32 scale per block of {@link QUANT_BLOCK}
 * consecutive values along the last dim (the reduction dim K of a `[N, K]` `linear` weight, which
 * must be a multiple of 32). The host array (and the GPU buffer) is a `Uint32Array` of two planes:
 *
 * - values: row-major over the logical shape, packed little-endian into u32 words. `q8`: 4 int8
 *   per word (value `k` of a row in byte `k % 4` of word `k / 4`), `q = round(x / scale)` in
 *   [-127, 127]. `q4`: 8 nibbles per word (value `k` in bits `4 * (k % 8)` of word `k / 8`), stored
 *   as `q + 8` with `q = round(x / scale)` in [-7, 7] (the nibble 0, i.e. -8, is unused).
 * - scales: after the values (at word `size / 4` for q8, `size / 8` for q4), one f32 per block,
 *   block `b` covering elements `[32 b, 32 b + 32)` of the flattened tensor; `scale = max|x| / 127`
 *   (q8) or `max|x| / 7` (q4), so `x ~ q * scale`.
 *
 * Every block starts on a 16-byte boundary (8 words of q8, 4 of q4), so WGSL reads whole blocks as
 * `vec4<u32>` and WASM SIMD as v128. Storage per value: 1.125 bytes (q8), 0.625 bytes (q4).
 *
 * @example
 * ```ts
 * const wq = quantizeWeight(w, { dtype: 'q4' }); // q4[N, K]
 * const y = linear(x, wq, bias); // dequantized inside the kernel
 * ```
 */
export type QuantizedDType = 'q8' | 'q4';

/**
 * Values per quantization block (one scale each) of the {@link QuantizedDType}s. A weight's last
 * dim must be a multiple of it to be quantized.
 *
 * @example
 * ```ts
 * const k = w.shape[w.shape.length - 1]!; // w: f32[N, K]
 * const wq = k % QUANT_BLOCK === 0 ? quantizeWeight(w, { dtype: 'q8' }) : w; // q8[N, K], else f32
 * const scales = w.size / QUANT_BLOCK; // one f32 scale per block
 * ```
 */
export const QUANT_BLOCK = 32;

/** @internal Throws the error for a quantized dtype reaching code that only handles element dtypes. */
export function quantizedUnsupported(what: string, dtype: QuantizedDType): never {
  throw new TypeError(
    `${what}: ${dtype} is a block-quantized weight format, read only by matmul/linear and dequantize(); dequantize it first`,
  );
}

/** Whether `dtype` is a block-quantized storage type. */
export function isQuantized(dtype: DType): dtype is QuantizedDType {
  return dtype === 'q8' || dtype === 'q4';
}

/**
 * Entries of the host array that holds `size` logical elements of `dtype`: `size` for every dtype
 * but the quantized ones, whose u32 words hold the packed values and the scales (see
 * {@link QuantizedDType}; `size` is a multiple of 32 for them).
 */
export function storageLength(dtype: DType, size: number): number {
  if (dtype === 'q8') return size / 4 + size / QUANT_BLOCK;
  if (dtype === 'q4') return size / 8 + size / QUANT_BLOCK;
  return size;
}

/** The typed array that holds a dtype's values on the CPU and in {@link Tensor.read}. */
export interface DTypeArrays {
  f32: Float32Array;
  i32: Int32Array;
  u32: Uint32Array;
  bool: Uint8Array;
  f16: Uint16Array;
  bf16: Uint16Array;
  /** Packed words and scales (see {@link QuantizedDType}). */
  q8: Uint32Array;
  q4: Uint32Array;
}

/** Any typed array a tensor can hold. */
export type TypedArray = DTypeArrays[DType];

/** Bytes one entry of the host array occupies (for quantized dtypes, one u32 storage word). */
export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'f32':
    case 'i32':
    case 'u32':
    case 'q8':
    case 'q4':
      return 4;
    case 'f16':
    case 'bf16':
      return 2;
    case 'bool':
      return 1;
  }
}

/** A new zeroed typed array of the host type for `dtype`, of `size` entries (see {@link storageLength}). */
export function allocArray<D extends DType>(dtype: D, size: number): DTypeArrays[D] {
  switch (dtype) {
    case 'f32':
      return new Float32Array(size) as DTypeArrays[D];
    case 'i32':
      return new Int32Array(size) as DTypeArrays[D];
    case 'u32':
    case 'q8':
    case 'q4':
      return new Uint32Array(size) as DTypeArrays[D];
    case 'bool':
      return new Uint8Array(size) as DTypeArrays[D];
    default:
      return new Uint16Array(size) as DTypeArrays[D];
  }
}

const DTYPES: readonly DType[] = ['f32', 'i32', 'u32', 'bool', 'f16', 'bf16', 'q8', 'q4'];

/** Whether `value` names a {@link DType}. */
export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

export function assertDType(value: unknown, what: string): DType {
  if (isDType(value)) return value;
  throw new TypeError(
    `${what}: unknown dtype ${JSON.stringify(value)} (expected one of ${DTYPES.join(', ')})`,
  );
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';
}

/** @internal The values an integer-valued dtype holds: [lowest, highest] (bool: 0 and 1). */
export const INTEGER_RANGE: Readonly<Partial<Record<DType, readonly [number, number]>>> = {
  i32: [-(2 ** 31), 2 ** 31 - 1],
  u32: [0, 2 ** 32 - 1],
  bool: [0, 1],
};

/** @internal Whether `dtype` holds the number `v` as it is (any number for the float dtypes). */
export function holdsValue(dtype: DType, v: number): boolean {
  const r = INTEGER_RANGE[dtype];
  return !r || (Number.isInteger(v) && v >= r[0] && v <= r[1]);
}

/** The typed array constructor that `array` was made with matches `dtype`. */
export function arrayMatches(array: ArrayLike<number>, dtype: DType): boolean {
  switch (dtype) {
    case 'f32':
      return array instanceof Float32Array;
    case 'i32':
      return array instanceof Int32Array;
    case 'u32':
    case 'q8':
    case 'q4':
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
