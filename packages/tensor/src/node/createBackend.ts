import type { Backend } from '../backend.js';
import { WebGpuUnavailableError } from '../backends/webgpu/createWebGpuBackend.js';
import {
  type BackendName,
  type CreateBackendOptions,
  createBackend as createAnyBackend,
} from '../createBackend.js';

let dawn: Promise<typeof import('webgpu')> | undefined;
const instances = new Map<string, GPU>();

/**
 * Dawn, from the `webgpu` package: an optional peer dependency (its binaries for every platform
 * weigh about 130 MB, which a browser app should not download). Missing, or without a binary
 * for this platform, it is WebGPU being unavailable: `auto` then takes the CPU.
 */
async function loadDawn(): Promise<typeof import('webgpu')> {
  try {
    return await import('webgpu');
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new WebGpuUnavailableError(
      `WebGPU in Node runs on Dawn, from the \`webgpu\` package, which could not be loaded (${why}): install it (npm install webgpu@0.6.2) or use the 'cpu' backend`,
      { cause: e },
    );
  }
}

/**
 * {@link createBackend} for Node: WebGPU comes from Dawn (the optional `webgpu` package, to be
 * installed beside this one), created with `options.webgpu.dawnOptions`, unless a `gpu` is passed.
 * Without it `auto` takes the CPU and `webgpu` throws a {@link WebGpuUnavailableError} saying so.
 *
 * @example
 * ```ts
 * const backend = await createBackend('webgpu', { webgpu: { dawnOptions: ['backend=vulkan'] } });
 * ```
 */
export async function createBackend(
  name: BackendName = 'auto',
  options: CreateBackendOptions = {},
): Promise<Backend> {
  if ((name === 'webgpu' || name === 'auto') && !options.webgpu?.gpu) {
    dawn ??= loadDawn();
    let loaded: typeof import('webgpu');
    try {
      loaded = await dawn;
    } catch (e) {
      if (name === 'auto' && e instanceof WebGpuUnavailableError) return createAnyBackend('cpu', options);
      throw e;
    }
    const { create, globals } = loaded;
    // Dawn's classes (GPUBufferUsage, ...) become globals, as in a browser, unless already present.
    for (const [key, value] of Object.entries(globals as Record<string, unknown>)) {
      if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
    }
    // One Dawn instance per set of options: a new one per backend kept ~2.4 MB each for good.
    const dawnOptions = options.webgpu?.dawnOptions ?? [];
    const key = JSON.stringify(dawnOptions);
    let gpu = instances.get(key);
    if (!gpu) instances.set(key, (gpu = create(dawnOptions)));
    options = { ...options, webgpu: { ...options.webgpu, gpu } };
  }
  return createAnyBackend(name, options);
}
