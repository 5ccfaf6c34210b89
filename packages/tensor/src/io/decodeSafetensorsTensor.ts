import type { DType, TypedArray } from '../dtype.js';
import { checkDecodeArguments } from './checkDecodeArguments.js';
import { e4m3ToF16Table, e4m3ToF32Table, e5m2ToF32Table, f16ToF32Table } from './float8.js';
import type { SafetensorsTensorInfo } from './parseSafetensorsHeader.js';
import { SafetensorsError } from './SafetensorsError.js';

/**
 * Options for {@link decodeSafetensorsTensor} (and the matching fields of {@link loadSafetensors}).
 *
 * @example
 * ```ts
 * decodeSafetensorsTensor(file, info, { dtype: 'f32' }); // BF16 weights become f32
 * ```
 */
export interface DecodeSafetensorsOptions {
  /**
   * `'f32'` converts every floating type (F16, BF16, F8_*) to f32. Left out, F16 and BF16 are kept
   * as stored (f16, bf16) and F8_* become f16, which holds every F8 value exactly.
   */
  dtype?: 'f32';
  /** Names the file in error messages. */
  source?: string;
}

/**
 * A tensor's values in one of our dtypes, in a freshly allocated array that owns its memory.
 *
 * @example
 * ```ts
 * const { dtype, shape, data } = decodeSafetensorsTensor(file, info);
 * const t = tensor(data, shape, { backend, dtype });
 * ```
 */
export interface DecodedSafetensorsTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedArray;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

type Read = (view: DataView, offset: number) => number;

// Same-size types: on a little-endian host (every JS engine in practice) one byte copy into a fresh,
// aligned array, which also makes unaligned offsets a non-issue. Otherwise element by element.
function copyLittleEndian<T extends TypedArray>(bytes: Uint8Array, out: T, read: Read): T {
  if (littleEndianHost) {
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
    return out;
  }
  return convert(bytes, out, out.BYTES_PER_ELEMENT, read);
}

// Widening or narrowing types: DataView reads, which do not care about alignment.
function convert<T extends TypedArray>(bytes: Uint8Array, out: T, size: number, read: Read): T {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = read(view, i * size);
  return out;
}

function lookup<T extends Float32Array | Uint16Array>(codes: Uint8Array | Uint16Array, out: T, table: T): T {
  for (let i = 0; i < out.length; i++) out[i] = table[codes[i]!]!;
  return out;
}

/**
 * Decodes one tensor of a parsed file into one of our dtypes. Mapping: F32 -> f32; F16 -> f16 and
 * BF16 -> bf16 (or f32 with `{ dtype: 'f32' }`); F8_E4M3 / F8_E5M2 -> f16 (or f32); F64 -> f32
 * (rounded to nearest; magnitudes beyond the f32 range become infinities); I32 -> i32; U32 -> u32; I8, I16, U8, U16 -> i32; I64, U64 -> i32, throwing if a value
 * does not fit; BOOL -> bool (any non-zero byte reads as 1). U8 becomes i32 rather than bool because
 * U8 tensors hold numbers (pixels, quantized codes), not truth values.
 *
 * @example
 * ```ts
 * const file = parseSafetensors(bytes);
 * const { dtype, shape, data } = decodeSafetensorsTensor(file, file.get('embeddings')!, { dtype: 'f32' });
 * ```
 */
export function decodeSafetensorsTensor(
  file: { readonly data: Uint8Array },
  info: SafetensorsTensorInfo,
  options: DecodeSafetensorsOptions = {},
): DecodedSafetensorsTensor {
  checkDecodeArguments(file, info, options);
  const [begin, end] = info.dataOffsets;
  if (end > file.data.byteLength) {
    throw new SafetensorsError(
      `safetensors: tensor "${info.name}" data_offsets [${begin}, ${end}] run past the byte buffer (${file.data.byteLength} bytes)`,
    );
  }
  const bytes = file.data.subarray(begin, end);
  const n = info.shape.reduce((a, d) => a * d, 1);
  const toF32 = options.dtype === 'f32';
  const shape = info.shape;
  switch (info.dtype) {
    case 'F32':
      return {
        dtype: 'f32',
        shape,
        data: copyLittleEndian(bytes, new Float32Array(n), (v, o) => v.getFloat32(o, true)),
      };
    case 'I32':
      return {
        dtype: 'i32',
        shape,
        data: copyLittleEndian(bytes, new Int32Array(n), (v, o) => v.getInt32(o, true)),
      };
    case 'U32':
      return {
        dtype: 'u32',
        shape,
        data: copyLittleEndian(bytes, new Uint32Array(n), (v, o) => v.getUint32(o, true)),
      };
    case 'F16':
    case 'BF16': {
      const bits = copyLittleEndian(bytes, new Uint16Array(n), (v, o) => v.getUint16(o, true));
      if (!toF32) return { dtype: info.dtype === 'F16' ? 'f16' : 'bf16', shape, data: bits };
      if (info.dtype === 'F16')
        return { dtype: 'f32', shape, data: lookup(bits, new Float32Array(n), f16ToF32Table()) };
      const out = new Float32Array(n);
      // bf16 is the high half of an f32: shift the bits into place.
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) outBits[i] = bits[i]! << 16;
      return { dtype: 'f32', shape, data: out };
    }
    case 'F8_E4M3':
      return toF32
        ? { dtype: 'f32', shape, data: lookup(bytes, new Float32Array(n), e4m3ToF32Table()) }
        : { dtype: 'f16', shape, data: lookup(bytes, new Uint16Array(n), e4m3ToF16Table()) };
    case 'F8_E5M2': {
      if (toF32) return { dtype: 'f32', shape, data: lookup(bytes, new Float32Array(n), e5m2ToF32Table()) };
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = bytes[i]! << 8;
      return { dtype: 'f16', shape, data: out };
    }
    case 'F64':
      return {
        dtype: 'f32',
        shape,
        data: convert(bytes, new Float32Array(n), 8, (v, o) => v.getFloat64(o, true)),
      };
    case 'I16':
      return {
        dtype: 'i32',
        shape,
        data: convert(bytes, new Int32Array(n), 2, (v, o) => v.getInt16(o, true)),
      };
    case 'U16':
      return {
        dtype: 'i32',
        shape,
        data: convert(bytes, new Int32Array(n), 2, (v, o) => v.getUint16(o, true)),
      };
    case 'I8':
      return { dtype: 'i32', shape, data: Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, n)) };
    case 'U8':
      return { dtype: 'i32', shape, data: Int32Array.from(bytes) };
    case 'BOOL':
      return { dtype: 'bool', shape, data: Uint8Array.from(bytes, (b) => (b === 0 ? 0 : 1)) };
    case 'I64':
    case 'U64':
      return { dtype: 'i32', shape, data: narrow64(bytes, n, info, options.source) };
  }
}

/** 64-bit integers to i32, refusing (rather than wrapping) any value outside the i32 range. */
function narrow64(
  bytes: Uint8Array,
  n: number,
  info: SafetensorsTensorInfo,
  source: string | undefined,
): Int32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const signed = info.dtype === 'I64';
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const lo = view.getUint32(i * 8, true);
    const hi = signed ? view.getInt32(i * 8 + 4, true) : view.getUint32(i * 8 + 4, true);
    const fits = hi === 0 ? lo <= 0x7fffffff : signed && hi === -1 && lo >= 0x80000000;
    if (!fits) {
      const value = signed ? view.getBigInt64(i * 8, true) : view.getBigUint64(i * 8, true);
      const where = source ? ` (${source})` : '';
      throw new SafetensorsError(
        `safetensors${where}: tensor "${info.name}" (${info.dtype} [${info.shape.join(', ')}]) holds ${value} at ` +
          `element ${i}, outside the i32 range [-2147483648, 2147483647] that ${info.dtype} tensors are loaded into`,
      );
    }
    out[i] = lo | 0;
  }
  return out;
}
