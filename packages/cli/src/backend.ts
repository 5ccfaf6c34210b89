import { type Backend, createBackend, isSoftwareWebGpu } from '@vl/tensor';
import { CliError, type CliIo } from './io.js';

/** The `--backend` values. */
export const BACKEND_CHOICES = ['auto', 'webgpu', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** How {@link openBackend} chooses under `auto`. */
export interface OpenBackendOptions {
  /** What the backend is for, named in the message when a software adapter is passed over. */
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
    // Under auto the software-adapter choice is made below, where it can be said on stderr.
    backend = await createBackend(choice as BackendChoice, { allowSoftwareWebGpu: true });
  } catch (e) {
    throw new CliError(`cannot create the ${choice} backend: ${(e as Error).message}`);
  }
  let why =
    choice !== 'auto'
      ? 'as asked'
      : backend.kind === 'webgpu'
        ? 'WebGPU adapter found'
        : 'no WebGPU adapter found: using the CPU';
  // A software adapter emulates the GPU on the CPU: the CPU backend's WebAssembly kernels beat it
  // (1.5-3x for inference on the 2-core CI machine; a dVAE training run's estimate was 211 min on
  // llvmpipe against 59 min on the CPU backend).
  if (choice === 'auto' && isSoftwareWebGpu(backend)) {
    const software = backend.name;
    backend.dispose();
    backend = await createBackend('cpu');
    why = `the WebGPU adapter is a software renderer, ${software}, slower than the CPU backend${options.training ? ' for training' : ''}; --backend webgpu uses it anyway`;
  }
  io.stderr.write(`backend: ${backend.name} (${why})\n`);
  return backend;
}
