import type { ReadContext } from './SafetensorsProgress.js';

/**
 * Where downloaded files are kept between loads, keyed by URL: the browser's Cache API or, in
 * Node, a folder. Only complete, validated files are written.
 */
export interface ByteCache {
  /** The cached bytes, or undefined on a miss. */
  read(url: string, context: ReadContext): Promise<Uint8Array | undefined>;
  /** Stores a complete file so that a half-written entry can never be read back. */
  write(url: string, bytes: Uint8Array): Promise<void>;
  delete(url: string): Promise<void>;
}
