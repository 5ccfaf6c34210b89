import { type Backend, createBackend } from '@vl/tensor';
import { CliError, type CliIo } from './io.js';

/** The `--backend` values. */
export const BACKEND_CHOICES = ['auto', 'webgpu', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** Adapter names of WebGPU implementations that run on the CPU (Mesa's llvmpipe/lavapipe, SwiftShader). */
const SOFTWARE_ADAPTER = /\b(software|llvmpipe|lavapipe|swiftshader)\b/i;

/** Whether a backend is WebGPU on a software renderer rather than a GPU. */
export function isSoftwareWebGpu(backend: Backend): boolean {
  return backend.kind === 'webgpu' && SOFTWARE_ADAPTER.test(backend.name);
}

/** How {@link openBackend} chooses under `auto`. */
export interface OpenBackendOptions {
  /**
   * Training: under `auto`, a software WebGPU adapter is passed over for the CPU backend, which
   * trains several times faster than a CPU-emulated GPU (on the 2-core CI machine a dVAE run's
   * estimate was 211 min on llvmpipe against 59 min on the CPU backend).
   */
  training?: boolean;
}

/** Creates the backend `--backend` asks for and says on stderr which one runs. */
export async function openBackend(
  choice: string,
  io: CliIo,
  options: OpenBackendOptions = {},
): Promise<Backend> {
  if (!(BACKEND_CHOICES as readonly string[]).includes(choice)) {
    throw new CliError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}; got "${choice}"`, 2);
  }
  let backend: Backend;
  try {
    backend = await createBackend(choice as BackendChoice);
  } catch (e) {
    throw new CliError(`cannot create the ${choice} backend: ${(e as Error).message}`);
  }
  let why =
    choice !== 'auto'
      ? 'as asked'
      : backend.kind === 'webgpu'
        ? isSoftwareWebGpu(backend)
          ? 'WebGPU adapter found; it is a software renderer, so --backend cpu may be faster'
          : 'WebGPU adapter found'
        : 'no WebGPU adapter found: using the CPU';
  if (choice === 'auto' && options.training && isSoftwareWebGpu(backend)) {
    const software = backend.name;
    backend.dispose();
    backend = await createBackend('cpu');
    why = `the WebGPU adapter is a software renderer, ${software}, slower than the CPU backend for training; --backend webgpu uses it anyway`;
  }
  io.stderr.write(`backend: ${backend.name} (${why})\n`);
  return backend;
}
