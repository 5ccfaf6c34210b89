import { nodeIo } from '../nodeIo.js';

/** Where {@link loadBpeVocabulary} reads openai/CLIP's `bpe_simple_vocab_16e6.txt(.gz)` from. */
export type BpeVocabularySource = URL | string | Uint8Array | ArrayBuffer;

/** The vocabulary shipped with this package (openai/CLIP's, 1.3 MB gzipped). */
function bundledVocabularyUrl(): URL {
  // A literal `new URL(..., import.meta.url)` so that bundlers that handle it (Vite, webpack 5,
  // Parcel) emit the asset beside the bundle.
  return new URL('../../assets/bpe_simple_vocab_16e6.txt.gz', import.meta.url);
}

/**
 * What a page says when the shipped vocabulary is not where this module's URL puts it: the
 * bundler did not copy the asset (esbuild and Rollup without a plugin do not), or a dev server
 * answered with its index.html.
 */
function bundledMiss(url: URL, what: string): Error {
  return new Error(
    `loadBpeVocabulary(): the vocabulary shipped with @vl/clip is not at ${url.href} (${what}): the ` +
      "bundler did not copy the asset this module names with new URL('…', import.meta.url) (Vite, " +
      'webpack 5 and Parcel do; esbuild does not). Serve @vl/clip/assets/bpe_simple_vocab_16e6.txt.gz ' +
      "yourself and pass its URL: ClipTokenizer.load(new URL('/bpe_simple_vocab_16e6.txt.gz', location.href))",
  );
}

/** The shipped vocabulary's bytes: a file in Node, fetched in browsers (gzipped, or an explained error). */
async function readBundled(url: URL): Promise<Uint8Array> {
  if (isNodeRuntime() && url.protocol === 'file:') return readBytes(url);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw Object.assign(bundledMiss(url, `the fetch failed: ${(e as Error).message}`), { cause: e });
  }
  if (!response.ok) throw bundledMiss(url, `HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  // Plain text is the file too: a server that sent it with Content-Encoding: gzip (Vite's does) had
  // the browser unzip it. An HTML page is a dev server's fallback for a path it does not have.
  const type = response.headers.get('content-type') ?? '';
  if (!isGzip(bytes) && (/html/i.test(type) || bytes[0] === 0x3c) /* < */) {
    throw bundledMiss(
      url,
      `the server answered with an HTML page (${type || 'no content type'}), not the file`,
    );
  }
  return bytes;
}

function isNodeRuntime(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

async function gunzipInBrowser(bytes: Uint8Array): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') {
    throw new Error('loadBpeVocabulary(): this runtime has no DecompressionStream to gunzip the vocabulary');
  }
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>])
    .stream()
    .pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function fetchBytes(url: URL | string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(
      `loadBpeVocabulary(): fetching ${String(url)} failed: ${response.status} ${response.statusText}`,
    );
  }
  return new Uint8Array(await response.arrayBuffer());
}

async function readBytes(source: URL | string): Promise<Uint8Array> {
  const remote = source instanceof URL ? source.protocol !== 'file:' : /^(https?|blob|data):/i.test(source);
  if (isNodeRuntime() && !remote) {
    const { readFileBytes } = await nodeIo();
    try {
      return await readFileBytes(source);
    } catch (e) {
      throw new Error(`loadBpeVocabulary(): cannot read ${String(source)}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  return fetchBytes(source);
}

/**
 * Reads openai/CLIP's BPE vocabulary file and returns its text. With no source it loads the copy
 * shipped in this package (from the file system in Node, with `fetch` in browsers, where bundlers
 * emit the asset). A source may be a URL, a path (Node), or the file's bytes; gzipped data is
 * recognized by its header and decompressed (`zlib` in Node, `DecompressionStream` in browsers).
 *
 * @example
 * ```ts
 * const text = await loadBpeVocabulary();
 * const { vocab, merges } = parseBpeVocabulary(text);
 * ```
 */
export async function loadBpeVocabulary(source?: BpeVocabularySource): Promise<string> {
  let bytes: Uint8Array;
  if (source === undefined) bytes = await readBundled(bundledVocabularyUrl());
  else if (source instanceof Uint8Array) bytes = source;
  else if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else if (source instanceof URL || typeof source === 'string') bytes = await readBytes(source);
  else throw new TypeError('loadBpeVocabulary(): expected a URL, a path, a Uint8Array or an ArrayBuffer');
  if (isGzip(bytes)) {
    if (isNodeRuntime()) {
      const { gunzipBytes } = await nodeIo();
      bytes = await gunzipBytes(bytes);
    } else {
      bytes = await gunzipInBrowser(bytes);
    }
  }
  return new TextDecoder('utf-8').decode(bytes);
}
