import { abortError } from './abortError.js';
import { allocateBytes } from './ByteSource.js';
import type { ReadContext } from './SafetensorsProgress.js';

export interface ReadStreamOptions extends ReadContext {
  /** Bytes the stream should deliver (e.g. Content-Length); fewer is a truncation error. */
  readonly total: number | undefined;
  /** What is being read, for messages: "the download of https://...". */
  readonly what: string;
}

/**
 * Hands a byte stream to `sink` chunk by chunk (each with its offset) with progress events, abort
 * and a check against `total`; returns the byte count.
 */
export async function pumpStream(
  stream: ReadableStream<Uint8Array>,
  options: ReadStreamOptions,
  sink: (chunk: Uint8Array, offset: number) => void | Promise<void>,
): Promise<number> {
  const { signal, total, what, file, onProgress } = options;
  const reader = stream.getReader();
  let loaded = 0;
  const of = total !== undefined ? ` of ${total}` : '';
  const aborted = (): Error =>
    abortError(`loadSafetensors(): ${what} was aborted after ${loaded}${of} bytes`, signal);
  const truncated = (cause?: unknown): Error =>
    new Error(
      `loadSafetensors(): ${what} was truncated: received ${loaded} of the ${total} bytes announced by Content-Length`,
      { cause },
    );
  // Not every stream watches the signal (a Blob's or a cached Response's do not); cancelling wakes
  // a pending read so an abort takes effect at once.
  const cancel = (): void => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    if (signal?.aborted) throw aborted();
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (e) {
        if (signal?.aborted) throw aborted();
        // A server that closes the connection early makes the read fail rather than end.
        if (total !== undefined && loaded < total) throw truncated(e);
        throw new Error(
          `loadSafetensors(): ${what} failed after ${loaded}${of} bytes: ${(e as Error).message}`,
          { cause: e },
        );
      }
      if (result.done) break;
      const chunk = result.value;
      if (total !== undefined && loaded + chunk.byteLength > total) {
        throw new Error(
          `loadSafetensors(): ${what} delivered more than the ${total} bytes announced by Content-Length`,
        );
      }
      await sink(chunk, loaded);
      loaded += chunk.byteLength;
      onProgress?.({ file, loaded, total });
    }
    if (signal?.aborted) throw aborted();
    if (total !== undefined && loaded < total) throw truncated();
  } catch (e) {
    cancel();
    throw e;
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
  if (total === 0) onProgress?.({ file, loaded: 0, total: 0 });
  return loaded;
}

/**
 * Reads a byte stream to the end into memory. A known `total` is allocated up front (one copy of
 * the data in memory); an unknown one is collected in chunks and joined at the end.
 */
export async function readStream(
  stream: ReadableStream<Uint8Array>,
  options: ReadStreamOptions,
): Promise<Uint8Array> {
  const { total, what } = options;
  const buffer = total !== undefined ? allocateBytes(total, what) : undefined;
  const chunks: Uint8Array[] = [];
  const loaded = await pumpStream(stream, options, (chunk, offset) => {
    if (buffer) buffer.set(chunk, offset);
    else chunks.push(chunk);
  });
  if (buffer) return buffer;
  const out = allocateBytes(loaded, what);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
