import type { Tensor } from '../tensor.js';
import { joinSource, loadFileIfExists } from './loadFile.js';
import { isNotFound } from './notFound.js';
import { type LoadSafetensorsOptions, loadSafetensors } from './loadSafetensors.js';

/**
 * The tensors of a checkpoint folder (a path, a URL string or a URL): `file` (default
 * `model.safetensors`) or, when there is no such file, the sharded checkpoint `file.index.json` that
 * HF writes instead of it. When neither exists, the error is the one `file` gave; a `file` that is
 * there but damaged, a shard the index names but that is missing, a network error and an abort
 * are passed on as themselves.
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
    // A damaged or unreachable `file` is its own error; only a missing one sends us to the index.
    if (!isNotFound(e)) throw e;
    const index = joinSource(folder, `${file}.index.json`);
    try {
      return (await loadSafetensors(index, load)).tensors;
    } catch (sharded) {
      // Not found may mean the index or one of its shards; only a missing index means "neither".
      // The same signal and cache as the load; no progress events for this check.
      const { onProgress: _progress, ...io } = load;
      if (isNotFound(sharded) && (await loadFileIfExists(index, io)) === undefined) throw e;
      throw sharded;
    }
  }
}
