import type { Backend, BackendStats, TensorInfo } from '../../backend.js';
import { allocArray, storageLength, type TypedArray } from '../../dtype.js';
import { liveTensorCount } from '../../engine.js';
import type { Kernel } from '../../kernel.js';
import { sizeOf } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { BindGroupCache } from './bindGroupCache.js';
import { BufferPool } from './bufferPool.js';
import { deviceError } from './deviceErrors.js';
import { type GpuContext, type GpuFeatures, type GpuTensor, gpuByteLength } from './context.js';

const STORAGE = 0x0080 | 0x0004 | 0x0008; // STORAGE | COPY_SRC | COPY_DST
const UNIFORM = 0x0040 | 0x0008; // UNIFORM | COPY_DST
const MAP_READ = 0x0001 | 0x0008; // MAP_READ | COPY_DST
const UNIFORM_CHUNK = 64 * 1024;
// Dispatches per submit: by default all of them at the read (each submit costs CPU time: on
// llvmpipe, submitting every 32 made 300 dispatches encode in 2.4 instead of 1.7 ms). Whether the
// GPU starting earlier wins that back is measured on a lent GPU (clip-webgpu.ts --ab).
const DEFAULT_SUBMIT_EVERY = Number.POSITIVE_INFINITY;
// How Dawn words an error that only follows from an earlier one (an object made from an invalid one).
const CONSEQUENTIAL = /is invalid due to a previous error/;

interface UniformChunk {
  buffer: GPUBuffer;
  data: Uint8Array;
  used: number;
}

/** The buffer a kernel binds: a tensor's, or a scratch buffer itself. */
function gpuBufferOf(b: GpuTensor | GPUBuffer): GPUBuffer {
  return 'buffer' in b ? b.buffer : b;
}

/** Options for the WebGPU backend. */
export interface WebGpuBackendOptions {
  /**
   * Bytes of free buffers kept for reuse before freed buffers are destroyed. Default: as many as
   * were in use at once (at least 2 GiB), so repeated work of the same sizes allocates nothing
   * after its first run; `trim()` frees them. Give a number to cap what is kept.
   */
  maxPooledBytes?: number;
  /**
   * Submit the queued dispatches every this many, so the GPU starts on the first kernels of a
   * forward pass while the rest are still being encoded instead of idling until the read (each
   * submit costs some CPU time). Default `Infinity`: submit at reads and flushes only.
   */
  submitEvery?: number;
}

/**
 * @internal Checks the numeric backend options (before a device exists, and again in the
 * constructor), throwing on a bad one with its field's name; returns the dispatches per submit.
 */
export function checkBackendOptions(options: WebGpuBackendOptions): number {
  const submitEvery = options.submitEvery ?? DEFAULT_SUBMIT_EVERY;
  if (!(submitEvery >= 1))
    throw new RangeError(`webgpu backend: submitEvery must be at least 1 (or Infinity), got ${submitEvery}`);
  const pooled = options.maxPooledBytes;
  // NaN would make the pool unbounded without a word.
  if (pooled !== undefined && !(pooled >= 0))
    throw new RangeError(`webgpu backend: maxPooledBytes must be 0 or more (or Infinity), got ${pooled}`);
  return submitEvery;
}

/**
 * The WebGPU backend: pipelines cached by key, storage buffers pooled by size, every dispatch
 * queued into one compute pass until a read (or an explicit flush) submits them, one readback.
 * `createBackend('webgpu')` (or `'auto'` where WebGPU is available) makes one.
 *
 * @example
 * ```ts
 * const backend = await createBackend('webgpu');
 * if (backend instanceof WebGpuBackend) console.log(backend.features.shaderF16); // true where f16 runs
 * const x = tensor([1, 2, 3, 4], [2, 2], { backend }); // [2, 2] in a GPU storage buffer
 * backend.dispose(); // in Node, releases the Dawn device that keeps the process alive
 * ```
 */
export class WebGpuBackend implements Backend, GpuContext {
  readonly kind = 'webgpu' as const;
  readonly name: string;
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  readonly maxTensorBytes: number;
  #disposed = false;
  #lost: string | undefined;
  #error: string | undefined;
  readonly #pipelines = new Map<string, GPUComputePipeline>();
  readonly #layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  readonly #pool: BufferPool;
  readonly #staging: BufferPool;
  #encoder: GPUCommandEncoder | undefined;
  #pass: GPUComputePassEncoder | undefined;
  #dispatches = 0;
  readonly #submitEvery: number;
  #uniformChunks: UniformChunk[] = [];
  #freeChunks: UniformChunk[] = [];
  #scratch: GPUBuffer[] = [];
  #deviceErrors: GPUBuffer | undefined;
  #pendingCompiles: Promise<string | undefined>[] = [];
  /** The kernel being encoded (for messages). */
  #running: string | undefined;
  /** Output buffers of kernels encoded since the last submit. */
  readonly #unsubmitted: GPUBuffer[] = [];
  /** Buffers whose kernels a shader error dropped before they ran (until reused). */
  #dropped: WeakSet<GPUBuffer> | undefined; // made at the first drop: nothing to look up before
  /** Whether a shader error has been reported (its consequential errors are then dropped). */
  #shaderErrorReported = false;
  readonly #bindGroups = new BindGroupCache();
  // What the open compute pass has bound, to skip redundant setPipeline/setBindGroup calls.
  #passPipeline: GPUComputePipeline | undefined;
  #passBindGroup: GPUBindGroup | undefined;
  readonly #uniformAlign: number;
  /** @internal Objects the device depends on that must not be garbage collected before it. */
  keepAlive: unknown[] = [];
  /** Dispatches submitted since creation (for tests and benchmarks). */
  dispatchCount = 0;

  constructor(
    readonly device: GPUDevice,
    description: string,
    options: WebGpuBackendOptions = {},
  ) {
    this.name = `webgpu (${description})`;
    this.limits = device.limits;
    this.maxTensorBytes = device.limits.maxStorageBufferBindingSize;
    this.#uniformAlign = device.limits.minUniformBufferOffsetAlignment;
    this.features = {
      subgroups: device.features.has('subgroups' as GPUFeatureName),
      shaderF16: device.features.has('shader-f16'),
      timestampQuery: device.features.has('timestamp-query'),
    };
    this.#submitEvery = checkBackendOptions(options);
    this.#pool = new BufferPool(device, STORAGE, options.maxPooledBytes);
    this.#pool.onDestroy = (buffer) => this.#bindGroups.forget(buffer);
    this.#staging = new BufferPool(device, MAP_READ, 256 * 2 ** 20);
    device.lost.then((info) => {
      if (!this.#disposed) this.#lost = `${info.reason}: ${info.message}`;
    });
    device.onuncapturederror = (event) => {
      // Dawn's errors that only follow from a shader error (the invalid pipeline's layout, a
      // command buffer that used it) would fail the next read too: dropped once it is reported
      // (#checkCompiles drops one that came before).
      if (this.#shaderErrorReported && CONSEQUENTIAL.test(event.error.message)) return;
      this.#error ??= event.error.message;
    };
  }

  get disposed(): boolean {
    return this.#disposed || this.#lost !== undefined;
  }

  /** Why the device was lost (the `GPUDeviceLostInfo` reason and message), once it was; then every call fails saying so. */
  get lost(): string | undefined {
    return this.#lost;
  }

  #check(): void {
    if (this.#lost !== undefined) {
      throw new Error(
        `WebGPU device lost (${this.#lost}); create a new backend with createBackend('webgpu')`,
      );
    }
    if (this.#disposed) throw new Error('the webgpu backend was disposed');
  }

  #throwPendingError(): void {
    if (this.#error !== undefined) {
      const message = this.#error;
      this.#error = undefined;
      throw new Error(`WebGPU error: ${message}`);
    }
  }

  /** A tensor past maxStorageBufferBindingSize cannot be bound: say so instead of Dawn's validation errors. */
  #checkBindable(what: string, info: TensorInfo, bytes: number): void {
    if (bytes > this.maxTensorBytes) {
      throw new RangeError(
        `${what}: a ${info.dtype} tensor of shape [${info.shape.join(', ')}] is ${bytes} bytes, over this device's maxStorageBufferBindingSize of ${this.maxTensorBytes}; split the work (a smaller batch)`,
      );
    }
  }

  upload(data: TypedArray, info: TensorInfo): GPUBuffer {
    this.#check();
    const byteLength = gpuByteLength(info.dtype, sizeOf(info.shape));
    this.#checkBindable('upload', info, byteLength);
    // queue.writeBuffer runs before commands still being encoded, so submit those first.
    if (this.#dispatches > 0) this.flush();
    const buffer = this.#pool.acquire(byteLength);
    this.#dropped?.delete(buffer);
    if (byteLength > 0)
      this.device.queue.writeBuffer(buffer, 0, toGpuBytes(data, info, byteLength) as Uint8Array<ArrayBuffer>);
    return buffer;
  }

  async download(handle: unknown, info: TensorInfo): Promise<TypedArray> {
    this.#check();
    const size = sizeOf(info.shape);
    const byteLength = gpuByteLength(info.dtype, size);
    if (byteLength === 0) return allocArray(info.dtype, 0);
    if (this.#dropped?.has(handle as GPUBuffer)) throw droppedError(info);
    // Once a kernel has bound the device-error flags, every read brings them back with its bytes.
    const flags = this.#deviceErrors;
    const mapped = byteLength + (flags ? 4 : 0);
    const staging = this.#staging.acquire(mapped);
    // The copy is encoded now, before any await: the caller may dispose the tensor (and its buffer
    // go to another tensor) or encode more work into it as soon as read() returns its promise.
    this.copy(handle as GPUBuffer, 0, staging, 0, byteLength);
    if (flags) this.copy(flags, 0, staging, byteLength, 4);
    try {
      await this.#checkCompiles();
    } catch (e) {
      this.#staging.release(staging); // never submitted: the shader error dropped its copy
      throw e;
    }
    this.flush();
    try {
      await staging.mapAsync(1 /* GPUMapMode.READ */, 0, mapped);
    } catch (e) {
      staging.destroy();
      this.#check();
      // The cause (out of memory, a validation error) arrives as an uncaptured error: wait for it.
      await this.device.queue.onSubmittedWorkDone().catch(() => {});
      this.#throwPendingError();
      const why = (e as Error).message || (e as Error).name || String(e);
      throw new Error(`WebGPU: reading a ${info.dtype}[${info.shape.join(', ')}] tensor failed (${why})`, {
        cause: e,
      });
    }
    const bytes = new Uint8Array(staging.getMappedRange(0, mapped).slice(0));
    staging.unmap();
    this.#staging.release(staging);
    this.#throwPendingError();
    if (flags) {
      const bits = new DataView(bytes.buffer).getUint32(byteLength, true);
      if (bits !== 0) {
        // Cleared for later reads (reads already in flight have copied the flags and throw too).
        this.device.queue.writeBuffer(flags, 0, new Uint32Array(1));
        throw deviceError(bits);
      }
    }
    return fromGpuBytes(bytes.subarray(0, byteLength), info, storageLength(info.dtype, size));
  }

  release(handle: unknown): void {
    this.#pool.release(handle as GPUBuffer);
    // With nothing encoded, a buffer released past the pool's cap can go now; else after the submit.
    if (!this.#encoder) this.#pool.destroyReleased();
  }

  execute(
    kernel: Kernel,
    inputs: readonly Tensor[],
    outputs: readonly TensorInfo[],
    attrs: unknown,
  ): unknown[] {
    this.#check();
    if (!kernel.webgpu) throw new Error(`kernel ${kernel.name} has no WebGPU implementation`);
    // Plain loops, not map(): this runs once per op, and small kernels are dominated by such costs.
    const ins: GpuTensor[] = new Array(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      const t = inputs[i]!;
      if (this.#dropped?.has(t.handle as GPUBuffer)) throw droppedError(t);
      ins[i] = { buffer: t.handle as GPUBuffer, shape: t.shape, dtype: t.dtype, size: t.size };
    }
    const outs: GpuTensor[] = new Array(outputs.length);
    for (let i = 0; i < outputs.length; i++) {
      const o = outputs[i]!;
      const size = sizeOf(o.shape);
      const bytes = gpuByteLength(o.dtype, size);
      this.#checkBindable(kernel.name, o, bytes);
      const buffer = this.#pool.acquire(bytes);
      this.#dropped?.delete(buffer);
      this.#unsubmitted.push(buffer);
      outs[i] = { buffer, shape: o.shape, dtype: o.dtype, size };
    }
    this.#running = kernel.name;
    try {
      kernel.webgpu(this, ins, outs, attrs);
    } catch (e) {
      for (const o of outs) this.#pool.release(o.buffer);
      throw e;
    } finally {
      this.#running = undefined;
      if (this.#scratch.length > 0) {
        for (const s of this.#scratch) this.#pool.release(s);
        this.#scratch.length = 0;
      }
    }
    const handles: unknown[] = new Array(outs.length);
    for (let i = 0; i < outs.length; i++) handles[i] = outs[i]!.buffer;
    return handles;
  }

  pipeline(key: string, code: () => string): GPUComputePipeline {
    let p = this.#pipelines.get(key);
    if (!p) {
      // Compilation errors surface asynchronously; they are awaited before the next submit that
      // a read waits on, so an invalid shader is reported instead of hanging the readback.
      const source = code(); // a builder that throws must not leave the error scope open
      this.device.pushErrorScope('validation');
      const module = this.device.createShaderModule({ code: source, label: key });
      p = this.device.createComputePipeline({
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
        label: key,
      });
      this.#pendingCompiles.push(
        this.device.popErrorScope().then((e) => (e ? `pipeline ${key}: ${e.message}` : undefined)),
      );
      this.#pipelines.set(key, p);
    }
    return p;
  }

  /** Awaits pending shader compilations; on an error, drops the queued work and throws it. */
  async #checkCompiles(): Promise<void> {
    if (this.#pendingCompiles.length === 0) return;
    const pending = this.#pendingCompiles;
    this.#pendingCompiles = [];
    const errors = (await Promise.all(pending)).filter((e): e is string => e !== undefined);
    if (errors.length > 0) {
      this.#shaderErrorReported = true;
      if (this.#error !== undefined && CONSEQUENTIAL.test(this.#error)) this.#error = undefined;
      this.#pass = undefined;
      this.#encoder = undefined;
      this.#dispatches = 0;
      // What the dropped work would have written is never computed: reading it must say so.
      this.#dropped ??= new WeakSet();
      for (const b of this.#unsubmitted) this.#dropped.add(b);
      this.#unsubmitted.length = 0;
      for (const c of this.#uniformChunks) c.used = 0;
      this.#freeChunks.push(...this.#uniformChunks);
      this.#uniformChunks = [];
      for (const key of this.#pipelines.keys()) {
        if (errors.some((e) => e.startsWith(`pipeline ${key}:`))) this.#pipelines.delete(key);
      }
      throw new Error(`WebGPU shader error: ${errors.join('\n')}`);
    }
  }

  /** The device-error flags kernels set on a bad index (see deviceErrors.ts); read back by every read once created. */
  deviceErrors(): GPUBuffer {
    // Zeroed at creation (WebGPU clears new buffers); destroyed with the device.
    this.#deviceErrors ??= this.device.createBuffer({ size: 16, usage: STORAGE, label: 'device-errors' });
    return this.#deviceErrors;
  }

  scratch(byteLength: number): GPUBuffer {
    if (byteLength > this.maxTensorBytes) {
      throw new RangeError(
        `${this.#running ?? 'a kernel'}: its working buffer of ${byteLength} bytes is over this device's maxStorageBufferBindingSize of ${this.maxTensorBytes}; split the work (a smaller batch)`,
      );
    }
    const b = this.#pool.acquire(byteLength);
    this.#scratch.push(b);
    return b;
  }

  dispatch(
    pipeline: GPUComputePipeline,
    buffers: readonly (GpuTensor | GPUBuffer)[],
    uniforms: Uint8Array | undefined,
    workgroups: readonly [number, number?, number?],
  ): void {
    // Bind groups are reused (bindGroupCache.ts): the key path is the pipeline, each buffer, the uniform slot.
    const cache = this.#bindGroups;
    let node = cache.root(pipeline);
    for (let i = 0; i < buffers.length; i++) node = cache.child(node, gpuBufferOf(buffers[i]!));
    let uniformOffset = 0;
    let uniformBuffer: GPUBuffer | undefined;
    if (uniforms) {
      uniformOffset = this.#uniform(uniforms);
      uniformBuffer = this.#uniformChunks[this.#uniformChunks.length - 1]!.buffer;
      // Offsets and sizes stay below 2^16 (UNIFORM_CHUNK), so one number names the slot.
      node = cache.child(cache.child(node, uniformBuffer), uniformOffset * 0x10000 + uniforms.byteLength);
    }
    let bindGroup = node.group;
    if (!bindGroup) {
      bindGroup = this.#createBindGroup(pipeline, buffers, uniformBuffer, uniformOffset, uniforms);
      cache.set(node, bindGroup);
    }
    const pass = this.#computePass();
    // Each call into Dawn costs microseconds in Node: skip the ones that would change nothing.
    if (this.#passPipeline !== pipeline) {
      pass.setPipeline(pipeline);
      this.#passPipeline = pipeline;
    }
    if (this.#passBindGroup !== bindGroup) {
      pass.setBindGroup(0, bindGroup);
      this.#passBindGroup = bindGroup;
    }
    const x = workgroups[0];
    const y = workgroups[1] ?? 1;
    const z = workgroups[2] ?? 1;
    // Dawn converts each argument it is given: a 1-D grid passes one (~0.2 us less per dispatch).
    if (y === 1 && z === 1) {
      if (x > 0) pass.dispatchWorkgroups(x);
    } else if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    this.#dispatches++;
    this.dispatchCount++;
    if (this.#dispatches >= this.#submitEvery) this.flush();
  }

  #createBindGroup(
    pipeline: GPUComputePipeline,
    buffers: readonly (GpuTensor | GPUBuffer)[],
    uniformBuffer: GPUBuffer | undefined,
    uniformOffset: number,
    uniforms: Uint8Array | undefined,
  ): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = buffers.map((b, i) => ({
      binding: i,
      resource: { buffer: gpuBufferOf(b) },
    }));
    if (uniformBuffer && uniforms) {
      entries.push({
        binding: buffers.length,
        resource: { buffer: uniformBuffer, offset: uniformOffset, size: uniforms.byteLength },
      });
    }
    let layout = this.#layouts.get(pipeline);
    if (!layout) this.#layouts.set(pipeline, (layout = pipeline.getBindGroupLayout(0)));
    return this.device.createBindGroup({ layout, entries });
  }

  /** Encodes a buffer-to-buffer copy (outside the compute pass) in queue order. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, byteLength: number): void {
    this.#endPass();
    this.#encode().copyBufferToBuffer(src, srcOffset, dst, dstOffset, byteLength);
    this.#dispatches++;
  }

  /** Copies `data` into the current uniform chunk; returns its offset there (the chunk is the last one). */
  #uniform(data: Uint8Array): number {
    let chunk = this.#uniformChunks[this.#uniformChunks.length - 1];
    if (!chunk || chunk.used + data.byteLength > UNIFORM_CHUNK) {
      chunk = this.#freeChunks.pop() ?? {
        buffer: this.device.createBuffer({ size: UNIFORM_CHUNK, usage: UNIFORM }),
        data: new Uint8Array(UNIFORM_CHUNK),
        used: 0,
      };
      this.#uniformChunks.push(chunk);
    }
    const offset = chunk.used;
    chunk.data.set(data, offset);
    chunk.used = Math.ceil((offset + data.byteLength) / this.#uniformAlign) * this.#uniformAlign;
    return offset;
  }

  #encode(): GPUCommandEncoder {
    this.#encoder ??= this.device.createCommandEncoder();
    return this.#encoder;
  }

  #computePass(): GPUComputePassEncoder {
    if (!this.#pass) {
      // A new pass starts with nothing bound (also after an error dropped the previous one).
      this.#pass = this.#encode().beginComputePass();
      this.#passPipeline = undefined;
      this.#passBindGroup = undefined;
    }
    return this.#pass;
  }

  #endPass(): void {
    this.#pass?.end();
    this.#pass = undefined;
  }

  flush(): void {
    if (!this.#encoder || this.disposed) return;
    this.#endPass();
    // Uniform data goes in with writeBuffer, which the queue orders before this submit.
    for (const c of this.#uniformChunks)
      this.device.queue.writeBuffer(c.buffer, 0, c.data as Uint8Array<ArrayBuffer>, 0, c.used);
    this.device.queue.submit([this.#encoder.finish()]);
    this.#encoder = undefined;
    this.#dispatches = 0;
    this.#unsubmitted.length = 0;
    this.#pool.destroyReleased();
    for (const c of this.#uniformChunks) c.used = 0;
    this.#freeChunks.push(...this.#uniformChunks);
    this.#uniformChunks = [];
  }

  async sync(): Promise<void> {
    this.#check();
    await this.#checkCompiles();
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.#check(); // a device lost while the work ran
    this.#throwPendingError();
  }

  stats(): BackendStats {
    return {
      liveTensors: liveTensorCount(this),
      liveBuffers: this.#pool.liveCount,
      liveBytes: this.#pool.liveBytes,
      pooledBuffers: this.#pool.pooledCount,
      pooledBytes: this.#pool.pooledBytes,
      otherBytes:
        this.#staging.liveBytes +
        this.#staging.pooledBytes +
        (this.#uniformChunks.length + this.#freeChunks.length) * UNIFORM_CHUNK,
    };
  }

  /** Frees pooled buffers now (they are reused otherwise). */
  trim(): void {
    this.flush(); // pooled buffers may be used by commands not yet submitted
    this.#bindGroups.clear();
    this.#pool.trim();
    this.#staging.trim();
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#pass = undefined;
    this.#encoder = undefined;
    this.#bindGroups.clear();
    this.#pool.trim();
    this.#staging.trim();
    for (const c of [...this.#uniformChunks, ...this.#freeChunks]) c.buffer.destroy();
    this.#pipelines.clear();
    this.device.destroy();
    this.keepAlive = [];
  }
}

function droppedError(info: TensorInfo): Error {
  return new Error(
    `WebGPU: this ${info.dtype}[${info.shape.join(', ')}] tensor was never computed: a shader error dropped the work queued with it (the error was thrown by an earlier read); compute it again`,
  );
}

function toGpuBytes(data: TypedArray, info: TensorInfo, byteLength: number): Uint8Array {
  if (info.dtype === 'bool') {
    const words = new Uint32Array(data.length);
    for (let i = 0; i < data.length; i++) words[i] = data[i] ? 1 : 0;
    return new Uint8Array(words.buffer);
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength === byteLength) return bytes;
  const padded = new Uint8Array(byteLength);
  padded.set(bytes);
  return padded;
}

function fromGpuBytes(bytes: Uint8Array, info: TensorInfo, size: number): TypedArray {
  const out = allocArray(info.dtype, size);
  if (info.dtype === 'bool') {
    const words = new Uint32Array(bytes.buffer, 0, size);
    for (let i = 0; i < size; i++) out[i] = words[i] ? 1 : 0;
    return out;
  }
  new Uint8Array(out.buffer).set(bytes.subarray(0, out.byteLength));
  return out;
}
