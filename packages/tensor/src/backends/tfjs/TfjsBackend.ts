import type { Backend, BackendStats, TensorInfo } from '../../backend.js';
import {
  allocArray,
  bf16ToF32,
  type DType,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  isQuantized,
  storageLength,
  type TypedArray,
} from '../../dtype.js';
import { dequantizeArray } from '../../kernels/quantize/codec.js';
import { sizeOf } from '../../shape.js';
import { liveTensorCount } from '../../engine.js';
import type { HostTensor, Kernel, TfjsCore, TfjsTensor } from '../../kernel.js';
import type { Tensor } from '../../tensor.js';

/** Options for the tfjs backend. */
export interface TfjsBackendOptions {
  /**
   * The `@tensorflow/tfjs-core` namespace with a backend registered (cpu, wasm, webgl, webgpu);
   * imported on demand when not given.
   */
  tf?: TfjsCore;
  /** The tfjs backend to select with `tf.setBackend` (default: whichever is active). */
  tfBackend?: string;
}

function tfDType(dtype: DType): 'float32' | 'int32' | 'bool' {
  if (dtype === 'i32' || dtype === 'u32' || isQuantized(dtype)) return 'int32';
  if (dtype === 'bool') return 'bool';
  return 'float32';
}

/**
 * Runs kernels through `@tensorflow/tfjs-core` ops on the registered tfjs backend. Handles are
 * `tf.Tensor`s; f16/bf16 are held as float32 and converted back on read; u32 is held as int32.
 * Kernels without a tfjs implementation, or whose tfjs implementation declines the inputs (returns
 * undefined), run their CPU reference on the tensors' data; so do kernels with an empty input or
 * output and those using a tfjs op the active tfjs backend lacks. The tf.Tensors it makes are
 * `tf.keep`-ed: a caller's `tf.tidy` does not free vl tensors made inside it.
 * `createBackend('tfjs')` makes one; `@tensorflow/tfjs-core` and a tfjs backend must be installed.
 *
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-cpu'; // registers tfjs's cpu backend
 * const backend = await createBackend('tfjs');
 * if (backend instanceof TfjsBackend) console.log(backend.tf.getBackend()); // "cpu"
 * const x = tensor([1, 2, 3, 4], [2, 2], { backend }); // [2, 2], held as a tf.Tensor
 * ```
 */
export class TfjsBackend implements Backend {
  readonly kind = 'tfjs' as const;
  readonly name: string;
  #disposed = false;
  #live = new Set<TfjsTensor>();

  private constructor(readonly tf: TfjsCore) {
    this.name = `tfjs (${tf.getBackend()})`;
  }

  /** Creates the backend, importing tfjs-core when `options.tf` is not given. */
  static async create(options: TfjsBackendOptions = {}): Promise<TfjsBackend> {
    let tf = options.tf;
    if (!tf) {
      try {
        tf = await import('@tensorflow/tfjs-core');
      } catch {
        throw new Error(
          "createBackend('tfjs'): @tensorflow/tfjs-core is not installed; install it with a tfjs backend " +
            '(e.g. @tensorflow/tfjs-backend-cpu) or pass options.tfjs.tf',
        );
      }
    }
    if (options.tfBackend) {
      // tf.setBackend throws its own message for a name it does not know; list the known ones.
      const registered = Object.keys(tf.engine().registryFactory);
      if (!tf.findBackendFactory(options.tfBackend))
        throw new Error(
          `createBackend('tfjs'): no tfjs backend '${options.tfBackend}' is registered; registered: ` +
            `${registered.join(', ') || 'none'} (import a tfjs backend package, e.g. ` +
            `'@tensorflow/tfjs-backend-wasm', before creating the backend)`,
        );
      const ok = await tf.setBackend(options.tfBackend);
      if (!ok)
        throw new Error(
          `createBackend('tfjs'): tfjs backend '${options.tfBackend}' could not be initialized ` +
            `(registered: ${registered.join(', ')})`,
        );
    }
    try {
      await tf.ready();
    } catch (e) {
      throw new Error(
        "createBackend('tfjs'): no tfjs backend is registered; import one first, e.g. " +
          `'@tensorflow/tfjs-backend-cpu' or '@tensorflow/tfjs-backend-wasm' (${(e as Error).message})`,
      );
    }
    return new TfjsBackend(tf);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  upload(data: TypedArray, info: TensorInfo): TfjsTensor {
    this.#check();
    // tf.tensor keeps the array it is given (tfjs-backend-cpu stores it as the tensor's values), so
    // the caller's array is copied: later writes to it must not change the tensor. (f16 and bf16
    // are converted to a new Float32Array anyway.)
    const halves = info.dtype === 'f16' || info.dtype === 'bf16';
    return this.#uploadOwned(halves ? data : data.slice(), info);
  }

  /** Uploads an array nobody else holds (a fresh copy, or a CPU kernel's output) without copying it. */
  #uploadOwned(data: TypedArray, info: TensorInfo): TfjsTensor {
    let values: TypedArray | Float32Array = data;
    if (info.dtype === 'f16') values = Float32Array.from(data, f16ToF32);
    else if (info.dtype === 'bf16') values = Float32Array.from(data, bf16ToF32);
    else if (info.dtype === 'u32' || isQuantized(info.dtype))
      values = new Int32Array(data.buffer, data.byteOffset, data.length);
    // Quantized weights keep their packed words (and scales) as a flat int32 tensor.
    const shape = isQuantized(info.dtype) ? [storageLength(info.dtype, sizeOf(info.shape))] : [...info.shape];
    return this.#track(this.tf.tensor(values, shape, tfDType(info.dtype)));
  }

  async download(handle: unknown, info: TensorInfo): Promise<TypedArray> {
    this.#check();
    return fromTf(await (handle as TfjsTensor).data(), info.dtype);
  }

  release(handle: unknown): void {
    const t = handle as TfjsTensor;
    if (this.#live.delete(t)) t.dispose();
  }

  execute(
    kernel: Kernel,
    inputs: readonly Tensor[],
    outputs: readonly TensorInfo[],
    attrs: unknown,
  ): TfjsTensor[] {
    this.#check();
    // A reshape view shares its source's tf.Tensor, which keeps the source's shape. Quantized
    // weights reach tfjs kernels dequantized to float32 (tfjs has no such dtype); kernels without a
    // tfjs implementation get their packed words.
    const handles = inputs.map((t) => {
      const h = t.handle as TfjsTensor;
      if (isQuantized(t.dtype)) {
        if (!kernel.tfjs) return h;
        const words = new Uint32Array((h.dataSync() as Int32Array).slice().buffer);
        return this.tf.tensor(dequantizeArray(words, t.dtype, sizeOf(t.shape)), [...t.shape], 'float32');
      }
      return h.shape.length === t.shape.length && h.shape.every((d: number, i: number) => d === t.shape[i])
        ? h
        : this.tf.reshape(h, [...t.shape]);
    });
    const views = handles.filter((h, i) => h !== inputs[i]!.handle);
    try {
      return this.#run(kernel, inputs, handles, outputs, attrs);
    } finally {
      for (const v of views) v.dispose();
    }
  }

  #run(
    kernel: Kernel,
    inputs: readonly Tensor[],
    handles: TfjsTensor[],
    outputs: readonly TensorInfo[],
    attrs: unknown,
  ): TfjsTensor[] {
    // With an empty input or output, tfjs's backends disagree (wasm reads uninitialised memory or
    // divides by zero, reshapes with -1 fail): the reference does no work there anyway.
    const empty = inputs.some((t) => t.size === 0) || outputs.some((o) => sizeOf(o.shape) === 0);
    const results = kernel.tfjs && !empty ? this.#tfjs(kernel, inputs, handles, outputs, attrs) : undefined;
    if (results) {
      return results.map((r, i) => {
        // An output must own its tf.Tensor: one returned as is from the inputs is copied.
        const owned = handles.includes(r) ? this.tf.clone(r) : r;
        const want = tfDType(outputs[i]!.dtype);
        if (owned.dtype === want) return this.#track(owned);
        const cast = this.tf.cast(owned, want);
        owned.dispose();
        return this.#track(cast);
      });
    }
    // The tensors' own handles: the same data as a reshape view, and packed words where `handles`
    // holds a dequantized copy.
    const hosts: HostTensor[] = inputs.map((t) => ({
      data: fromTf((t.handle as TfjsTensor).dataSync(), t.dtype),
      shape: t.shape,
      dtype: t.dtype,
    }));
    return kernel.cpu(hosts, attrs, outputs).map((data, i) => this.#uploadOwned(data, outputs[i]!));
  }

  /**
   * The kernel's tfjs implementation inside a tidy; undefined where it declines the inputs or tfjs
   * lacks one of its ops on this tfjs backend (the reference runs then). Other tfjs errors are
   * rethrown naming the kernel and the inputs; vl's own RangeErrors, which name the op, pass as is.
   */
  #tfjs(
    kernel: Kernel,
    inputs: readonly Tensor[],
    handles: TfjsTensor[],
    outputs: readonly TensorInfo[],
    attrs: unknown,
  ): TfjsTensor[] | undefined {
    try {
      return this.tf.tidy(() => kernel.tfjs!(this.tf, handles, attrs, outputs, inputs));
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (/^Kernel '\w+' not registered for backend/.test(message)) return undefined;
      if (e instanceof RangeError) throw e;
      throw new Error(
        `${kernel.name} on tfjs (${this.tf.getBackend()}) with inputs ` +
          `${inputs.map((t) => t.describe()).join(', ') || 'none'}: ${message}`,
        { cause: e },
      );
    }
  }

  /**
   * Records a tf.Tensor this backend owns. tf.keep takes it out of any tf.tidy the caller has
   * open: vl frees it in release/dispose, and a user's scope must not.
   */
  #track(t: TfjsTensor): TfjsTensor {
    this.tf.keep(t);
    this.#live.add(t);
    return t;
  }

  #check(): void {
    if (this.#disposed) throw new Error('the tfjs backend was disposed');
  }

  flush(): void {}

  async sync(): Promise<void> {}

  stats(): BackendStats {
    let bytes = 0;
    for (const t of this.#live) bytes += t.size * 4;
    return {
      liveTensors: liveTensorCount(this),
      liveBuffers: this.#live.size,
      liveBytes: bytes,
      pooledBuffers: 0,
      pooledBytes: 0,
    };
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of this.#live) t.dispose();
    this.#live.clear();
  }
}

function fromTf(values: TypedArray, dtype: DType): TypedArray {
  const out = allocArray(dtype, values.length);
  if (dtype === 'f16') for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
  else if (dtype === 'bf16') for (let i = 0; i < values.length; i++) out[i] = f32ToBf16(values[i]!);
  else out.set(values as never);
  return out;
}
