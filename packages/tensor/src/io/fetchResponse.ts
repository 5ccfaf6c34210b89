import { abortError, throwIfAborted } from './abortError.js';
import { markNotFound } from './notFound.js';
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

/** A successful response to `url` (its body not yet read) and the byte count it promises. */
export async function fetchResponse(
  url: string,
  context: ReadContext,
): Promise<{ response: Response; total: number | undefined }> {
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
  return { response, total: declaredLength(response.headers) };
}

/** A Hugging Face Hub URL pinned to a commit: its bytes never change, so no revalidation. */
function immutable(url: string): boolean {
  return /^https:\/\/(huggingface\.co|hf\.co)\/.*\/resolve\/[0-9a-f]{40}\//i.test(url);
}

/**
 * What identifies the version a response holds: its ETag, else its Last-Modified (both readable
 * cross-origin only as far as CORS exposes them; Last-Modified always is), else undefined.
 */
export function versionOf(headers: Headers): string | undefined {
  const etag = headers.get('etag');
  if (etag) return `etag ${etag}`;
  const modified = headers.get('last-modified');
  return modified ? `modified ${modified}` : undefined;
}

/** @internal How long the check of a cached copy waits for the server before it uses the copy (tests shorten it). */
export const revalidation = { timeoutMs: 10_000 };

/**
 * Whether a cached copy of `url` whose version (see {@link versionOf}) is `version` is still what
 * the server holds, asked with a plain HEAD request (no custom header, so no CORS preflight): yes
 * for a URL pinned to a commit, for the same version, and when the server cannot be asked
 * (offline, no answer within 10 s, an error status other than "not found":
 * the copy is better than nothing); no when the
 * version changed or cannot be compared, and when the server says the file is gone (404, 410):
 * then the file is fetched again, which reports what the server says.
 */
export async function isCurrent(
  url: string,
  version: string | undefined,
  context: ReadContext,
): Promise<boolean> {
  if (immutable(url)) return true;
  const { signal } = context;
  // A server that does not answer (a captive or black-holed network) would hold the load for the
  // platform's own timeout, minutes in Node: after 10 s the copy is used.
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(), revalidation.timeoutMs);
  const onAbort = () => timer.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let response: Response;
  try {
    response = await fetch(url, { method: 'HEAD', signal: signal?.aborted ? signal : timer.signal });
  } catch {
    if (signal?.aborted) throw abortError(`loadSafetensors(): the download of ${url} was aborted`, signal);
    return true;
  } finally {
    clearTimeout(timeout);
    signal?.removeEventListener('abort', onAbort);
  }
  // A file deleted upstream must not live on in the cache (a model.safetensors replaced by shards).
  if (response.status === 404 || response.status === 410) return false;
  if (!response.ok) return true;
  const now = versionOf(response.headers);
  return now !== undefined && now === version;
}
