// The host codec of the block-quantized weight formats (layout: QuantizedDType in src/dtype.ts):
// the CPU reference of quantizeWeight/dequantize, and what loaders use to quantize host arrays
// before uploading them.
import { type QuantizedDType, QUANT_BLOCK, storageLength } from '../../dtype.js';
import { describeValue } from '../../describeValue.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Throws unless `dtype` is one of the quantized formats. */
function checkDType(op: string, dtype: unknown): asserts dtype is QuantizedDType {
  if (dtype !== 'q8' && dtype !== 'q4') {
    throw new TypeError(
      `${op}(): unknown quantized dtype ${typeof dtype === 'string' ? JSON.stringify(dtype) : String(dtype)} (expected 'q8' or 'q4')`,
    );
  }
}

/** The largest stored magnitude of a format: values are `q * scale` with `|q| <= qmax`. */
export function quantMax(dtype: QuantizedDType): number {
  return dtype === 'q8' ? 127 : 7;
}

/**
 * Quantizes `values` (a flattened tensor whose last dim is a multiple of 32, so blocks never cross
 * rows) into the packed words and scales of `dtype`. Rounds to nearest (ties away from zero, like
 * `Math.round` on magnitudes); a block of zeros gets scale 0. NaN and infinities are rejected.
 *
 * @example
 * ```ts
 * const words = quantizeArray(weights, 'q4'); // Uint32Array: values, then one scale per 32
 * const wq = tensor(words, [n, k], { backend, dtype: 'q4' });
 * ```
 */
export function quantizeArray(values: ArrayLike<number>, dtype: QuantizedDType): Uint32Array {
  checkDType('quantizeArray', dtype);
  const size: unknown = values?.length;
  if (!(typeof size === 'number' && Number.isSafeInteger(size) && size >= 0)) {
    throw new TypeError(`quantizeArray(): values must be an array of numbers, got ${describeValue(values)}`);
  }
  if (size % QUANT_BLOCK !== 0) {
    throw new RangeError(`quantizeArray(): ${size} values are not whole blocks of ${QUANT_BLOCK}`);
  }
  const out = new Uint32Array(storageLength(dtype, size));
  const qmax = quantMax(dtype);
  const perWord = dtype === 'q8' ? 4 : 8;
  const bits = dtype === 'q8' ? 8 : 4;
  const scaleBase = size / perWord;
  for (let b = 0; b < size / QUANT_BLOCK; b++) {
    const start = b * QUANT_BLOCK;
    let amax = 0;
    for (let i = 0; i < QUANT_BLOCK; i++) {
      const v = values[start + i]!;
      if (!Number.isFinite(v)) {
        throw new RangeError(`quantizeArray(): value ${v} at index ${start + i} cannot be quantized`);
      }
      amax = Math.max(amax, Math.abs(v));
    }
    // The scale is rounded to f32 first, so the host and the GPU divide by the same number.
    f32[0] = amax / qmax;
    const scale = f32[0]!;
    out[scaleBase + b] = u32[0]!;
    const inv = scale === 0 ? 0 : 1 / scale;
    for (let i = 0; i < QUANT_BLOCK; i++) {
      const x = values[start + i]! * inv;
      const q = Math.min(qmax, Math.max(-qmax, Math.sign(x) * Math.round(Math.abs(x))));
      const e = start + i;
      const field = dtype === 'q8' ? q & 0xff : q + 8;
      out[(e / perWord) | 0]! |= field << (bits * (e % perWord));
    }
  }
  return out;
}

/**
 * The f32 values of `size` quantized elements stored in `words` (see {@link quantizeArray}).
 *
 * @example
 * ```ts
 * const approx = dequantizeArray(words, 'q4', n * k); // Float32Array [n * k]
 * ```
 */
export function dequantizeArray(words: Uint32Array, dtype: QuantizedDType, size: number): Float32Array {
  checkDType('dequantizeArray', dtype);
  if (!(words instanceof Uint32Array)) {
    throw new TypeError(
      `dequantizeArray(): words must be a Uint32Array of packed ${dtype} values and scales, got ${describeValue(words)}`,
    );
  }
  if (!(Number.isSafeInteger(size) && size >= 0 && size % QUANT_BLOCK === 0)) {
    throw new RangeError(
      `dequantizeArray(): size must be a whole number of ${QUANT_BLOCK}-value blocks (an integer >= 0, multiple of ${QUANT_BLOCK}), got ${String(size)}`,
    );
  }
  if (words.length !== storageLength(dtype, size)) {
    throw new RangeError(
      `dequantizeArray(): ${words.length} words do not hold ${size} ${dtype} values (${storageLength(dtype, size)} words)`,
    );
  }
  const out = new Float32Array(size);
  const scales = new Float32Array(
    words.buffer,
    words.byteOffset + (dtype === 'q8' ? size : size / 2),
    size / QUANT_BLOCK,
  );
  if (dtype === 'q8') {
    const bytes = new Int8Array(words.buffer, words.byteOffset, size);
    for (let e = 0; e < size; e++) out[e] = bytes[e]! * scales[e >> 5]!;
  } else {
    for (let e = 0; e < size; e++) out[e] = (((words[e >> 3]! >>> (4 * (e & 7))) & 15) - 8) * scales[e >> 5]!;
  }
  return out;
}
