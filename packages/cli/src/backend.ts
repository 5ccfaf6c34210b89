import { type Backend, createBackend } from '@vl/tensor';
import { CliError, type CliIo } from './io.js';

/** The `--backend` values. */
export const BACKEND_CHOICES = ['auto', 'webgpu', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** Creates the backend `--backend` asks for and says on stderr which one runs. */
export async function openBackend(choice: string, io: CliIo): Promise<Backend> {
  if (!(BACKEND_CHOICES as readonly string[]).includes(choice)) {
    throw new CliError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}; got "${choice}"`, 2);
  }
  let backend: Backend;
  try {
    backend = await createBackend(choice as BackendChoice);
  } catch (e) {
    throw new CliError(`cannot create the ${choice} backend: ${(e as Error).message}`);
  }
  const why =
    backend.kind === 'webgpu'
      ? 'WebGPU adapter found'
      : choice === 'auto'
        ? 'no WebGPU adapter found: using the CPU'
        : 'as asked';
  io.stderr.write(`backend: ${backend.name} (${why})\n`);
  return backend;
}
