import { describeValue } from '../describeValue.js';
import { checkOptionKeys } from '../kernels/options.js';
import { isNode } from './isNode.js';
import type { FileSetEntry } from './node/writeFileSet.js';
import { nodeIo } from './nodeIo.js';
import { indexFileNames } from './checkpointIndexNames.js';
import { planShards } from './planShards.js';
import { checkMetadata, checkTensors, type NamedTensors, writeSafetensors } from './saveSafetensors.js';

/**
 * Options for {@link saveCheckpointTensors}.
 *
 * @example
 * ```ts
 * const options: SaveCheckpointTensorsOptions = { maxShardBytes: 2e9, file: 'model.safetensors', metadata: { format: 'pt' } };
 * ```
 */
export interface SaveCheckpointTensorsOptions {
  /**
   * The most bytes of tensor data in one shard (default 5e9, huggingface_hub's "5GB"; headers are
   * not counted, as HF does not count them). A tensor larger than this gets a shard of its own;
   * no tensor is ever split.
   */
  maxShardBytes?: number;
  /**
   * The checkpoint's file name (default `model.safetensors`), as {@link loadCheckpointTensors}
   * takes it: saved as itself when everything fits one shard, else as `<base>-00001-of-0000n.safetensors`
   * shards and an index, `<file>.index.json` (for a variant such as `model.fp16.safetensors`,
   * transformers' `model.safetensors.index.fp16.json`). A plain name ending in `.safetensors`.
   */
  file?: string;
  /** The `__metadata__` of every shard (transformers' own shards carry `{ format: 'pt' }`). */
  metadata?: Readonly<Record<string, string>>;
}

const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;
const NAME = 'saveCheckpointTensors';
const OP = `${NAME}()`;
const SHARD_NAME = /^(.*)-\d{5,}-of-\d{5,}\.safetensors$/;

/**
 * Node: saves tensors as a checkpoint folder the way Hugging Face's
 * `save_pretrained(max_shard_size=...)` does, the counterpart of {@link loadCheckpointTensors}:
 * `model.safetensors` when the tensor data fits in `maxShardBytes`, else shards
 * `model-00001-of-00003.safetensors`... split as huggingface_hub splits them (greedily in the order
 * given; a tensor is never split, and one over the limit gets a shard of its own) and
 * `model.safetensors.index.json`,
 * `{ "metadata": { "total_size": <bytes of tensor data> }, "weight_map": { "<tensor>": "<shard>" } }`
 * (formatted as transformers formats it, `json.dumps(indent=2, sort_keys=True)`; recent transformers
 * also writes `metadata.total_parameters`, which no reader needs). Each shard is a
 * {@link saveSafetensorsFile} file, written tensor by tensor.
 *
 * Every tensor and option is checked before anything is written. Every file is written under a
 * temporary name (so the folder needs room for the old checkpoint and the new one at once) and
 * renamed into place only once all of them are complete, the index last; the files they replace are
 * moved aside first, and a failure removes what this call wrote and puts those back, so the folder
 * holds the earlier checkpoint, whole, or the new one. Then what an earlier save of the
 * same `file` left in the folder and this one did not write is deleted, so it cannot pass for part
 * of the new checkpoint: shards `<base>-NNNNN-of-NNNNN.safetensors` (as transformers deletes them),
 * a plain `file` (which {@link loadCheckpointTensors} would otherwise read before the index), and
 * its index (either name) when this save is a single file. Other files, and folders, are left alone. (Two saves into
 * one folder at the same time are not supported.)
 *
 * Resolves to the names of the files written, index last.
 *
 * @example
 * ```ts
 * await saveCheckpointTensors('checkpoints/llava', params, { maxShardBytes: 2e9, metadata: { format: 'pt' } });
 * // checkpoints/llava/model-00001-of-00007.safetensors ... model.safetensors.index.json
 * const tensors = await loadCheckpointTensors('checkpoints/llava', { backend });
 * ```
 */
export async function saveCheckpointTensors(
  folder: string | URL,
  tensors: NamedTensors,
  options: SaveCheckpointTensorsOptions = {},
): Promise<string[]> {
  if (!isNode()) {
    throw new Error(
      `${OP} needs Node; in a browser, call saveSafetensors() and offer the bytes as a download`,
    );
  }
  const { writeFileSet, localPath } = nodeIo(OP);
  const { file, maxShardBytes, metadata } = checkOptions(options);
  const path = checkFolder(folder, localPath);
  const plan = planShards(checkTensors(NAME, tensors), file, maxShardBytes);
  const files: FileSetEntry[] = plan.shards.map(({ file: name, tensors: shard }) => ({
    name,
    content: (write: (piece: Uint8Array) => Promise<void>) => writeSafetensors(NAME, shard, metadata, write),
  }));
  if (plan.index) files.push({ name: plan.index.file, content: textFile(plan.index.text) });
  const base = file.slice(0, -'.safetensors'.length);
  await writeFileSet(
    path,
    files,
    (name) => {
      if (name === file || indexFileNames(file).includes(name)) return true;
      return SHARD_NAME.exec(name)?.[1] === base;
    },
    OP,
  );
  return files.map((f) => f.name);
}

interface CheckedOptions {
  readonly maxShardBytes: number;
  readonly file: string;
  readonly metadata: Readonly<Record<string, string>> | undefined;
}

function checkOptions(options: SaveCheckpointTensorsOptions): CheckedOptions {
  checkOptionKeys(OP, options, ['maxShardBytes', 'file', 'metadata']);
  const { maxShardBytes = DEFAULT_MAX_SHARD_BYTES, file = 'model.safetensors', metadata } = options;
  if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes <= 0) {
    throw new RangeError(
      `${OP}: options.maxShardBytes must be a positive whole number of bytes (5e9 is HF's "5GB"), got ${describeValue(maxShardBytes)}`,
    );
  }
  if (typeof file !== 'string' || !/^[^/\\]+\.safetensors$/.test(file)) {
    throw new TypeError(
      `${OP}: options.file must be a file name ending in ".safetensors", with no folder in it (e.g. "model.safetensors"), got ${describeValue(file)}`,
    );
  }
  checkMetadata(NAME, metadata);
  return { maxShardBytes, file, metadata };
}

/** A local path from a path, a `file:` URL or its string: an http(s) address is no place to save to. */
function checkFolder(folder: unknown, localPath: (path: string | URL) => string): string {
  if (typeof folder === 'string' && /^file:(?!\/)/i.test(folder)) {
    // WHATWG URL parsing reads file:relative as file:///relative, far from where it was meant.
    throw new TypeError(`${OP}: a file: URL must be absolute (file:///...), got ${JSON.stringify(folder)}`);
  }
  const url = typeof folder === 'string' && /^file:/i.test(folder) ? new URL(folder) : folder;
  if (url instanceof URL) {
    if (url.protocol !== 'file:')
      throw new TypeError(`${OP}: folder must be a local path or a file: URL, got ${url.href}`);
    return localPath(url);
  }
  if (typeof url !== 'string' || url === '') {
    throw new TypeError(`${OP}: folder must be a path or a file: URL, got ${describeValue(url)}`);
  }
  if (/^[a-z][a-z\d+.-]+:\/\//i.test(url)) {
    throw new TypeError(`${OP}: folder must be a local path or a file: URL, got ${JSON.stringify(url)}`);
  }
  return url;
}

function textFile(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
