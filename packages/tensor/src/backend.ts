import type { DType, TypedArray } from './dtype.js';
import type { Kernel } from './kernel.js';
import type { Shape } from './shape.js';
import type { Tensor } from './tensor.js';

/** The shape and dtype of a tensor, without its data. */
export interface TensorInfo {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** The kinds of backend {@link createBackend} can make. */
export type BackendKind = 'webgpu' | 'cpu' | 'tfjs';

/** Counters a leak test watches: they must stay flat across iterations of the same work. */
export interface BackendStats {
  /** Tensors created on this backend and not yet disposed. */
  liveTensors: number;
  /** Device buffers (or host arrays) currently backing live tensors. */
  liveBuffers: number;
  /** Bytes held by live buffers. */
  liveBytes: number;
  /** Free buffers kept for reuse. */
  pooledBuffers: number;
  /** Bytes held by free buffers kept for reuse. */
  pooledBytes: number;
  /**
   * Device memory the backend holds besides tensor buffers and their pool: on WebGPU the staging
   * buffers reads copy through and the uniform chunks of kernel parameters (in use or kept for
   * reuse). Absent on backends that hold none.
   */
  otherBytes?: number;
}

/**
 * The small contract every backend implements: allocate and write, read, free, run a kernel,
 * dispose. Backends are plain objects made by {@link createBackend} and passed to the functions
 * that create tensors; ops run on the backend of their inputs.
 *
 * @example
 * ```ts
 * const backend = await createBackend('cpu');
 * const t = tensor([1, 2, 3], [3], { backend });
 * console.log(backend.stats().liveTensors); // 1
 * backend.dispose();
 * ```
 */
export interface Backend {
  readonly kind: BackendKind;
  /** Human-readable description, e.g. `webgpu (NVIDIA H100, vulkan)` or `cpu (wasm-simd, 2 threads)`. */
  readonly name: string;
  /** True after {@link Backend.dispose} (or, for WebGPU, after the device was lost). */
  readonly disposed: boolean;
  /** Why the device was lost (WebGPU: the `GPUDeviceLostInfo` reason and message), once it was. */
  readonly lost?: string | undefined;
  /**
   * The most bytes one tensor may hold for a kernel to read or write it (WebGPU: the device's
   * `maxStorageBufferBindingSize`, 2 GiB - 4 on an NVIDIA H200); undefined where there is no such
   * limit. Models that run large batches split them to stay under it.
   */
  readonly maxTensorBytes?: number;
  /** Copies host data into a new buffer owned by the returned handle. */
  upload(data: TypedArray, info: TensorInfo): unknown;
  /** Reads a buffer back to the host. */
  download(handle: unknown, info: TensorInfo): Promise<TypedArray>;
  /** Releases a buffer (to a pool where the backend has one). */
  release(handle: unknown, info: TensorInfo): void;
  /** Runs one kernel; returns a handle per output. */
  execute(
    kernel: Kernel,
    inputs: readonly Tensor[],
    outputs: readonly TensorInfo[],
    attrs: unknown,
  ): unknown[];
  /** Submits queued device work (a no-op on synchronous backends). */
  flush(): void;
  /** Resolves when queued device work has finished. */
  sync(): Promise<void>;
  stats(): BackendStats;
  /** Releases every buffer, pipeline and device the backend holds. Live tensors become unusable. */
  dispose(): void;
}

/** @internal Why a backend can no longer run work: disposed, or (WebGPU) its device was lost. */
export function backendGone(backend: Backend): string {
  return backend.lost !== undefined
    ? `its WebGPU device was lost (${backend.lost}); create a new backend with createBackend('webgpu')`
    : `the ${backend.kind} backend was disposed`;
}
