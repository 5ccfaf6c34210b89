// Loading weights straight into a smaller storage dtype (f16, bf16, q8, q4), one tensor at a time,
// so a checkpoint never sits in memory as f32 as a whole: what lets a 7B-parameter decoder load
// into a GPU that holds its 14 GB of f16 but not its 28 GB of f32.
import type { Backend } from '../backend.js';
import { tensor } from '../create.js';
import { QUANT_BLOCK, type QuantizedDType } from '../dtype.js';
import { quantizeArray } from '../kernels/quantize/codec.js';
import { formatShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { decodeSafetensorsTensor } from './decodeSafetensorsTensor.js';
import type { SafetensorsTensorInfo } from './parseSafetensorsHeader.js';

/**
 * A dtype a floating-point checkpoint tensor can be stored as on load: `f32`, the half-precision
 * storage types `f16` and `bf16` (read by matmul, which widens them inside the kernel), or the
 * block-quantized `q8` and `q4` (see {@link QuantizedDType}; matmul with `transposeB` only, so a
 * linear layer's `[out, in]` weight, with `in` a multiple of 32).
 *
 * @example
 * ```ts
 * const storeAs = (name: string): StoredDType | undefined => (name.endsWith('proj.weight') ? 'q8' : undefined);
 * ```
 */
export type StoredDType = 'f32' | 'f16' | 'bf16' | QuantizedDType;

/**
 * Every {@link StoredDType}, for checking a user's choice of one.
 *
 * @example
 * ```ts
 * if (!STORED_DTYPES.includes(flag as StoredDType)) throw new Error(`--weights must be one of ${STORED_DTYPES.join(', ')}`);
 * ```
 */
export const STORED_DTYPES: readonly StoredDType[] = ['f32', 'f16', 'bf16', 'q8', 'q4'];
const FLOAT_FILE_DTYPES = new Set(['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2']);

/** Whether a file dtype is floating-point, the only kind `storeAs` applies to. */
export function isFloatFileDType(dtype: string): boolean {
  return FLOAT_FILE_DTYPES.has(dtype);
}

/**
 * Creates the floating-point tensor `info` describes, stored as `store`. An F16 or BF16 tensor asked for as its
 * own type is copied as it is; anything else goes through f32 on the host (one tensor's worth).
 */
export function storedTensor(
  file: { readonly data: Uint8Array },
  info: SafetensorsTensorInfo,
  store: unknown,
  backend: Backend,
  source: string,
): Tensor {
  const where = `loadSafetensors(): ${source}: tensor "${info.name}" (${info.dtype}${formatShape(info.shape)})`;
  if (!STORED_DTYPES.includes(store as StoredDType)) {
    throw new TypeError(
      `${where}: storeAs must return one of ${STORED_DTYPES.join(', ')} or undefined, got ${JSON.stringify(store)}`,
    );
  }
  const dtype = store as StoredDType;
  const native = (dtype === 'f16' && info.dtype === 'F16') || (dtype === 'bf16' && info.dtype === 'BF16');
  if (info.dtype === 'F64' && (dtype === 'f16' || dtype === 'bf16'))
    return tensor(f64ToOddF32(file.data.subarray(...info.dataOffsets)), info.shape, { backend, dtype });
  const decoded = decodeSafetensorsTensor(file, info, native ? { source } : { dtype: 'f32', source });
  if (dtype !== 'q8' && dtype !== 'q4') return tensor(decoded.data, info.shape, { backend, dtype });
  const last = info.shape[info.shape.length - 1] ?? 0;
  if (info.shape.length !== 2 || last % QUANT_BLOCK !== 0) {
    throw new RangeError(
      `${where}: storeAs chose ${dtype}, which needs a 2-D [out, in] weight with in a multiple of ${QUANT_BLOCK}`,
    );
  }
  let words: Uint32Array;
  try {
    words = quantizeArray(decoded.data, dtype);
  } catch (e) {
    throw new RangeError(`${where}: ${(e as Error).message.replace(/^quantizeArray\(\): /, '')}`, {
      cause: e,
    });
  }
  return tensor(words, info.shape, { backend, dtype });
}

/**
 * Little-endian F64 values to f32 rounded to odd (truncated, with the last bit set when inexact):
 * rounding that once more to a half type gives the correctly rounded half, where rounding to
 * nearest twice (F64 -> f32 -> f16) can be one unit off.
 */
function f64ToOddF32(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 8);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) {
    const v = view.getFloat64(i * 8, true);
    out[i] = v;
    const f = out[i]!;
    if (f === v || Number.isNaN(v)) continue;
    if (Math.abs(f) > Math.abs(v)) bits[i]! -= 1; // rounded away from zero: one step back
    bits[i]! |= 1;
  }
  return out;
}
