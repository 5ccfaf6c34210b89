import { checkOptionKeys } from './kernels/options.js';
import type { Backend } from './backend.js';
import { describeValue } from './describeValue.js';
import { CpuBackend, type CpuBackendOptions } from './backends/cpu/CpuBackend.js';
import { createCpuAcceleration } from './backends/cpu/wasm/createCpuAcceleration.js';
import { TfjsBackend, type TfjsBackendOptions } from './backends/tfjs/TfjsBackend.js';
import {
  createWebGpuBackend,
  type WebGpuOptions,
  WebGpuUnavailableError,
} from './backends/webgpu/createWebGpuBackend.js';

/** Names accepted by {@link createBackend}. */
export type BackendName = 'auto' | 'webgpu' | 'cpu' | 'tfjs';

/** CPU backend options for {@link createBackend}. */
export interface CpuOptions extends CpuBackendOptions {
  /** Threads for the WASM SIMD kernels (default: 2 where workers and shared memory exist, else 1). */
  threads?: number;
  /** Use the WASM SIMD kernels (default true); false runs every kernel's TypeScript reference. */
  wasm?: boolean;
}

/** Options for {@link createBackend}; each backend reads its own. */
export interface CreateBackendOptions {
  webgpu?: WebGpuOptions;
  cpu?: CpuOptions;
  tfjs?: TfjsBackendOptions;
  /**
   * `auto` only: take a software WebGPU adapter (llvmpipe, lavapipe, SwiftShader, WARP: the GPU
   * emulated on the CPU) rather than the CPU backend, which outruns it (1.5-3x for CLIP on 2
   * cores). Default false; `createBackend('webgpu')` always takes what it finds.
   */
  allowSoftwareWebGpu?: boolean;
}

// Adapter names of WebGPU implementations that run on the CPU.
const SOFTWARE_ADAPTER = /\b(software|llvmpipe|lavapipe|swiftshader|basic render driver|fallback adapter)\b/i;

/**
 * Whether `backend` is WebGPU on a software adapter (the GPU emulated on the CPU) rather than a GPU.
 *
 * @example
 * ```ts
 * const backend = await createBackend('webgpu');
 * if (isSoftwareWebGpu(backend)) console.warn(`${backend.name}: no GPU, the CPU backend is faster`);
 * ```
 */
export function isSoftwareWebGpu(backend: Backend): boolean {
  const b = backend as Partial<Backend> | null;
  if (typeof b?.kind !== 'string' || typeof b.name !== 'string')
    throw new TypeError(
      `isSoftwareWebGpu: backend must be a Backend (from createBackend()), got ${describeValue(backend)}`,
    );
  return backend.kind === 'webgpu' && SOFTWARE_ADAPTER.test(backend.name);
}

const NAMES: readonly BackendName[] = ['auto', 'webgpu', 'cpu', 'tfjs'];

/**
 * Creates a backend. `auto` takes WebGPU on a GPU, else the CPU (a software WebGPU adapter, the GPU
 * emulated on the CPU, is slower than the CPU backend; see `allowSoftwareWebGpu`). Dispose the
 * backend when done: in Node the WebGPU backend holds a Dawn device that keeps the process alive.
 *
 * @example
 * ```ts
 * const backend = await createBackend('auto');
 * console.log(backend.name); // e.g. "webgpu (NVIDIA H100, vulkan)" or "cpu (js)"
 * backend.dispose();
 * ```
 */
export async function createBackend(
  name: BackendName = 'auto',
  options: CreateBackendOptions = {},
): Promise<Backend> {
  checkOptionKeys('createBackend()', options, ['webgpu', 'cpu', 'tfjs', 'allowSoftwareWebGpu']);
  switch (name) {
    case 'webgpu':
      return createWebGpuBackend(options.webgpu);
    case 'cpu':
      return createCpuBackend(options.cpu);
    case 'tfjs':
      return TfjsBackend.create(options.tfjs);
    case 'auto': {
      let gpu: Backend;
      try {
        gpu = await createWebGpuBackend(options.webgpu);
      } catch (e) {
        if (!(e instanceof WebGpuUnavailableError)) throw e;
        return createCpuBackend(options.cpu);
      }
      if (!isSoftwareWebGpu(gpu) || options.allowSoftwareWebGpu === true) return gpu;
      gpu.dispose();
      return createCpuBackend(options.cpu);
    }
    default:
      throw new RangeError(
        `createBackend(): unknown backend ${JSON.stringify(name)}; available: ${NAMES.map((n) => `'${n}'`).join(', ')}`,
      );
  }
}

async function createCpuBackend(options: CpuOptions = {}): Promise<CpuBackend> {
  const { threads, wasm = true, ...rest } = options;
  if (!wasm || rest.accelerated) return new CpuBackend(rest);
  const acceleration = await createCpuAcceleration(threads === undefined ? {} : { threads });
  return new CpuBackend({
    ...rest,
    accelerated: acceleration.accelerated,
    description: rest.description ?? acceleration.description,
    onRelease: (handle) => {
      acceleration.release(handle);
      rest.onRelease?.(handle);
    },
    onDispose: () => {
      acceleration.dispose();
      rest.onDispose?.();
    },
  });
}
