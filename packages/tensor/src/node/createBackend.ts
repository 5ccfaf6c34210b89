import type { Backend } from '../backend.js';
import {
  type BackendName,
  type CreateBackendOptions,
  createBackend as createAnyBackend,
} from '../createBackend.js';

let dawn: Promise<typeof import('webgpu')> | undefined;

/**
 * {@link createBackend} for Node: WebGPU comes from Dawn (the `webgpu` package), created with
 * `options.webgpu.dawnOptions`, unless a `gpu` is passed.
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
    dawn ??= import('webgpu');
    const { create, globals } = await dawn;
    // Dawn's classes (GPUBufferUsage, ...) become globals, as in a browser, unless already present.
    for (const [key, value] of Object.entries(globals as Record<string, unknown>)) {
      if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
    }
    const gpu = create(options.webgpu?.dawnOptions ?? []);
    options = { ...options, webgpu: { ...options.webgpu, gpu } };
  }
  return createAnyBackend(name, options);
}
