// The clip-tiny fixture as the task-API tests use it: its folder, and a CPU backend holding the
// reference tensors transformers computed from it.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Backend, type Tensor, createBackend, loadSafetensors } from '@vl/tensor';
import { afterAll } from 'vitest';

/** The clip-tiny checkpoint folder (HF layout). */
export const clipTinyDir = fileURLToPath(new URL('./fixtures/clip-tiny/', import.meta.url));

/**
 * A CPU backend and the fixture's `reference.safetensors` loaded on it, for one test file; both are
 * freed after that file's tests.
 */
export async function clipTinyReference(): Promise<{ backend: Backend; ref: Map<string, Tensor> }> {
  const backend = await createBackend('cpu');
  const ref = (await loadSafetensors(join(clipTinyDir, 'reference.safetensors'), { backend })).tensors;
  afterAll(() => {
    for (const t of ref.values()) t.dispose();
    backend.dispose();
  });
  return { backend, ref };
}
