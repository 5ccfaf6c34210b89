import type { Backend } from './backend.js';
import {
  allocArray,
  arrayMatches,
  assertDType,
  type DType,
  isQuantized,
  QUANT_BLOCK,
  storageLength,
  type TypedArray,
} from './dtype.js';
import { assertShape, formatShape, type Shape, sizeOf } from './shape.js';
import { Tensor, type TensorData } from './tensor.js';

/** Where and how to create a tensor. */
export interface TensorOptions {
  backend: Backend;
  /** Defaults to the typed array's dtype, else `f32`. */
  dtype?: DType;
}

function inferDType(data: TensorData): DType {
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint32Array) return 'u32';
  if (data instanceof Uint8Array) return 'bool';
  if (data instanceof Uint16Array) {
    throw new TypeError('tensor(): a Uint16Array is ambiguous; pass dtype "f16" or "bf16"');
  }
  return 'f32';
}

/**
 * Creates a tensor from values. The data is copied, so later changes to `data` do not affect it.
 *
 * @example
 * ```ts
 * const backend = await createBackend('cpu');
 * const x = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend });
 * const ids = tensor(new Int32Array([5, 9]), [2], { backend }); // dtype i32
 * ```
 */
export function tensor(data: TensorData, shape: Shape, options: TensorOptions): Tensor {
  const { backend } = options;
  if (!backend || typeof backend.upload !== 'function') {
    throw new TypeError('tensor(): options.backend is required (create one with createBackend())');
  }
  const dims = assertShape(shape, 'tensor()');
  const dtype = options.dtype !== undefined ? assertDType(options.dtype, 'tensor()') : inferDType(data);
  let size = sizeOf(dims);
  if (isQuantized(dtype)) {
    // Packed words and scales (see QuantizedDType), e.g. from quantizeArray() or a saved model.
    const last = dims[dims.length - 1] ?? 0;
    if (dims.length === 0 || last % QUANT_BLOCK !== 0) {
      throw new RangeError(
        `tensor(): a ${dtype} tensor needs a last dim that is a multiple of ${QUANT_BLOCK}, got shape ${formatShape(dims)}`,
      );
    }
    if (!(data instanceof Uint32Array)) {
      throw new TypeError(`tensor(): ${dtype} data must be a Uint32Array of packed words and scales`);
    }
    size = storageLength(dtype, size);
    if (data.length !== size) {
      throw new RangeError(
        `tensor(): ${data.length} words do not hold a ${dtype}${formatShape(dims)} tensor (${size} words of values and scales)`,
      );
    }
  } else if (data.length !== size) {
    throw new RangeError(
      `tensor(): ${data.length} values do not fill shape ${formatShape(dims)} (${size} elements)`,
    );
  }
  let host: TypedArray;
  if (ArrayBuffer.isView(data) && arrayMatches(data, dtype)) host = data;
  else {
    host = allocArray(dtype, size);
    for (let i = 0; i < size; i++) host[i] = Number(data[i]);
  }
  return new Tensor(backend, backend.upload(host, { shape: dims, dtype }), dims, dtype);
}

/**
 * A tensor filled with `value`.
 *
 * @example
 * ```ts
 * const mask = full([4, 4], 1, { backend, dtype: 'bool' });
 * ```
 */
export function full(shape: Shape, value: number, options: TensorOptions): Tensor {
  const dims = assertShape(shape, 'full()');
  const dtype = options.dtype ?? 'f32';
  const data = allocArray(dtype, sizeOf(dims));
  data.fill(value);
  return tensor(data, dims, { backend: options.backend, dtype });
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
  return full(shape, 0, options);
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
  return full(shape, 1, options);
}

/**
 * `[start, start + step, ...)` up to `end` (exclusive), as a 1-D tensor (i32 by default).
 *
 * @example
 * ```ts
 * const positions = arange(0, 77, 1, { backend }); // i32[77]
 * ```
 */
export function arange(start: number, end: number, step: number, options: TensorOptions): Tensor {
  if (step === 0) throw new RangeError('arange(): step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype = options.dtype ?? 'i32';
  const data = allocArray(dtype, n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return tensor(data, [n], { backend: options.backend, dtype });
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
  const data = await t.read();
  const build = (axis: number, offset: number, stride: number): unknown => {
    if (axis === t.rank) return data[offset];
    const dim = t.shape[axis]!;
    const inner = stride / Math.max(dim, 1);
    return Array.from({ length: dim }, (_, i) => build(axis + 1, offset + i * inner, inner));
  };
  return build(0, 0, t.size);
}
