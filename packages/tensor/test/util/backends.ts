// Backends every kernel test runs on: the pure reference CPU backend, the default CPU backend
// (with its accelerated kernels), WebGPU (Dawn in Node; SwiftShader in CI) and tfjs on its cpu and
// wasm backends. A missing WebGPU adapter fails loudly when VL_REQUIRE_WEBGPU is set (CI sets it).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { webgpuRequired } from '@vl/vitest-config/fixture-backends';
import { create } from 'webgpu';
import { afterAll } from 'vitest';
import {
  type Backend,
  type BackendStats,
  CpuBackend,
  createBackend,
  type Kernel,
  type Tensor,
  type TensorInfo,
  type TypedArray,
  WebGpuBackend,
  type WebGpuOptions,
} from '../../src/index.node.js';
import { liveTensorCount } from '../../src/engine.js';

export interface NamedBackend {
  label: string;
  backend: Backend;
}

let gpuWarned = false;

/** A WebGPU backend, or undefined (after a loud warning) when no adapter exists and none is required. */
export async function maybeWebGpu(webgpu: WebGpuOptions = {}): Promise<Backend | undefined> {
  try {
    return await createBackend('webgpu', { webgpu });
  } catch (e) {
    if (webgpuRequired()) {
      throw new Error(
        `VL_REQUIRE_WEBGPU is set but no WebGPU backend could be created: ${(e as Error).message}`,
      );
    }
    if (!gpuWarned) {
      gpuWarned = true;
      console.warn(
        `\n*** WebGPU UNAVAILABLE: WebGPU kernel checks are NOT running (${(e as Error).message}) ***\n`,
      );
    }
    return undefined;
  }
}

/** A second WebGPU backend on a device created without the subgroups feature (the fallback path). */
async function webgpuWithoutSubgroups(): Promise<Backend | undefined> {
  const gpu = create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter?.features.has('subgroups' as GPUFeatureName)) return undefined;
  const device = await adapter.requestDevice({ requiredFeatures: [] });
  const backend = new WebGpuBackend(
    device,
    `${adapter.info.description || adapter.info.vendor}, no subgroups`,
  );
  backend.keepAlive = [gpu, adapter];
  return backend;
}

/**
 * A tfjs backend that runs on tfjs backend `tfName` whichever one the last call selected: tfjs has
 * one active backend per process, and the suites run tfjs-cpu and tfjs-wasm side by side.
 * `tf.setBackend` switches synchronously to a backend that is already initialized.
 */
class PinnedTfjs implements Backend {
  readonly kind = 'tfjs' as const;
  readonly name: string;
  constructor(
    readonly inner: Backend,
    readonly tfName: string,
  ) {
    this.name = `${inner.name}, pinned`;
  }
  get disposed(): boolean {
    return this.inner.disposed;
  }
  #select(): void {
    if (tf.getBackend() === this.tfName) return;
    void tf.setBackend(this.tfName);
    if (tf.getBackend() !== this.tfName)
      throw new Error(`tfjs backend ${this.tfName} did not switch at once`);
  }
  upload(data: TypedArray, info: TensorInfo): unknown {
    this.#select();
    return this.inner.upload(data, info);
  }
  download(handle: unknown, info: TensorInfo): Promise<TypedArray> {
    return this.inner.download(handle, info);
  }
  release(handle: unknown, info: TensorInfo): void {
    this.inner.release(handle, info);
  }
  execute(
    kernel: Kernel,
    inputs: readonly Tensor[],
    outputs: readonly TensorInfo[],
    attrs: unknown,
  ): unknown[] {
    this.#select();
    return this.inner.execute(kernel, inputs, outputs, attrs);
  }
  flush(): void {}
  async sync(): Promise<void> {}
  stats(): BackendStats {
    // Tensors are counted under the backend they were made on: this one.
    return { ...this.inner.stats(), liveTensors: liveTensorCount(this) };
  }
  dispose(): void {
    this.inner.dispose();
  }
}

async function pinnedTfjs(tfName: string): Promise<Backend> {
  await tf.setBackend(tfName);
  return new PinnedTfjs(await createBackend('tfjs', { tfjs: { tf } }), tfName);
}

/**
 * The reference backend (kernels' `cpu` functions only) and every backend to check against it.
 * `withoutSubgroups` adds a WebGPU device without the subgroups feature when the main one has it,
 * so kernels with a subgroup path also check their workgroup-memory fallback.
 */
export async function kernelBackends(options: { withoutSubgroups?: boolean } = {}): Promise<{
  reference: Backend;
  others: NamedBackend[];
  dispose(): void;
}> {
  const reference = new CpuBackend({ description: 'reference' });
  const others: NamedBackend[] = [{ label: 'cpu', backend: await createBackend('cpu') }];
  const gpu = await maybeWebGpu();
  if (gpu) others.push({ label: 'webgpu', backend: gpu });
  if (gpu && options.withoutSubgroups && (gpu as WebGpuBackend).features.subgroups) {
    const plain = await webgpuWithoutSubgroups();
    if (plain) others.push({ label: 'webgpu-no-subgroups', backend: plain });
  }
  others.push({ label: 'tfjs-cpu', backend: await pinnedTfjs('cpu') });
  others.push({ label: 'tfjs-wasm', backend: await pinnedTfjs('wasm') });
  return {
    reference,
    others,
    dispose() {
      reference.dispose();
      for (const o of others) o.backend.dispose();
    },
  };
}

/**
 * {@link kernelBackends} for one test file, at its top level: made when the file loads, disposed
 * after its last test.
 *
 * @example
 * ```ts
 * const { reference, others } = await suiteBackends();
 * ```
 */
export async function suiteBackends(
  options: { withoutSubgroups?: boolean } = {},
): Promise<{ reference: Backend; others: NamedBackend[] }> {
  const { reference, others, dispose } = await kernelBackends(options);
  afterAll(() => dispose());
  return { reference, others };
}
