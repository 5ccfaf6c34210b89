import type { Backend, BackendStats, TensorInfo } from '../../backend.js';
import { allocArray, arrayMatches, storageLength, type TypedArray } from '../../dtype.js';
import { liveTensorCount } from '../../engine.js';
import type { HostTensor, Kernel } from '../../kernel.js';
import { formatShape, sizeOf } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { checkExecuteArguments, checkHostArray, checkTensorInfo } from './checkCpuArguments.js';

/**
 * A faster CPU implementation of a kernel (WASM SIMD, threads) that the CPU backend prefers over the
 * kernel's reference `cpu` function. Returns `undefined` to fall back to the reference for inputs
 * it does not handle.
 */
export type CpuAccelerated = (
  inputs: readonly HostTensor[],
  attrs: unknown,
  outputs: readonly TensorInfo[],
) => TypedArray[] | undefined;

/** Options for the CPU backend. */
export interface CpuBackendOptions {
  /** Faster implementations by kernel name, used before the reference implementation. */
  accelerated?: ReadonlyMap<string, CpuAccelerated>;
  /** Text appended to the backend's name, e.g. `wasm-simd, 2 threads`. */
  description?: string;
  /** Called by dispose() to release worker threads and WASM memory. */
  onDispose?: () => void;
  /** Called when a tensor's host array is released (accelerated kernels drop what they keep for it). */
  onRelease?: (handle: TypedArray) => void;
}

/**
 * The CPU backend: host typed arrays; every kernel's reference implementation, or a faster one.
 * `createBackend('cpu')` makes one with the WASM SIMD kernels where they load; `new CpuBackend()`
 * runs only the TypeScript references.
 *
 * @example
 * ```ts
 * const backend = await createBackend('cpu');
 * if (backend instanceof CpuBackend) console.log(backend.name); // e.g. "cpu (wasm-simd, 2 threads)"
 * const reference = new CpuBackend(); // name "cpu (js)"
 * ```
 */
export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly name: string;
  #disposed = false;
  #liveBuffers = 0;
  #liveBytes = 0;
  readonly #accelerated: ReadonlyMap<string, CpuAccelerated>;
  readonly #onDispose: (() => void) | undefined;
  readonly #onRelease: ((handle: TypedArray) => void) | undefined;

  constructor(options: CpuBackendOptions = {}) {
    this.name = `cpu (${options.description ?? 'js'})`;
    this.#accelerated = options.accelerated ?? new Map();
    this.#onDispose = options.onDispose;
    this.#onRelease = options.onRelease;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  upload(data: TypedArray, info: TensorInfo): TypedArray {
    this.#check();
    checkHostArray(data, 'CpuBackend.upload', 'data');
    checkTensorInfo(info, 'CpuBackend.upload', 'info');
    const length = storageLength(info.dtype, sizeOf(info.shape));
    if (data.length !== length) {
      throw new RangeError(
        `CpuBackend.upload: data has ${data.length} values, info ${info.dtype}${formatShape(info.shape)} holds ${length}`,
      );
    }
    const copy = allocArray(info.dtype, length);
    copy.set(data as never);
    this.#track(copy);
    return copy;
  }

  async download(handle: unknown, info: TensorInfo): Promise<TypedArray> {
    this.#check();
    checkHostArray(handle, 'CpuBackend.download', 'handle');
    checkTensorInfo(info, 'CpuBackend.download', 'info');
    const data = handle as TypedArray;
    const copy = allocArray(info.dtype, data.length);
    copy.set(data as never);
    return copy;
  }

  release(handle: unknown): void {
    checkHostArray(handle, 'CpuBackend.release', 'handle');
    this.#onRelease?.(handle as TypedArray);
    this.#liveBuffers--;
    this.#liveBytes -= (handle as TypedArray).byteLength;
  }

  execute(
    kernel: Kernel,
    inputs: readonly Tensor[],
    outputs: readonly TensorInfo[],
    attrs: unknown,
  ): TypedArray[] {
    this.#check();
    checkExecuteArguments(kernel, inputs, outputs);
    const hosts: HostTensor[] = inputs.map((t) => ({
      data: t.handle as TypedArray,
      shape: t.shape,
      dtype: t.dtype,
    }));
    const fast = this.#accelerated.get(kernel.name);
    const results = fast?.(hosts, attrs, outputs) ?? kernel.cpu(hosts, attrs, outputs);
    if (results.length !== outputs.length) {
      throw new Error(`kernel ${kernel.name} returned ${results.length} outputs, expected ${outputs.length}`);
    }
    results.forEach((r, i) => {
      const o = outputs[i]!;
      if (r.length !== storageLength(o.dtype, sizeOf(o.shape)) || !arrayMatches(r, o.dtype)) {
        throw new Error(
          `kernel ${kernel.name}: output ${i} has ${r.length} values of ${r.constructor.name}, ` +
            `expected ${o.dtype}${formatShape(o.shape)}`,
        );
      }
      this.#track(r);
    });
    return results;
  }

  #track(data: TypedArray): void {
    this.#liveBuffers++;
    this.#liveBytes += data.byteLength;
  }

  #check(): void {
    if (this.#disposed) throw new Error('the cpu backend was disposed');
  }

  flush(): void {}

  async sync(): Promise<void> {}

  stats(): BackendStats {
    return {
      liveTensors: liveTensorCount(this),
      liveBuffers: this.#liveBuffers,
      liveBytes: this.#liveBytes,
      pooledBuffers: 0,
      pooledBytes: 0,
    };
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#onDispose?.();
  }
}
