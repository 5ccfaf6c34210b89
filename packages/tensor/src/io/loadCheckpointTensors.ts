import { describeValue } from '../describeValue.js';
import { indexFileNames } from './checkpointIndexNames.js';
import type { Tensor } from '../tensor.js';
import { joinSource, loadFileIfExists } from './loadFile.js';
import { checkBackendOption, checkFolder } from './loaderArguments.js';
import { isNotFound } from './notFound.js';
import { type LoadSafetensorsOptions, loadSafetensors } from './loadSafetensors.js';

/**
 * The tensors of a checkpoint folder (a path, a URL string or a URL): `file` (default
 * `model.safetensors`) or, when there is no such file, a sharded checkpoint's index, tried in this
 * order:
 *
 * 1. `file`, e.g. `model.fp16.safetensors`;
 * 2. `<file>.index.json`, the index HF writes instead of it (`model.safetensors.index.json`,
 *    `model.fp16.safetensors.index.json`);
 * 3. when `file` names a weight variant, `<name>.<variant>.safetensors`, transformers' name for that
 *    variant's index, `<name>.safetensors.index.<variant>.json`: `save_pretrained(variant="fp16")`
 *    writes `model.safetensors.index.fp16.json` beside shards `model.fp16-00001-of-00002.safetensors`
 *    (the variant is taken to be the last dot-separated part of `file` before `.safetensors`).
 *
 * When none exists, the error names the folder and the files looked for, with the one `file` gave
 * as its cause (and its `code`, e.g. `ENOENT`); a `file` or index that is there but damaged,
 * a shard an index names but that is missing, a network error and an abort are passed on as
 * themselves.
 *
 * @example
 * ```ts
 * const tensors = await loadCheckpointTensors('https://example.com/llava', { backend }); // Map<string, Tensor>
 * const visual = await loadCheckpointTensors('/models/rn50', { backend, file: 'open_clip_model.safetensors' });
 * const half = await loadCheckpointTensors('/models/llava', { backend, file: 'model.fp16.safetensors' });
 * ```
 */
export async function loadCheckpointTensors(
  folder: string | URL,
  options: LoadSafetensorsOptions & { file?: string },
): Promise<Map<string, Tensor>> {
  checkFolder(folder, 'loadCheckpointTensors');
  checkBackendOption(options, 'loadCheckpointTensors');
  const { file = 'model.safetensors', ...load } = options;
  if (typeof file !== 'string')
    throw new TypeError(
      `loadCheckpointTensors: options.file must be a file name, got ${describeValue(file)}`,
    );
  try {
    return (await loadSafetensors(joinSource(folder, file), load)).tensors;
  } catch (e) {
    // A damaged or unreachable `file` is its own error; only a missing one sends us to an index.
    if (!isNotFound(e)) throw e;
    for (const name of indexFileNames(file)) {
      const index = joinSource(folder, name);
      try {
        return (await loadSafetensors(index, load)).tensors;
      } catch (sharded) {
        // Not found may mean the index or one of its shards; only a missing index sends us on.
        // The same signal and cache as the load; no progress events for this check.
        const { onProgress: _progress, ...io } = load;
        if (isNotFound(sharded) && (await loadFileIfExists(index, io)) === undefined) continue;
        throw sharded;
      }
    }
    throw noCheckpoint(folder, file, e);
  }
}

/**
 * The error for a folder with neither `file` nor an index: it names the folder and every file
 * looked for, and stays a not-found error (`code` and `cause` are `file`'s error's), so callers
 * can still tell it from a damaged file.
 */
function noCheckpoint(folder: string | URL, file: string, e: unknown): Error {
  const looked = [file, ...indexFileNames(file)].join(', ');
  const reason = e instanceof Error ? e.message : String(e);
  const error = new Error(
    `loadCheckpointTensors: ${String(folder)} has no checkpoint: looked for ${looked}; ${reason}`,
    { cause: e },
  );
  const code = (e as { code?: unknown } | null)?.code;
  if (code !== undefined) Object.assign(error, { code });
  return error;
}
