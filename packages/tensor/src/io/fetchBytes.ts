import { abortError, throwIfAborted } from './abortError.js';
import { markNotFound } from './notFound.js';
import { readStream } from './readStream.js';
import type { ReadContext } from './SafetensorsProgress.js';

/**
 * The byte count a response promises, or undefined when it makes no promise about the body we
 * see: without Content-Length, or when compressed (Content-Length then counts compressed bytes
 * but the body arrives decompressed).
 */
function declaredLength(headers: Headers): number | undefined {
  const encoding = headers.get('content-encoding');
  if (encoding && encoding.toLowerCase() !== 'identity') return undefined;
  const value = headers.get('content-length');
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}

/** Downloads `url` completely, with progress, abort and a check against Content-Length. */
export async function fetchBytes(url: string, context: ReadContext): Promise<Uint8Array> {
  const { signal } = context;
  throwIfAborted(signal, `loadSafetensors(): the download of ${url} was aborted before it started`);
  let response: Response;
  try {
    response = await fetch(url, { signal: signal ?? null });
  } catch (e) {
    if (signal?.aborted) throw abortError(`loadSafetensors(): the download of ${url} was aborted`, signal);
    // Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, ...) is its cause.
    const cause = (e as Error).cause as { message?: string; code?: string } | undefined;
    const why = cause?.message ?? cause?.code;
    throw new Error(
      `loadSafetensors(): could not fetch ${url}: ${(e as Error).message}${why ? ` (${why})` : ''}`,
      {
        cause: e,
      },
    );
  }
  if (!response.ok) {
    void response.body?.cancel().catch(() => {});
    const error = new Error(
      `loadSafetensors(): could not fetch ${url}: HTTP ${response.status} ${response.statusText}`.trimEnd(),
    );
    throw response.status === 404 || response.status === 410 ? markNotFound(error) : error;
  }
  const total = declaredLength(response.headers);
  const what = `the download of ${url}`;
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    context.onProgress?.({ file: context.file, loaded: bytes.byteLength, total: bytes.byteLength });
    return bytes;
  }
  return readStream(response.body, { ...context, total, what });
}
