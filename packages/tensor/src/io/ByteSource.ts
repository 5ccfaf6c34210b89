// A file read piece by piece rather than whole: a checkpoint shard can outgrow the largest buffer
// JavaScript allocates (4 GiB in Node 20; LLaVA-1.5-7B's first shard is 4.98 GB), and reading it
// whole would hold it in memory twice, as bytes and as tensors.

/** A file's size and its bytes at any offset. */
export interface ByteSource {
  readonly size: number;
  /** `length` bytes from `offset` (both within the file). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the file (an open handle in Node); reads after it fail. Idempotent. */
  close(): Promise<void>;
}

/** Bytes already in memory (views, not copies). */
export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.byteLength,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
    close: async () => {},
  };
}

/** A Blob or File: browsers keep large ones on disk, and slices are read on demand. */
export function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
    close: async () => {},
  };
}

/**
 * A buffer of `length` bytes, or an error naming `what` when this engine cannot allocate one that
 * large (Node 20 stops at 4 GiB).
 */
export function allocateBytes(length: number, what: string): Uint8Array {
  try {
    return new Uint8Array(length);
  } catch (e) {
    throw new RangeError(
      `${what} is ${length} bytes, more than this JavaScript engine holds in one buffer; a safetensors file that large loads piece by piece from a path, a Blob, or a URL with the cache on`,
      { cause: e },
    );
  }
}

/** The whole file in one buffer (a config, an index). */
export async function readAll(source: ByteSource): Promise<Uint8Array> {
  return source.read(0, source.size);
}
