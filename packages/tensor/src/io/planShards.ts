// How saveCheckpointTensors splits a checkpoint into files, laid out as Hugging Face's
// save_pretrained(max_shard_size=...) lays them out (huggingface_hub's split_state_dict_into_shards
// and transformers' index writer), so either side reads what the other wrote.
import { bytesPerElement } from '../dtype.js';
import { indexFileName } from './checkpointIndexNames.js';
import type { Tensor } from '../tensor.js';

/** One file of a checkpoint: its name in the folder and its tensors, in the order given. */
export interface PlannedShard {
  readonly file: string;
  readonly tensors: ReadonlyMap<string, Tensor>;
}

/** The files of a checkpoint: its shards, and its index when there is more than one shard. */
export interface ShardPlan {
  readonly shards: readonly PlannedShard[];
  /** The index ({@link indexFileName}) and its text; undefined for a single shard, saved as plain `file`. */
  readonly index: { readonly file: string; readonly text: string } | undefined;
}

/**
 * huggingface_hub's split_state_dict_into_shards, step for step: tensors in the order given fill the
 * current shard until the next would take it past `maxShardBytes` (tensor data only, as HF counts:
 * each file is larger by its header); then that shard is closed and a new one started. A tensor
 * larger than the limit gets a shard of its own at once, while the current shard stays open (so the
 * big one's shard comes first). One shard (or no tensors at all) is saved as plain `file`, with no
 * index, as transformers does.
 */
export function planShards(
  entries: readonly (readonly [string, Tensor])[],
  file: string,
  maxShardBytes: number,
): ShardPlan {
  const groups: (readonly [string, Tensor])[][] = [];
  let current: (readonly [string, Tensor])[] = [];
  let filled = 0;
  let totalSize = 0;
  for (const entry of entries) {
    const bytes = entry[1].size * bytesPerElement(entry[1].dtype);
    totalSize += bytes;
    if (bytes > maxShardBytes) {
      groups.push([entry]);
      continue;
    }
    if (filled + bytes > maxShardBytes) {
      groups.push(current);
      current = [];
      filled = 0;
    }
    current.push(entry);
    filled += bytes;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  if (groups.length === 1) return { shards: [{ file, tensors: new Map(groups[0]) }], index: undefined };
  const base = file.slice(0, -'.safetensors'.length);
  const shards = groups.map((group, i) => ({
    file: `${base}-${fiveDigits(i + 1)}-of-${fiveDigits(groups.length)}.safetensors`,
    tensors: new Map(group),
  }));
  const weightMap = shards.flatMap((s) => [...s.tensors.keys()].map((name) => [name, s.file] as const));
  return { shards, index: { file: indexFileName(file), text: indexJson(weightMap, totalSize) } };
}

/** `{:05d}`: at least five digits (a 100,000th shard gets six, as Python's format gives). */
function fiveDigits(n: number): string {
  return String(n).padStart(5, '0');
}

/**
 * The index as transformers writes it, `json.dumps(index, indent=2, sort_keys=True) + "\n"`, to the
 * byte: keys sorted by code point (a JS object would put integer-like names first), and every
 * character outside printable ASCII escaped (Python's ensure_ascii), e.g.:
 * ```
 * {
 *   "metadata": {
 *     "total_size": 1234
 *   },
 *   "weight_map": {
 *     "lm_head.weight": "model-00002-of-00002.safetensors",
 *     ...
 * ```
 */
function indexJson(weightMap: readonly (readonly [string, string])[], totalSize: number): string {
  const sorted = [...weightMap].sort(([a], [b]) => byCodePoint(a, b));
  const entries = sorted.map(([name, shard]) => `    ${pythonJsonString(name)}: ${pythonJsonString(shard)}`);
  const map = entries.length === 0 ? '{}' : `{\n${entries.join(',\n')}\n  }`;
  return `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": ${map}\n}\n`;
}

function pythonJsonString(text: string): string {
  // JSON.stringify escapes what Python escapes below U+0020 the same way (\n, \u001f); Python also
  // escapes DEL and everything above ASCII, with lowercase hex, astral characters as pairs.
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Python's string order: by code point (UTF-16 order differs once surrogates meet U+E000-U+FFFF). */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
