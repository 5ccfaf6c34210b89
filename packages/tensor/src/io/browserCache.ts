import type { ByteCache } from './ByteCache.js';
import { blobSource } from './ByteSource.js';

/** A {@link ByteCache} on the Cache API (browsers, workers, Deno), in a cache called `name`. */
export function browserCache(name = 'vl'): ByteCache {
  return {
    async open(url) {
      const response = await (await caches.open(name)).match(url);
      // A cached body's Blob stays on disk; its slices are read as tensors need them.
      return response ? blobSource(await response.blob()) : undefined;
    },
    async write(url, bytes) {
      // cache.put only commits once the whole body is stored, so there are no partial entries.
      const headers = {
        'content-type': 'application/octet-stream',
        'content-length': String(bytes.byteLength),
      };
      await (await caches.open(name)).put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
    },
    async delete(url) {
      await (await caches.open(name)).delete(url);
    },
  };
}
