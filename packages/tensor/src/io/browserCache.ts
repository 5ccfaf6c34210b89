import type { ByteCache } from './ByteCache.js';
import { blobSource } from './ByteSource.js';

/** The header of a cached Response that keeps the version of the file (see versionOf). */
const VERSION = 'x-vl-version';

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
      const headers: Record<string, string> = {
        'content-type': 'application/octet-stream',
        'content-length': String(bytes.byteLength),
      };
      if (version !== undefined) headers[VERSION] = version;
      await (await caches.open(name)).put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
    },
    async delete(url) {
      await (await caches.open(name)).delete(url);
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
