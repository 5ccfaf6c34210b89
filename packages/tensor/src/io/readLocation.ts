import { throwIfAborted } from './abortError.js';
import type { ByteCache, CachedFile, StagedFile } from './ByteCache.js';
import { blobSource, type ByteSource, memorySource } from './ByteSource.js';
import { fetchResponse, isCurrent, versionOf } from './fetchResponse.js';
import { takeDownloadTurn } from './downloadTurns.js';
import { describeLocation, type Location } from './locateSource.js';
import { nodeIo } from './nodeIo.js';
import { isNotFound, markNotFound } from './notFound.js';
import { readStream } from './readStream.js';
import { isSystemError } from './systemError.js';
import type { ReadContext } from './SafetensorsProgress.js';

export interface ReadLocationOptions extends Omit<ReadContext, 'file'> {
  readonly cache: ByteCache | undefined;
  /** Skip the cache lookup (after a cached copy turned out to be damaged). */
  readonly skipCacheRead?: boolean;
}

/** A file opened for reading, and what to do with its cache entry once the caller has validated it. */
export interface ReadFile {
  readonly source: ByteSource;
  readonly fromCache: boolean;
  /**
   * Whether opening it already reported its progress (a download, bytes in memory); otherwise the
   * reader of `source` reports what it reads.
   */
  readonly reported: boolean;
  /** Stores a downloaded file in the cache; call only once it is known to be good. Never throws. */
  commit(): Promise<void>;
  /** Drops a cached copy that turned out to be damaged. */
  evict(): Promise<void>;
  /** Closes the source and drops a download that was not committed: call when done, however it went. */
  release(): Promise<void>;
}

const nothing = async (): Promise<void> => {};

/** Only http(s) downloads are worth caching; blob: and data: URLs are already local. */
function cacheable(href: string): boolean {
  return /^https?:/i.test(href);
}

function opened(source: ByteSource, reported: boolean, fromCache = false): ReadFile {
  return { source, fromCache, reported, commit: nothing, evict: nothing, release: () => source.close() };
}

/**
 * Opens `location` and runs `use` on it. When `use` fails on a cached copy and `damaged(e)` blames
 * the copy, the copy is dropped and the file downloaded for a second try. A file whose `use`
 * failed is released; after a success `use` decides (it may keep the file open for its caller).
 */
export async function readWithRetry<T>(
  location: Location,
  options: ReadLocationOptions,
  use: (file: ReadFile) => Promise<T>,
  damaged: (e: unknown) => boolean = () => true,
): Promise<T> {
  const attempt = async (file: ReadFile): Promise<T> => {
    try {
      return await use(file);
    } catch (e) {
      await file.release();
      throw e;
    }
  };
  const file = await readLocation(location, options);
  try {
    return await attempt(file);
  } catch (e) {
    if (!file.fromCache || !damaged(e)) throw e;
    await file.evict();
    return attempt(await readLocation(location, { ...options, skipCacheRead: true }));
  }
}

/** Opens a location for reading: files and Blobs piece by piece, URLs downloaded (to the cache's folder in Node). */
export async function readLocation(location: Location, options: ReadLocationOptions): Promise<ReadFile> {
  const file = describeLocation(location);
  const context: ReadContext = { file, onProgress: options.onProgress, signal: options.signal };
  throwIfAborted(options.signal, `loadSafetensors(): loading ${file} was aborted`);
  switch (location.kind) {
    case 'bytes':
      context.onProgress?.({ file, loaded: location.bytes.byteLength, total: location.bytes.byteLength });
      return opened(memorySource(location.bytes), true);
    case 'blob':
      return opened(blobSource(location.blob), false);
    case 'path':
      return opened(await nodeIo(`reading ${file}`).openLocalFile(location.path), false);
    case 'url':
      return readUrl(location.href, options, context);
  }
}

async function readUrl(href: string, options: ReadLocationOptions, context: ReadContext): Promise<ReadFile> {
  const cache = cacheable(href) ? options.cache : undefined;
  if (!cache) return fetchUrl(href, undefined, context);
  // One download of a URL at a time in this process: a load that finds one in flight waits for it
  // and reads the copy it leaves in the cache. A cached copy ends the turn at once, so readers of a
  // cached file never wait for each other.
  const turn = await takeDownloadTurn(
    href,
    options.signal,
    `loadSafetensors(): loading ${context.file} was aborted`,
  );
  let file: ReadFile;
  try {
    file = await readCacheOrFetch(href, cache, options, context);
  } catch (e) {
    turn.end();
    throw e;
  }
  if (file.fromCache) {
    turn.end();
    return file;
  }
  const thenEnd = (step: () => Promise<void>) => async () => {
    try {
      await step();
    } finally {
      turn.end();
    }
  };
  return { ...file, commit: thenEnd(file.commit), release: thenEnd(file.release) };
}

async function readCacheOrFetch(
  href: string,
  cache: ByteCache,
  options: ReadLocationOptions,
  context: ReadContext,
): Promise<ReadFile> {
  if (!options.skipCacheRead) {
    let hit: CachedFile | undefined;
    try {
      hit = await cache.open(href);
    } catch (e) {
      // An unreadable cache is only a missed optimization, but an abort must still stop the load.
      if (options.signal?.aborted) throw e;
    }
    if (hit) {
      // The server is asked whether the copy changed (hf://org/name follows a branch).
      let current: boolean;
      try {
        current = await isCurrent(href, hit.version, context);
      } catch (e) {
        await hit.source.close();
        throw e;
      }
      if (current)
        return { ...opened(hit.source, false, true), evict: () => cache.delete(href).catch(() => {}) };
      await hit.source.close();
    }
  }
  return fetchUrl(href, cache, context);
}

async function fetchUrl(href: string, cache: ByteCache | undefined, context: ReadContext): Promise<ReadFile> {
  let fetched: Awaited<ReturnType<typeof fetchResponse>>;
  try {
    fetched = await fetchResponse(href, context);
  } catch (e) {
    if (cache && isNotFound(e)) {
      // Gone from the server: a copy kept from before must not stand in for it, offline either.
      await cache.delete(href).catch(() => {});
      await cache.setMissing?.(href, true).catch(() => {});
    } else if (cache && !context.signal?.aborted && (await cache.isMissing?.(href).catch(() => false))) {
      // Offline, say: the file was absent when last asked, so an optional file stays optional.
      throw markNotFound(
        new Error(
          `loadSafetensors(): ${href} was not found when last fetched (HTTP 404), and cannot be fetched now`,
          {
            cause: e,
          },
        ),
      );
    }
    throw e;
  }
  if (cache) await cache.setMissing?.(href, false).catch(() => {});
  return download(href, fetched, cache, context);
}

async function download(
  href: string,
  { response, total }: { response: Response; total: number | undefined },
  cache: ByteCache | undefined,
  context: ReadContext,
): Promise<ReadFile> {
  const version = versionOf(response.headers);
  const stream = { ...context, total, what: `the download of ${href}` };
  let staged: StagedFile | undefined;
  try {
    staged =
      cache?.download && response.body
        ? await cache.download(href, response.body, stream, version)
        : undefined;
  } catch (e) {
    if (!cacheWriteFailed(e)) throw e;
    // The cache's disk filled up (or turned read-only) mid-download, and the body is half read.
    // The cache is only a shortcut: the file is fetched again, into memory.
    return download(href, await fetchResponse(href, context), undefined, context);
  }
  if (staged) {
    // Straight into the cache: never held whole in memory.
    return {
      source: staged.source,
      fromCache: false,
      reported: true,
      commit: staged.commit,
      evict: nothing,
      release: staged.discard,
    };
  }
  let bytes: Uint8Array;
  if (response.body) bytes = await readStream(response.body, stream);
  else {
    bytes = new Uint8Array(await response.arrayBuffer());
    context.onProgress?.({ file: context.file, loaded: bytes.byteLength, total: bytes.byteLength });
  }
  return {
    ...opened(memorySource(bytes), true),
    // A read-only or full cache must not fail a load that has already succeeded.
    commit: cache ? () => cache.write(href, bytes, version).catch(() => {}) : nothing,
  };
}

/** Node's errors for a write the file system refused: no space, over quota, read-only, I/O. */
const WRITE_REFUSED = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EIO', 'EACCES', 'EPERM']);

/**
 * Whether `e` is the cache's own write failing (not the network's read), so that a retry without
 * it can work: a file system's refusal in Node, the origin's storage quota in a browser.
 */
function cacheWriteFailed(e: unknown): boolean {
  if ((e as { name?: unknown } | null)?.name === 'QuotaExceededError') return true;
  const code = (e as { code?: unknown } | null)?.code;
  return isSystemError(e) && typeof code === 'string' && WRITE_REFUSED.has(code);
}
