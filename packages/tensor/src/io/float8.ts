// Lookup tables for the two 8-bit float formats safetensors stores (PyTorch's float8_e4m3fn and
// float8_e5m2). 256 entries each, so decoding is one table read per element.
import { f16ToF32, f32ToF16 } from '../dtype.js';

function e4m3ToNumber(byte: number): number {
  const sign = byte & 0x80 ? -1 : 1;
  const exp = (byte >> 3) & 0xf;
  const mant = byte & 0x7;
  // "fn": finite only; the single all-ones pattern is NaN and there are no infinities.
  if (exp === 0xf && mant === 0x7) return Number.NaN;
  if (exp === 0) return sign * mant * 2 ** -9;
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
}

const tables = new Map<string, Float32Array | Uint16Array>();

function table<T extends Float32Array | Uint16Array>(key: string, make: () => T): T {
  let t = tables.get(key) as T | undefined;
  if (!t) tables.set(key, (t = make()));
  return t;
}

/** F8_E4M3 byte -> value. */
export function e4m3ToF32Table(): Float32Array {
  return table('e4m3-f32', () => Float32Array.from({ length: 256 }, (_, b) => e4m3ToNumber(b)));
}

/** F8_E4M3 byte -> f16 bits (exact: every E4M3 value is an f16 value). */
export function e4m3ToF16Table(): Uint16Array {
  return table('e4m3-f16', () => Uint16Array.from(e4m3ToF32Table(), f32ToF16));
}

/** F8_E5M2 byte -> value: E5M2 is the high byte of an IEEE half. */
export function e5m2ToF32Table(): Float32Array {
  return table('e5m2-f32', () => Float32Array.from({ length: 256 }, (_, b) => f16ToF32(b << 8)));
}

/** All 65,536 f16 bit patterns -> value, so bulk F16 -> f32 conversion is a table read. */
export function f16ToF32Table(): Float32Array {
  return table('f16-f32', () => Float32Array.from({ length: 65536 }, (_, h) => f16ToF32(h)));
}
