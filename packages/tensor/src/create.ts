import type { Backend } from './backend.js';
import { checkTensor } from './checkTensor.js';
import { assertDType, type DType, isQuantized, QUANT_BLOCK, storageLength } from './dtype.js';
import { formatShape, type Shape, sizeOf } from './shape.js';
import { describeValue } from './describeValue.js';
import { Tensor, type TensorData } from './tensor.js';
import {
  allocHost,
  backendOf,
  checkData,
  checkShape,
  inferDType,
  quantizedCreateError,
  storedValue,
  toHost,
} from './createInputs.js';

/** Where and how to create a tensor (any other key throws, naming it). */
export interface TensorOptions {
  backend: Backend;
  /** Defaults to the typed array's dtype, else `f32`. */
  dtype?: DType;
}

function create(data: unknown, shape: Shape, options: TensorOptions, what: string): Tensor {
  const backend = backendOf(options, what);
  const dims = checkShape(shape, what);
  checkData(data, dims, what);
  const dtype = options.dtype !== undefined ? assertDType(options.dtype, what) : inferDType(data);
  let size = sizeOf(dims);
  if (isQuantized(dtype)) {
    // Packed words and scales (see QuantizedDType), e.g. from quantizeArray() or a saved model.
    const last = dims[dims.length - 1] ?? 0;
    if (dims.length === 0 || last % QUANT_BLOCK !== 0) {
      throw new RangeError(
        `${what}: a ${dtype} tensor needs a last dim that is a multiple of ${QUANT_BLOCK}, got shape ${formatShape(dims)}`,
      );
    }
    if (!(data instanceof Uint32Array)) {
      throw new TypeError(
        `${what}: ${dtype} data must be a Uint32Array of packed words and scales (make one with quantizeWeight()), got ${describeValue(data)}`,
      );
    }
    size = storageLength(dtype, size);
    if (data.length !== size) {
      throw new RangeError(
        `${what}: ${data.length} words do not hold a ${dtype}${formatShape(dims)} tensor (${size} words of values and scales)`,
      );
    }
    return new Tensor(backend, backend.upload(data, { shape: dims, dtype }), dims, dtype);
  }
  if (data.length !== size) {
    throw new RangeError(
      `${what}: ${data.length} values do not fill shape ${formatShape(dims)} (${size} elements)`,
    );
  }
  const host = toHost(data, dtype, size, what);
  return new Tensor(backend, backend.upload(host, { shape: dims, dtype }), dims, dtype);
}

/**
 * Creates a tensor from flat values in row-major order. The data is copied, so later changes to
 * `data` do not affect it.
 *
 * `data` is an array of numbers or booleans, or a typed array; nested arrays are not accepted (pass
 * the values flat, with the shape). The dtype defaults to the typed array's (`Int32Array`: i32,
 * `Uint32Array`: u32, `Uint8Array`: bool), else f32. Values are checked when they are converted:
 *
 * - `i32`/`u32`: integers in the dtype's range (`[-2^31, 2^31)`, `[0, 2^32)`), else a RangeError.
 * - `bool`: 0, 1, `true` or `false` (a `Uint8Array` too), else a RangeError.
 * - `f16`/`bf16`: a `Uint16Array` holds the raw half-precision bits (as loaders and
 *   `f32ToF16` produce them); numbers and other typed arrays are values, rounded to the
 *   nearest half (to +-Infinity past its range).
 * - `q8`/`q4`: a `Uint32Array` of packed words and scales (see {@link QuantizedDType}); make them
 *   with `quantizeWeight`.
 *
 * @example
 * ```ts
 * const backend = await createBackend('cpu');
 * const x = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend });
 * const ids = tensor(new Int32Array([5, 9]), [2], { backend }); // dtype i32
 * const h = tensor([1.5, 2], [2], { backend, dtype: 'f16' }); // values 1.5, 2 as halves
 * const s = tensor([7], [], { backend }); // a scalar
 * ```
 */
export function tensor(data: TensorData, shape: Shape, options: TensorOptions): Tensor {
  return create(data, shape, options, 'tensor()');
}

/**
 * A tensor filled with `value`, which must be representable in the dtype (see {@link tensor}: an
 * integer in range for i32/u32, 0/1/`true`/`false` for bool; for f16/bf16 the number is rounded to a
 * half, not taken as bits). q8/q4 tensors come from `quantizeWeight`, not from `full`.
 *
 * @example
 * ```ts
 * const mask = full([4, 4], 1, { backend, dtype: 'bool' });
 * const half = full([2], 1.5, { backend, dtype: 'f16' }); // 1.5 as an f16
 * ```
 */
export function full(shape: Shape, value: number, options: TensorOptions): Tensor {
  return fill(shape, value, options, 'full()');
}

function fill(shape: Shape, value: number, options: TensorOptions, what: string): Tensor {
  const backend = backendOf(options, what);
  const dims = checkShape(shape, what);
  const dtype = options.dtype !== undefined ? assertDType(options.dtype, what) : 'f32';
  if (isQuantized(dtype)) throw quantizedCreateError(what, dtype);
  const v: unknown = value;
  if (typeof v !== 'number' && typeof v !== 'boolean') {
    throw new TypeError(`${what}: value must be a number, got ${describeValue(v)}`);
  }
  const stored = storedValue(dtype, Number(v), what);
  const data = allocHost(dtype, sizeOf(dims), what, dims);
  if (stored !== 0) data.fill(stored);
  return new Tensor(backend, backend.upload(data, { shape: dims, dtype }), dims, dtype);
}

/**
 * A tensor of zeros.
 *
 * @example
 * ```ts
 * const cache = zeros([2, 8, 128, 64], { backend });
 * ```
 */
export function zeros(shape: Shape, options: TensorOptions): Tensor {
  return fill(shape, 0, options, 'zeros()');
}

/**
 * A tensor of ones.
 *
 * @example
 * ```ts
 * const gamma = ones([768], { backend });
 * ```
 */
export function ones(shape: Shape, options: TensorOptions): Tensor {
  return fill(shape, 1, options, 'ones()');
}

/**
 * `[start, start + step, ...)` up to `end` (exclusive), as a 1-D tensor (i32 by default). `start`,
 * `end` and `step` must be finite, and integers for an integer dtype (pass `dtype: 'f32'` for
 * fractional steps).
 *
 * @example
 * ```ts
 * const positions = arange(0, 77, 1, { backend }); // i32[77]
 * const t = arange(0, 1, 0.25, { backend, dtype: 'f32' }); // [0, 0.25, 0.5, 0.75]
 * ```
 */
export function arange(start: number, end: number, step: number, options: TensorOptions): Tensor {
  const what = 'arange()';
  const backend = backendOf(options, what);
  const dtype = options.dtype !== undefined ? assertDType(options.dtype, what) : 'i32';
  if (isQuantized(dtype)) throw quantizedCreateError(what, dtype);
  const args = { start, end, step };
  for (const [name, v] of Object.entries(args) as [string, unknown][]) {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new RangeError(`${what}: ${name} must be a finite number, got ${describeValue(v)}`);
    }
    if ((dtype === 'i32' || dtype === 'u32') && !Number.isInteger(v)) {
      throw new RangeError(
        `${what}: ${name} ${v} is not an integer, and the dtype is ${dtype}; pass dtype 'f32' for fractional values`,
      );
    }
  }
  if (step === 0) throw new RangeError('arange(): step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const data = allocHost(dtype, n, what, [n]);
  for (let i = 0; i < n; i++) data[i] = storedValue(dtype, start + i * step, what, i);
  return new Tensor(backend, backend.upload(data, { shape: [n], dtype }), [n], dtype);
}

/**
 * Copies a tensor to another backend (one readback, one upload).
 *
 * @example
 * ```ts
 * const onGpu = await toBackend(cpuTensor, gpu);
 * ```
 */
export async function toBackend(t: Tensor, backend: Backend): Promise<Tensor> {
  checkTensor(t, 'toBackend', 't');
  if (typeof (backend as Partial<Backend> | null)?.upload !== 'function') {
    throw new TypeError(
      `toBackend: backend must be a Backend (create one with createBackend()), got ${describeValue(backend)}`,
    );
  }
  if (t.backend === backend) return t;
  return tensor(await t.read(), t.shape, { backend, dtype: t.dtype });
}

/**
 * Reads a tensor and returns its values as a nested JavaScript array (for tests and printing).
 *
 * @example
 * ```ts
 * await toNested(tensor([1, 2, 3, 4], [2, 2], { backend })); // [[1, 2], [3, 4]]
 * ```
 */
export async function toNested(t: Tensor): Promise<unknown> {
  checkTensor(t, 'toNested', 't');
  const data = await t.read();
  const build = (axis: number, offset: number, stride: number): unknown => {
    if (axis === t.rank) return data[offset];
    const dim = t.shape[axis]!;
    const inner = stride / Math.max(dim, 1);
    return Array.from({ length: dim }, (_, i) => build(axis + 1, offset + i * inner, inner));
  };
  return build(0, 0, t.size);
}
