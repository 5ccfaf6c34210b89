import type { ByteCache } from './ByteCache.js';
import { blobSource } from './ByteSource.js';

/** A {@link ByteCache} on the Cache API (browsers, workers, Deno), in a cache called `name`. */
export function browserCache(name = 'vl'): ByteCache {
  return {
    async open(url) {
      const response = await (await caches.open(name)).match(url);
      if (!response) return undefined;
      // A cached body's Blob stays on disk; its slices are read as tensors need them.
      return { source: blobSource(await response.blob()), etag: response.headers.get('etag') ?? undefined };
    },
    async write(url, bytes, etag) {
      // cache.put only commits once the whole body is stored, so there are no partial entries.
      const headers: Record<string, string> = {
        'content-type': 'application/octet-stream',
        'content-length': String(bytes.byteLength),
      };
      if (etag !== undefined) headers.etag = etag;
      await (await caches.open(name)).put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
    },
    async delete(url) {
      await (await caches.open(name)).delete(url);
    },
  };
}
