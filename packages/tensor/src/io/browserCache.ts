import type { ByteCache } from './ByteCache.js';
import { readStream } from './readStream.js';

/** A {@link ByteCache} on the Cache API (browsers, workers, Deno), in a cache called `name`. */
export function browserCache(name = 'vl'): ByteCache {
  return {
    async read(url, context) {
      const response = await (await caches.open(name)).match(url);
      if (!response) return undefined;
      const length = Number(response.headers.get('content-length') ?? Number.NaN);
      const total = Number.isSafeInteger(length) ? length : undefined;
      if (!response.body) return new Uint8Array(await response.arrayBuffer());
      return readStream(response.body, { ...context, total, what: `reading the cached copy of ${url}` });
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
