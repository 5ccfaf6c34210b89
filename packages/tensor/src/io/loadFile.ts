import { describeValue } from '../describeValue.js';
import { readAll } from './ByteSource.js';
import type { LoadSafetensorsOptions } from './loadSafetensors.js';
import { describeLocation, type SafetensorsSource, locateSource } from './locateSource.js';
import { isNotFound } from './notFound.js';
import { openByteCache } from './openByteCache.js';
import { type ReadFile, readWithRetry } from './readLocation.js';
import type { SafetensorsProgress } from './SafetensorsProgress.js';
import { hubFileUrl } from './hubUrl.js';
import { checkFolder } from './loaderArguments.js';
import { isSystemError, withMessage } from './systemError.js';

/**
 * Options for {@link loadFile}.
 *
 * @example
 * ```ts
 * const options: LoadFileOptions = { onProgress: (p) => console.log(p.loaded), signal: AbortSignal.timeout(30_000) };
 * ```
 */
export interface LoadFileOptions {
  onProgress?: (progress: SafetensorsProgress) => void;
  signal?: AbortSignal;
  /** Keep http(s) downloads for later loads (default true; checked with the server as {@link LoadSafetensorsOptions.cache} says). */
  cache?: boolean;
  /** Node: the folder for cached downloads (default `~/.cache/vl`). */
  cacheDir?: string;
}

/**
 * Reads a whole file from a URL (streamed, cached like checkpoints), a path or `file:` URL (Node),
 * a Blob or a buffer. Model loaders use it for `config.json`, tokenizer files and the like.
 *
 * @example
 * ```ts
 * const config = JSON.parse(new TextDecoder().decode(await loadFile(joinSource(folder, 'config.json'))));
 * ```
 */
export async function loadFile(
  source: SafetensorsSource,
  options: LoadFileOptions = {},
): Promise<Uint8Array> {
  return readChecked(source, options, () => {}, 'loadFile');
}

/**
 * `e` with its message said by `caller` rather than by the safetensors reader the file readers
 * share ("loadJson(): could not fetch ..." for a loadJson call), and Node's file errors ("ENOENT:
 * no such file or directory, open 'x'") said by `caller` too, their `code` kept; other errors as
 * they are.
 */
function saidBy(e: unknown, caller: string): unknown {
  const prefix = 'loadSafetensors(): ';
  if (isSystemError(e)) return withMessage(e, `${caller}(): ${e.message}`);
  if (!(e instanceof Error) || !e.message.startsWith(prefix)) return e;
  return withMessage(e, `${caller}(): ${e.message.slice(prefix.length)}`);
}

/**
 * Reads a file and runs `check` on its bytes before a download is cached: a response that fails
 * it (an error page served with status 200, say) is not kept, and a cached copy that fails it is
 * dropped and downloaded again. Bytes the caller passed in are copied, never handed back.
 */
async function readChecked(
  source: SafetensorsSource,
  options: LoadFileOptions,
  check: (bytes: Uint8Array) => void,
  caller: string,
): Promise<Uint8Array> {
  try {
    return await readLocated(source, options, check);
  } catch (e) {
    throw saidBy(e, caller);
  }
}

async function readLocated(
  source: SafetensorsSource,
  options: LoadFileOptions,
  check: (bytes: Uint8Array) => void,
): Promise<Uint8Array> {
  const location = locateSource(source);
  const read = {
    cache: await openByteCache(options),
    onProgress: options.onProgress,
    signal: options.signal,
  };
  const name = describeLocation(location);
  const attempt = async (file: ReadFile): Promise<Uint8Array> => {
    try {
      const bytes = await readAll(file.source);
      if (!file.reported)
        options.onProgress?.({ file: name, loaded: bytes.byteLength, total: bytes.byteLength });
      check(bytes);
      await file.commit();
      return location.kind === 'bytes' ? bytes.slice() : bytes;
    } finally {
      await file.release();
    }
  };
  return readWithRetry(location, read, attempt);
}

/**
 * Reads and parses a JSON file (see {@link loadFile}); a parse error names the file.
 *
 * @example
 * ```ts
 * const config = await loadJson(joinSource('https://example.com/models/clip/', 'config.json'));
 * ```
 */
export async function loadJson(source: SafetensorsSource, options: LoadFileOptions = {}): Promise<unknown> {
  return readJson(source, options, 'loadJson');
}

async function readJson(
  source: SafetensorsSource,
  options: LoadFileOptions,
  caller: string,
): Promise<unknown> {
  let json: unknown;
  await readChecked(
    source,
    options,
    (bytes) => {
      json = parseJson(source, bytes);
    },
    caller,
  );
  return json;
}

/**
 * {@link loadFile} for a file a checkpoint may lack (`preprocessor_config.json`, `merges.txt`):
 * `undefined` when it does not exist (no such path, HTTP 404 or 410); any other failure (a network
 * error, an abort) is thrown, so a file that is there but unreadable is never taken for absent.
 *
 * @example
 * ```ts
 * const merges = await loadFileIfExists(joinSource(folder, 'merges.txt')); // Uint8Array | undefined
 * ```
 */
export async function loadFileIfExists(
  source: SafetensorsSource,
  options: LoadFileOptions = {},
): Promise<Uint8Array | undefined> {
  return fileIfExists(source, options, 'loadFileIfExists');
}

async function fileIfExists(
  source: SafetensorsSource,
  options: LoadFileOptions,
  caller: string,
): Promise<Uint8Array | undefined> {
  try {
    return await readChecked(source, options, () => {}, caller);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/**
 * {@link loadFileIfExists} decoded as UTF-8 text (`merges.txt`, `tokenizer.json`, a chat template):
 * `undefined` when the file does not exist.
 *
 * @example
 * ```ts
 * const merges = await loadTextIfExists(joinSource(folder, 'merges.txt')); // string | undefined
 * ```
 */
export async function loadTextIfExists(
  source: SafetensorsSource,
  options: LoadFileOptions = {},
): Promise<string | undefined> {
  const bytes = await fileIfExists(source, options, 'loadTextIfExists');
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

/**
 * {@link loadJson} for a file a checkpoint may lack: `undefined` when it does not exist; a file
 * that is there but is not valid JSON is an error naming it, never taken for absent.
 *
 * @example
 * ```ts
 * const preprocessor = await loadJsonIfExists(joinSource(folder, 'preprocessor_config.json'));
 * ```
 */
export async function loadJsonIfExists(
  source: SafetensorsSource,
  options: LoadFileOptions = {},
): Promise<unknown> {
  try {
    return await readJson(source, options, 'loadJsonIfExists');
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

function parseJson(source: SafetensorsSource, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new SyntaxError(`${String(source)}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Throws for a one-word model's page (https://huggingface.co/gpt2): a file joined onto it would
 * read as a model named after the file.
 */
function oneWordHubPage(folder: string): void {
  let url: URL;
  try {
    url = new URL(folder);
  } catch {
    return;
  }
  if (url.hostname !== 'huggingface.co' && url.hostname !== 'hf.co') return;
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts.length === 1 && !['datasets', 'spaces', 'models'].includes(parts[0]!))
    throw new TypeError(
      `${folder}: a model folder on the Hub is https://huggingface.co/org/name (one-word models have an organization now, e.g. openai-community/gpt2)`,
    );
}

/** `name` inside the folder a URL names, its query kept (a signed URL's, say) rather than taken for part of the path. */
function joinUrl(folder: URL, name: string): URL {
  const url = new URL(folder.href);
  url.pathname = `${url.pathname.replace(/\/$/, '')}/${name}`;
  return url;
}

/**
 * A file inside a checkpoint folder: `folder` is a path, a URL string or a URL object.
 *
 * @example
 * ```ts
 * joinSource('https://example.com/clip', 'config.json'); // 'https://example.com/clip/config.json'
 * joinSource('/models/clip/', 'model.safetensors'); // '/models/clip/model.safetensors'
 * ```
 */
export function joinSource(folder: string | URL, name: string): string | URL {
  checkFolder(folder, 'joinSource');
  if (typeof name !== 'string')
    throw new TypeError(`joinSource: name must be a file name (a string), got ${describeValue(name)}`);
  // An hf:// folder must name org/name: joined onto hf://gpt2, a file would read as the model.
  if (/^hf:/i.test(String(folder))) hubFileUrl(String(folder));
  oneWordHubPage(String(folder));
  if (folder instanceof URL) return joinUrl(folder, name);
  if (/^[a-z][a-z0-9+.-]+:/i.test(folder)) return joinUrl(new URL(folder), name).href;
  return folder.endsWith('/') || folder.endsWith('\\') ? `${folder}${name}` : `${folder}/${name}`;
}
