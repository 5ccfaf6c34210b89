import { throwIfAborted } from './abortError.js';
import type { ByteCache } from './ByteCache.js';
import { fetchBytes } from './fetchBytes.js';
import { describeLocation, type Location } from './locateSource.js';
import { readStream } from './readStream.js';
import type { ReadContext } from './SafetensorsProgress.js';
import { nodeIo } from './nodeIo.js';

export interface ReadLocationOptions extends Omit<ReadContext, 'file'> {
  readonly cache: ByteCache | undefined;
  /** Skip the cache lookup (after a cached copy turned out to be damaged). */
  readonly skipCacheRead?: boolean;
}

/** A file's bytes and what to do with its cache entry once the caller has validated them. */
export interface ReadFile {
  readonly bytes: Uint8Array;
  readonly fromCache: boolean;
  /** Stores a downloaded file in the cache; call only once it is known to be good. Never throws. */
  commit(): Promise<void>;
  /** Drops a cached copy that turned out to be damaged. */
  evict(): Promise<void>;
}

const nothing = async (): Promise<void> => {};

/** Only http(s) downloads are worth caching; blob: and data: URLs are already local. */
function cacheable(href: string): boolean {
  return /^https?:/i.test(href);
}

export async function readLocation(location: Location, options: ReadLocationOptions): Promise<ReadFile> {
  const file = describeLocation(location);
  const context: ReadContext = { file, onProgress: options.onProgress, signal: options.signal };
  throwIfAborted(options.signal, `loadSafetensors(): loading ${file} was aborted`);
  switch (location.kind) {
    case 'bytes':
      context.onProgress?.({ file, loaded: location.bytes.byteLength, total: location.bytes.byteLength });
      return { bytes: location.bytes, fromCache: false, commit: nothing, evict: nothing };
    case 'blob': {
      const { blob } = location;
      const bytes = await readStream(blob.stream(), {
        ...context,
        total: blob.size,
        what: `reading ${file}`,
      });
      return { bytes, fromCache: false, commit: nothing, evict: nothing };
    }
    case 'path': {
      const { readLocalFile } = nodeIo(`reading ${file}`);
      return {
        bytes: await readLocalFile(location.path, context),
        fromCache: false,
        commit: nothing,
        evict: nothing,
      };
    }
    case 'url': {
      const { href } = location;
      const cache = cacheable(href) ? options.cache : undefined;
      if (cache && !options.skipCacheRead) {
        let hit: Uint8Array | undefined;
        try {
          hit = await cache.read(href, context);
        } catch (e) {
          // An unreadable cache is only a missed optimization, but an abort must still stop the load.
          if (options.signal?.aborted) throw e;
        }
        if (hit)
          return {
            bytes: hit,
            fromCache: true,
            commit: nothing,
            evict: () => cache.delete(href).catch(() => {}),
          };
      }
      const bytes = await fetchBytes(href, context);
      return {
        bytes,
        fromCache: false,
        // A read-only or full cache must not fail a load that has already succeeded.
        commit: cache ? () => cache.write(href, bytes).catch(() => {}) : nothing,
        evict: nothing,
      };
    }
  }
}
