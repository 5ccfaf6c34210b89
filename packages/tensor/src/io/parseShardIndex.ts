import { duplicateKey } from './duplicateKey.js';
import { isPlainShardName } from './locateSource.js';
import { SafetensorsError } from './SafetensorsError.js';

/** A sharded checkpoint's index: which file holds each tensor. */
export interface ShardIndex {
  /** Tensor name -> shard file name, relative to the index's folder. */
  readonly weightMap: ReadonlyMap<string, string>;
}

/**
 * Parses and validates `*.safetensors.index.json` (`{ "weight_map": { name: "model-00001-of-00002.safetensors" } }`);
 * a key given twice in one object (a tensor mapped to two shards) is an error.
 */
export function parseShardIndex(bytes: Uint8Array, source: string): ShardIndex {
  const fail = (message: string): SafetensorsError =>
    new SafetensorsError(`safetensors index (${source}): ${message}`);
  let json: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    json = JSON.parse(text);
  } catch (e) {
    throw fail(`not valid UTF-8 JSON (${(e as Error).message})`);
  }
  const twice = duplicateKey(text);
  if (twice !== undefined) {
    throw fail(
      `names ${JSON.stringify(twice)} twice in one object (a tensor mapped to two shards?), so which one is meant is ambiguous`,
    );
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw fail('expected an object with a "weight_map" object mapping tensor names to shard files');
  }
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string')
      throw fail(`weight_map["${name}"] must be a file name, got ${JSON.stringify(shard)}`);
    if (!isPlainShardName(shard)) {
      throw fail(
        `weight_map["${name}"] is ${JSON.stringify(shard)}; shard names must be relative paths inside the index's folder`,
      );
    }
    weightMap.set(name, shard);
  }
  return { weightMap };
}
