import type { Tensor } from '../tensor.js';
import { joinSource } from './loadFile.js';
import { type LoadSafetensorsOptions, loadSafetensors } from './loadSafetensors.js';

/**
 * The tensors of a checkpoint folder (a path, a URL string or a URL): `file` (default
 * `model.safetensors`) or, when that cannot be read, the sharded checkpoint `file.index.json` that
 * HF writes instead of it. When neither loads, the error is the one `file` gave (a folder without
 * an index most likely lacks `file` itself); an abort is passed on at once.
 *
 * @example
 * ```ts
 * const tensors = await loadCheckpointTensors('https://example.com/llava', { backend }); // Map<string, Tensor>
 * const visual = await loadCheckpointTensors('/models/rn50', { backend, file: 'open_clip_model.safetensors' });
 * ```
 */
export async function loadCheckpointTensors(
  folder: string | URL,
  options: LoadSafetensorsOptions & { file?: string },
): Promise<Map<string, Tensor>> {
  const { file = 'model.safetensors', ...load } = options;
  try {
    return (await loadSafetensors(joinSource(folder, file), load)).tensors;
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    try {
      return (await loadSafetensors(joinSource(folder, `${file}.index.json`), load)).tensors;
    } catch (sharded) {
      if ((sharded as Error).name === 'AbortError') throw sharded;
      throw e;
    }
  }
}
