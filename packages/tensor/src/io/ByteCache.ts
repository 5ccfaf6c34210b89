import type { ByteSource } from './ByteSource.js';
import type { ReadStreamOptions } from './readStream.js';

/** A download kept in the cache, but not yet as a good copy, until it is known to be good. */
export interface StagedFile {
  /** The downloaded bytes, read from the temporary file. */
  readonly source: ByteSource;
  /** Moves the file into the cache (closing `source`). Never throws. */
  commit(): Promise<void>;
  /** Deletes the temporary file (closing `source`). Never throws; a no-op after commit. */
  discard(): Promise<void>;
}

/** A cached file and the version its server sent with it (ETag or Last-Modified; see versionOf). */
export interface CachedFile {
  readonly source: ByteSource;
  readonly version?: string | undefined;
}

/**
 * Where downloaded files are kept between loads, keyed by URL: the browser's Cache API or, in
 * Node, a folder. Only complete, validated files are written.
 */
export interface ByteCache {
  /** The cached file, or undefined on a miss. */
  open(url: string): Promise<CachedFile | undefined>;
  /** Stores a complete file (and its version) so that a half-written entry can never be read back. */
  write(url: string, bytes: Uint8Array, version?: string): Promise<void>;
  delete(url: string): Promise<void>;
  /** Whether `url` was answered "not found" (404, 410) when last fetched. */
  isMissing?(url: string): Promise<boolean>;
  /** Notes (or clears) that `url` was answered "not found", so an offline load knows it is absent. */
  setMissing?(url: string, missing: boolean): Promise<void>;
  /**
   * Streams a download into the cache as it arrives, so a file larger than memory (or than one
   * buffer) is never held whole: Node's folder cache through a temporary file beside its entry, the
   * Cache API straight into its entry. Resolves to undefined, before reading `body`, when it cannot
   * (the browser's storage has no room for `options.total` bytes, or the size is unknown; Node's
   * folder cannot be created or written to): the caller then reads the body itself.
   */
  download?(
    url: string,
    body: ReadableStream<Uint8Array>,
    options: ReadStreamOptions,
    version?: string,
  ): Promise<StagedFile | undefined>;
}
