import type { ByteCache } from './ByteCache.js';
import { blobSource } from './ByteSource.js';
import { pumpStream } from './readStream.js';

/** The header of a cached Response that keeps the version of the file (see versionOf). */
const VERSION = 'x-vl-version';

/** The headers a cache entry is stored with: its size and the server's version of it. */
function entryHeaders(size: number, version: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-length': String(size),
  };
  if (version !== undefined) headers[VERSION] = version;
  return headers;
}

/**
 * Whether the origin's storage has room for `bytes` more (navigator.storage.estimate). Without an
 * estimate, no: a cache.put that runs out of room midway would lose the bytes already downloaded.
 */
async function hasRoomFor(bytes: number): Promise<boolean> {
  try {
    const { quota, usage } = await navigator.storage.estimate();
    return quota !== undefined && usage !== undefined && quota - usage > bytes;
  } catch {
    return false;
  }
}

/** A {@link ByteCache} on the Cache API (browsers, workers, Deno), in a cache called `name`. */
export function browserCache(name = 'vl'): ByteCache {
  return {
    async open(url) {
      const response = await (await caches.open(name)).match(url);
      if (!response || response.status === 404) return undefined; // none, or a "not found" note
      // A cached body's Blob stays on disk; its slices are read as tensors need them.
      const version = response.headers.get(VERSION) ?? undefined;
      return { source: blobSource(await response.blob()), version };
    },
    async write(url, bytes, version) {
      // cache.put only commits once the whole body is stored, so there are no partial entries.
      const headers = entryHeaders(bytes.byteLength, version);
      await (await caches.open(name)).put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
    },
    async delete(url) {
      await (await caches.open(name)).delete(url);
    },
    async download(url, body, options, version) {
      const { total } = options;
      if (total === undefined || !(await hasRoomFor(total))) return undefined;
      let cache: Cache;
      try {
        cache = await caches.open(name);
      } catch {
        return undefined; // an unusable cache is a missed optimization: the body is read into memory
      }
      // The bytes go through pumpStream (progress, abort, the Content-Length check) into the entry
      // as they arrive. cache.put stores the entry only once the whole body is in, so a failed
      // download leaves the previous entry, if any, and never a partial one.
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      const writer = writable.getWriter();
      let refused = false; // the cache stopped taking chunks: its error is the one to report
      const sink = (chunk: Uint8Array) =>
        writer.write(chunk).catch((e: unknown) => {
          refused = true;
          throw e;
        });
      const pumped = pumpStream(body, options, sink).then(
        () => writer.close(),
        async (e: unknown) => {
          await writer.abort(e).catch(() => {});
          throw e;
        },
      );
      const stored = cache.put(url, new Response(readable, { headers: entryHeaders(total, version) }));
      // A put that rejects without reading the body (a storage error, a URL it will not store)
      // would leave the pump waiting on a stream nobody drains: fail the pending write instead.
      stored.catch((e: unknown) => writer.abort(e).catch(() => {}));
      const [pump, put] = await Promise.allSettled([pumped, stored]);
      if (pump.status === 'rejected' && !refused) throw pump.reason; // the download's own error
      if (put.status === 'rejected') {
        const why = (put.reason as Error)?.message ?? String(put.reason);
        throw new Error(
          `loadSafetensors(): the browser's cache did not take the download of ${url} (${why}); load it with { cache: false } to keep it in memory instead`,
          { cause: put.reason },
        );
      }
      if (pump.status === 'rejected') throw pump.reason;
      const kept = await cache.match(url);
      if (!kept) throw new Error(`loadSafetensors(): the browser's cache lost ${url} as it was stored`);
      // A cached body's Blob stays on disk; its slices are read as tensors need them.
      const source = blobSource(await kept.blob());
      let good = false;
      return {
        source,
        async commit() {
          good = true;
        },
        async discard() {
          // A copy that did not load (a damaged file the server sent) is not kept.
          if (!good) await cache.delete(url).catch(() => {});
        },
      };
    },
    async isMissing(url) {
      return (await (await caches.open(name)).match(url))?.status === 404;
    },
    async setMissing(url, missing) {
      const cache = await caches.open(name);
      if (missing) await cache.put(url, new Response(null, { status: 404 }));
      else if ((await cache.match(url))?.status === 404) await cache.delete(url);
    },
  };
}
