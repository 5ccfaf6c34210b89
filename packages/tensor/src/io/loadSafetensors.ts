import type { Backend } from '../backend.js';
import { tensor } from '../create.js';
import type { Tensor } from '../tensor.js';
import { throwIfAborted } from './abortError.js';
import type { ByteCache } from './ByteCache.js';
import { type DecodeSafetensorsOptions, decodeSafetensorsTensor } from './decodeSafetensorsTensor.js';
import {
  describeLocation,
  isIndexLocation,
  type Location,
  locateShard,
  locateSource,
  type SafetensorsSource,
} from './locateSource.js';
import { checkBackendOption } from './loaderArguments.js';
import { openByteCache } from './openByteCache.js';
import { parseShardIndex, type ShardIndex } from './parseShardIndex.js';
import { readSafetensorsHeader } from './readSafetensorsHeader.js';
import { readAll } from './ByteSource.js';
import { type ReadFile, readWithRetry } from './readLocation.js';
import { SafetensorsError } from './SafetensorsError.js';
import type { SafetensorsDType } from './safetensorsDType.js';
import type { SafetensorsProgress } from './SafetensorsProgress.js';
import { setOwn } from './setOwn.js';
import { isFloatFileDType, type StoredDType, storedTensor } from './storeAs.js';

/**
 * Options for {@link loadSafetensors}.
 *
 * @example
 * ```ts
 * const options: LoadSafetensorsOptions = {
 *   backend,
 *   dtype: 'f32',
 *   filter: (name) => name.startsWith('text_model.'),
 *   onProgress: ({ loaded, total }) => bar.update(loaded / (total ?? loaded)),
 *   signal: AbortSignal.timeout(60_000),
 * };
 * ```
 */
export interface LoadSafetensorsOptions extends Pick<DecodeSafetensorsOptions, 'dtype'> {
  /** Where the tensors are created. */
  backend: Backend;
  /** Loads only the tensors whose name passes; shards that hold none of them are not read at all. */
  filter?: (name: string) => boolean;
  /**
   * The dtype to store each floating-point tensor as, by name, shape and file dtype (undefined: as
   * `dtype` says); it is not asked about integer and bool tensors, which load as they are. Each
   * tensor is converted on its own as it loads, so the file is never widened to f32 as a whole:
   * `(name) => name.endsWith('_proj.weight') ? 'q8' : undefined` loads a decoder's linear weights
   * block-quantized. A `q8`/`q4` choice needs a 2-D weight whose last dim is a multiple of 32.
   */
  storeAs?: (name: string, shape: readonly number[], dtype: SafetensorsDType) => StoredDType | undefined;
  /** Byte progress of each file read. */
  onProgress?: (progress: SafetensorsProgress) => void;
  /** Cancels the load: the returned promise rejects with an `AbortError` and nothing is kept. */
  signal?: AbortSignal;
  /**
   * Keep http(s) downloads for later loads (default true). A later load asks the server whether a
   * kept file changed (a HEAD request, its ETag or else Last-Modified against the kept one; not for
   * Hub URLs pinned to a commit) and uses the copy when it did not, or when the server cannot be
   * reached; a server that names neither gets the file downloaded again, and a file it no longer
   * has (404, 410) is dropped from the cache. Local sources are never cached.
   */
  cache?: boolean;
  /**
   * Node: the folder for cached downloads (default `~/.cache/vl`). In browsers the Cache API
   * (cache name `vl`) is used instead.
   */
  cacheDir?: string;
}

/**
 * The result of {@link loadSafetensors}.
 *
 * @example
 * ```ts
 * const { tensors, metadata } = await loadSafetensors(url, { backend });
 * const w = tensors.get('text_projection.weight')!; // f32[32, 64]
 * ```
 */
export interface LoadedSafetensors {
  /** Tensors by checkpoint name, in byte-buffer order (shard by shard). */
  readonly tensors: Map<string, Tensor>;
  /** The `__metadata__` of the file, merged over shards (the first shard that sets a key wins). */
  readonly metadata: Record<string, string>;
  /** Disposes every tensor in {@link LoadedSafetensors.tensors}. */
  dispose(): void;
}

interface LoadContext {
  readonly options: LoadSafetensorsOptions;
  readonly cache: ByteCache | undefined;
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Record<string, string>;
}

/**
 * Loads tensors from a safetensors file or a sharded checkpoint (a `*.safetensors.index.json`,
 * whose shards are read one after another from the index's folder) onto `options.backend`.
 *
 * `source` is a URL (fetched with streaming progress and cached: a folder in Node, the Cache API in
 * browsers), a path or `file:` URL (Node), a `Blob`, an `ArrayBuffer` or a typed array. The
 * header is validated (dtypes, shapes, offsets that tile the file exactly) before any tensor is
 * created; then each wanted tensor is read from its place in the file on its own, so no file is
 * ever held in memory whole (in Node a download streams into the cache folder first): a shard
 * larger than the biggest buffer JavaScript allocates loads too. dtypes map as
 * {@link decodeSafetensorsTensor} describes. Any failure (a malformed file, a truncated download, an abort) rejects and leaves
 * nothing behind: tensors already created are disposed and a file that did not arrive whole is
 * not cached. (Shards that were complete and valid stay cached.)
 *
 * Note that `tidy`/`tidyAsync` only keep tensors returned in arrays and plain objects, not in the
 * `Map` this returns: load outside scopes, or call `keep` on what you keep.
 *
 * @example
 * ```ts
 * const backend = await createBackend('auto');
 * const { tensors, metadata } = await loadSafetensors(
 *   'https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/model.safetensors',
 *   { backend, onProgress: ({ loaded, total }) => console.log(loaded, total) },
 * );
 * console.log(tensors.get('logit_scale')?.describe(), metadata.format); // "f32[]" "pt"
 * ```
 */
export async function loadSafetensors(
  source: SafetensorsSource,
  options: LoadSafetensorsOptions,
): Promise<LoadedSafetensors> {
  checkBackendOption(options, 'loadSafetensors()');
  if (options.storeAs !== undefined && typeof options.storeAs !== 'function') {
    throw new TypeError(
      `loadSafetensors(): options.storeAs must be a function (name, shape) => dtype, got ${typeof options.storeAs}`,
    );
  }
  if (options.dtype !== undefined && options.dtype !== 'f32') {
    throw new TypeError(
      `loadSafetensors(): options.dtype must be 'f32' or left out, got ${JSON.stringify(options.dtype)}`,
    );
  }
  const context: LoadContext = {
    options,
    cache: await openByteCache(options),
    tensors: new Map(),
    metadata: {},
  };
  try {
    const location = locateSource(source);
    if (isIndexLocation(location)) await loadSharded(location, context);
    else await loadFile(location, context, options.filter ?? (() => true));
  } catch (e) {
    for (const t of context.tensors.values()) t.dispose();
    throw e;
  }
  const { tensors, metadata } = context;
  return {
    tensors,
    metadata,
    dispose: () => {
      for (const t of tensors.values()) t.dispose();
    },
  };
}

/**
 * Opens a file and parses what it starts with; a cached copy that does not parse is dropped and
 * downloaded again. The caller releases the file it gets.
 */
async function readParsed<T>(
  location: Location,
  context: LoadContext,
  parse: (file: ReadFile, source: string) => Promise<T>,
): Promise<{ value: T; file: ReadFile }> {
  const source = describeLocation(location);
  const read = {
    cache: context.cache,
    onProgress: context.options.onProgress,
    signal: context.options.signal,
  };
  return readWithRetry(
    location,
    read,
    async (file) => ({ value: await parse(file, source), file }),
    (e) => e instanceof SafetensorsError,
  );
}

/**
 * Loads the wanted tensors of one file, each read from its place in the file on its own (in file
 * order), so that no file is held in memory whole.
 */
async function loadFile(
  location: Location,
  context: LoadContext,
  accept: (name: string) => boolean,
): Promise<void> {
  const { options, tensors, metadata } = context;
  const source = describeLocation(location);
  const { value: header, file } = await readParsed(location, context, (f, name) =>
    readSafetensorsHeader(f.source, name),
  );
  try {
    const { size } = file.source;
    let last = -1;
    const report = (loaded: number): void => {
      // Once per byte count: the last tensor often ends at the end of the file.
      if (file.reported || loaded === last) return;
      last = loaded;
      options.onProgress?.({ file: source, loaded, total: size });
    };
    report(header.dataStart);
    const wanted = header.tensors.filter((info) => accept(info.name));
    wanted.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0]);
    for (const info of wanted) {
      throwIfAborted(options.signal, `loadSafetensors(): loading ${source} was aborted`);
      const [begin, end] = info.dataOffsets;
      // This tensor's bytes alone, with its offsets made relative to them.
      const piece = { data: await file.source.read(header.dataStart + begin, end - begin) };
      const local = { ...info, dataOffsets: [0, end - begin] as [number, number] };
      const store = isFloatFileDType(info.dtype)
        ? options.storeAs?.(info.name, info.shape, info.dtype)
        : undefined;
      if (store !== undefined)
        tensors.set(info.name, storedTensor(piece, local, store, options.backend, source));
      else {
        const { dtype, shape, data } = decodeSafetensorsTensor(piece, local, {
          dtype: options.dtype,
          source,
        });
        tensors.set(info.name, tensor(data, shape, { backend: options.backend, dtype }));
      }
      report(header.dataStart + end);
    }
    throwIfAborted(options.signal, `loadSafetensors(): loading ${source} was aborted`);
    for (const [key, value] of Object.entries(header.metadata)) {
      if (!Object.hasOwn(metadata, key)) setOwn(metadata, key, value);
    }
    await file.commit();
    report(size);
  } finally {
    await file.release();
  }
}

async function loadSharded(index: Location, context: LoadContext): Promise<void> {
  const { options } = context;
  const { value: shardIndex, file: indexFile } = await readParsed(index, context, async (f, source) => {
    const bytes = await readAll(f.source);
    if (!f.reported)
      options.onProgress?.({ file: source, loaded: bytes.byteLength, total: bytes.byteLength });
    return parseShardIndex(bytes, source);
  });
  try {
    await loadShards(index, shardIndex, context);
    await indexFile.commit();
  } finally {
    await indexFile.release();
  }
}

async function loadShards(index: Location, shardIndex: ShardIndex, context: LoadContext): Promise<void> {
  const { options, tensors } = context;
  const indexSource = describeLocation(index);
  // Group the wanted tensors by shard, keeping the index's first-mention order of shards.
  const shards = new Map<string, Set<string>>();
  for (const [name, shard] of shardIndex.weightMap) {
    if (options.filter && !options.filter(name)) continue;
    let names = shards.get(shard);
    if (!names) shards.set(shard, (names = new Set()));
    names.add(name);
  }
  for (const [shard, names] of shards) {
    const location = await locateShard(index, shard);
    await loadFile(location, context, (name) => names.has(name));
    const missing = [...names].filter((name) => !tensors.has(name));
    if (missing.length > 0) {
      const listed =
        missing
          .slice(0, 5)
          .map((n) => `"${n}"`)
          .join(', ') + (missing.length > 5 ? ', ...' : '');
      throw new SafetensorsError(
        `safetensors index (${indexSource}): ${missing.length} tensors it maps to ${shard} are not in that file: ${listed}`,
      );
    }
  }
}
