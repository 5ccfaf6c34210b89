import type { Backend } from './backend.js';
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
}

const NAMES: readonly BackendName[] = ['auto', 'webgpu', 'cpu', 'tfjs'];

/**
 * Creates a backend. `auto` tries WebGPU and falls back to the CPU. Dispose the backend when done:
 * in Node the WebGPU backend holds a Dawn device that keeps the process alive.
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
  switch (name) {
    case 'webgpu':
      return createWebGpuBackend(options.webgpu);
    case 'cpu':
      return createCpuBackend(options.cpu);
    case 'tfjs':
      return TfjsBackend.create(options.tfjs);
    case 'auto':
      try {
        return await createWebGpuBackend(options.webgpu);
      } catch (e) {
        if (!(e instanceof WebGpuUnavailableError)) throw e;
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
