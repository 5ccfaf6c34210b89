// Checks and conversions of what tensor(), full() and arange() are given: the backend, the shape,
// the data (flat arrays or typed arrays of values), and each value as the dtype stores it. Every
// error names the function called, the value and its index.
import type { Backend } from './backend.js';
import { describeValue } from './describeValue.js';
import {
  allocArray,
  arrayMatches,
  bytesPerElement,
  type DType,
  type DTypeArrays,
  f32ToBf16,
  f32ToF16,
  holdsValue,
  type TypedArray,
} from './dtype.js';
import { assertShape, formatShape, type Shape } from './shape.js';
import type { TensorData } from './tensor.js';
import type { TensorOptions } from './create.js';
import { rejectUnknownKeys } from './kernels/options.js';

export function inferDType(data: TensorData): DType {
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint32Array) return 'u32';
  if (data instanceof Uint8Array) return 'bool';
  if (data instanceof Uint16Array) {
    throw new TypeError('tensor(): a Uint16Array is ambiguous; pass dtype "f16" or "bf16"');
  }
  return 'f32';
}

/**
 * The backend from `options`, or a TypeError saying that options with a backend are required; a key
 * other than `backend` and `dtype` throws too (a misspelt `dtype` would give an f32 tensor).
 */
export function backendOf(options: TensorOptions | undefined, what: string): Backend {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(
      `${what}: options with a backend are required, e.g. { backend } (create one with createBackend()), got ${describeValue(options)}`,
    );
  }
  rejectUnknownKeys(what, options, ['backend', 'dtype']);
  const { backend } = options;
  if (!backend || typeof backend.upload !== 'function') {
    throw new TypeError(
      `${what}: options.backend is required (create one with createBackend()), got ${describeValue(backend)}`,
    );
  }
  return backend;
}

/** The shape, checked, with the offending dimension named (NaN and Infinity printed as such). */
export function checkShape(shape: Shape, what: string): number[] {
  if (Array.isArray(shape)) {
    for (let i = 0; i < shape.length; i++) {
      const d: unknown = shape[i];
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
        const shown = typeof d === 'number' ? String(d) : describeValue(d);
        throw new RangeError(
          `${what}: shape [${shape.map((x) => (typeof x === 'number' ? String(x) : describeValue(x))).join(', ')}] has an invalid dimension ${shown} at axis ${i} (dimensions are non-negative integers)`,
        );
      }
    }
  }
  return assertShape(shape, what);
}

/** A zeroed host array of `size` entries, or a RangeError naming the size when it cannot be allocated. */
export function allocHost<D extends DType>(
  dtype: D,
  size: number,
  what: string,
  shape?: Shape,
): DTypeArrays[D] {
  const tooBig = (): RangeError =>
    new RangeError(
      `${what}: the ${dtype}${shape ? formatShape(shape) : ''} tensor would have ${size} elements (${size * bytesPerElement(dtype)} bytes), more than can be allocated`,
    );
  if (!Number.isSafeInteger(size)) throw tooBig();
  try {
    return allocArray(dtype, size);
  } catch (e) {
    if (e instanceof RangeError) throw tooBig();
    throw e;
  }
}

/** Checks that `data` is an array or typed array of values (not nested, not a string or a scalar). */
export function checkData(data: unknown, shape: Shape, what: string): asserts data is TensorData {
  if (Array.isArray(data)) {
    if (data.length > 0 && Array.isArray(data[0])) {
      throw new TypeError(
        `${what}: data[0] is an array; pass flat data with the shape, e.g. tensor([1, 2, 3, 4], [2, 2], { backend }) for [[1, 2], [3, 4]]`,
      );
    }
    return;
  }
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) return;
  if (data === null || data === undefined) {
    throw new TypeError(
      `${what}: data is missing (got ${describeValue(data)}); pass an array or typed array of values`,
    );
  }
  const hint =
    typeof data === 'number' || typeof data === 'boolean'
      ? `; for a scalar pass [${String(data)}] with shape []`
      : data instanceof ArrayBuffer || data instanceof DataView
        ? '; wrap the bytes in a typed array (e.g. new Float32Array(buffer)) and pass its dtype'
        : '';
  throw new TypeError(
    `${what}: data must be an array or typed array of values for shape ${formatShape(shape)}, got ${describeValue(data)}${hint}`,
  );
}

/** How an error states what an integer dtype holds. */
const RULE: Partial<Record<DType, string>> = {
  i32: 'integers in [-2^31, 2^31)',
  u32: 'integers in [0, 2^32)',
  bool: '0, 1, true or false',
};

/** The number at `data[i]` (booleans as 0/1, bigints as numbers), or a TypeError naming what is there. */
export function valueAt(data: TensorData, i: number, what: string): number {
  const v: unknown = data[i];
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) {
    throw new TypeError(`${what}: data[${i}] is an array; pass flat data with the shape`);
  }
  throw new TypeError(`${what}: data[${i}] is ${describeValue(v)}, not a number or boolean`);
}

export function notA(what: string, dtype: DType, v: number, i: number | undefined, rule: string): RangeError {
  const where = i === undefined ? '' : ` at index ${i}`;
  return new RangeError(
    `${what}: value ${String(v)}${where} is not ${dtype === 'i32' ? 'an' : 'a'} ${dtype} (${rule})`,
  );
}

/** `v` as stored in a `dtype` element (f16/bf16: rounded half bits), or a RangeError when it is not one. */
export function storedValue(dtype: DType, v: number, what: string, i?: number): number {
  switch (dtype) {
    case 'f32':
      return v;
    case 'f16':
      return f32ToF16(v);
    case 'bf16':
      return f32ToBf16(v);
    default:
      if (holdsValue(dtype, v)) return v;
      throw notA(what, dtype, v, i, RULE[dtype]!);
  }
}

/** Whether every value of the typed array `data` fits a `dtype` (i32 or u32) element as it is. */
export function fitsAsIs(data: TensorData, dtype: DType): boolean {
  const unsigned =
    data instanceof Uint8Array || data instanceof Uint8ClampedArray || data instanceof Uint16Array;
  if (dtype === 'u32') return unsigned;
  return dtype === 'i32' && (unsigned || data instanceof Int8Array || data instanceof Int16Array);
}

/**
 * The host array of `dtype` that holds `data`. A typed array already of the dtype's host type is
 * returned as is (the backend copies it on upload); anything else is converted, each value checked.
 */
export function toHost(data: TensorData, dtype: DType, size: number, what: string): TypedArray {
  if (ArrayBuffer.isView(data) && arrayMatches(data, dtype)) {
    if (dtype === 'bool') {
      for (let i = 0; i < size; i++) if (data[i]! > 1) throw notA(what, dtype, data[i]!, i, RULE.bool!);
    }
    return data;
  }
  const host = allocHost(dtype, size, what);
  const typed =
    ArrayBuffer.isView(data) && !(data instanceof BigInt64Array || data instanceof BigUint64Array);
  if (typed && (dtype === 'f32' || fitsAsIs(data, dtype))) {
    host.set(data as ArrayLike<number>);
    return host;
  }
  if (dtype === 'f32') {
    for (let i = 0; i < size; i++) host[i] = valueAt(data, i, what);
  } else {
    for (let i = 0; i < size; i++) host[i] = storedValue(dtype, valueAt(data, i, what), what, i);
  }
  return host;
}

export function quantizedCreateError(what: string, dtype: DType): TypeError {
  return new TypeError(
    `${what}: ${dtype} tensors hold block-quantized weights; make one with quantizeWeight(w, { dtype: '${dtype}' }) from an f32 tensor, or tensor(words, shape, { backend, dtype: '${dtype}' }) from packed words`,
  );
}
