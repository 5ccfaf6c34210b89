import type { ByteCache } from './ByteCache.js';
import { browserCache } from './browserCache.js';
import { isNode } from './isNode.js';
import { nodeIo, optionalNodeIo } from './nodeIo.js';

/**
 * The cache for downloads: none when `cache` is false; a folder in Node when `cacheDir` is given;
 * else the Cache API where it exists (browsers, workers); else the default folder in Node.
 */
export async function openByteCache(options: {
  cache?: boolean;
  cacheDir?: string;
}): Promise<ByteCache | undefined> {
  if (options.cache === false) return undefined;
  if (isNode() && options.cacheDir !== undefined) return nodeIo('a cacheDir').fileCache(options.cacheDir);
  if (typeof caches !== 'undefined') return browserCache();
  return optionalNodeIo()?.fileCache(); // Node's entry provides the folder cache
}
