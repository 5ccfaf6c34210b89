import { checkSource } from './loaderArguments.js';
import { hubFileUrl } from './hubUrl.js';
import { isNode } from './isNode.js';
import { nodeIo } from './nodeIo.js';
import { SafetensorsError } from './SafetensorsError.js';

/**
 * Where {@link loadSafetensors} can read a checkpoint from: a URL (string or `URL`; Hugging Face Hub
 * addresses too: `hf://org/name/file` and model page URLs, see {@link hubFileUrl}), a local path or
 * `file:` URL (Node), a `Blob` / `File`, or bytes in memory. A URL or path ending in `.json` is a
 * sharded checkpoint's index (`model.safetensors.index.json`).
 *
 * @example
 * ```ts
 * const sources: SafetensorsSource[] = [
 *   'https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/model.safetensors',
 *   './weights/model.safetensors.index.json',
 *   fileInput.files![0]!,
 *   new Uint8Array(bytes),
 * ];
 * ```
 */
export type SafetensorsSource = string | URL | Blob | ArrayBuffer | ArrayBufferView;

/** A source classified by how it is read. */
export type Location =
  | { readonly kind: 'url'; readonly href: string }
  | { readonly kind: 'path'; readonly path: string | URL }
  | { readonly kind: 'blob'; readonly blob: Blob; readonly name: string }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array; readonly name: string };

// Two or more letters, so a Windows drive ("C:\\models\\x.safetensors") is not taken for a scheme.
const SCHEME = /^[a-z][a-z0-9+.-]+:/i;

function fromUrl(url: URL): Location {
  if (url.protocol !== 'file:') return { kind: 'url', href: hubFileUrl(url.href) };
  if (!isNode()) throw new TypeError(`loadSafetensors(): ${url.href}: file: URLs can only be read in Node`);
  return { kind: 'path', path: url };
}

// In Node a relative path may hold a colon ("step:1.safetensors"): only these, or a scheme followed
// by "//", make a string a URL there.
const NODE_SCHEMES = /^(https?|file|hf|blob|data):/i;

function isUrlString(source: string): boolean {
  if (!SCHEME.test(source)) return false;
  return !isNode() || NODE_SCHEMES.test(source) || /^[a-z][a-z0-9+.-]+:\/\//i.test(source);
}

export function locateSource(source: SafetensorsSource): Location {
  checkSource(source, 'loadSafetensors()');
  if (typeof source === 'string') {
    if (isUrlString(source)) return fromUrl(new URL(source));
    if (isNode()) return { kind: 'path', path: source };
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    if (!base)
      throw new TypeError(
        `loadSafetensors(): cannot resolve the relative URL "${source}" without a page location`,
      );
    return fromUrl(new URL(source, base));
  }
  if (source instanceof URL) return fromUrl(source);
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = (source as Partial<File>).name;
    return { kind: 'blob', blob: source, name: typeof name === 'string' && name ? name : 'Blob' };
  }
  if (source instanceof ArrayBuffer)
    return { kind: 'bytes', bytes: new Uint8Array(source), name: 'ArrayBuffer' };
  const view = source as ArrayBufferView; // checked above: the one kind left
  return {
    kind: 'bytes',
    bytes: new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
    name: view.constructor.name,
  };
}

export function describeLocation(location: Location): string {
  switch (location.kind) {
    case 'url':
      return location.href;
    case 'path':
      return String(location.path);
    default:
      return location.name;
  }
}

/**
 * A `.json` URL, path or File is a sharded checkpoint's index; no safetensors file is named so.
 * (A File index is refused later with a reason: its shards could not be found.)
 */
export function isIndexLocation(location: Location): boolean {
  if (location.kind === 'url') return new URL(location.href).pathname.toLowerCase().endsWith('.json');
  if (location.kind === 'path') {
    const path = location.path instanceof URL ? location.path.pathname : location.path;
    return path.toLowerCase().endsWith('.json');
  }
  return location.kind === 'blob' && location.name.toLowerCase().endsWith('.json');
}

/**
 * Whether a shard name from an index is a plain relative path. An index from one server must not
 * send the loader to another server or up out of the checkpoint's folder.
 */
export function isPlainShardName(name: string): boolean {
  if (name === '' || SCHEME.test(name) || /^[/\\]/.test(name) || /^[a-z]:/i.test(name)) return false;
  // A URL reads "%2e%2e" as "..".
  return !name.split(/[/\\]/).some((part) => part === '..' || /^(\.|%2e){2}$/i.test(part));
}

/** The location of shard `name`, relative to the index's folder. */
export async function locateShard(index: Location, name: string): Promise<Location> {
  if (index.kind === 'url') {
    // Inside the index's folder, on its server, with its query (a token, a signature) kept.
    const indexUrl = new URL(index.href);
    const folder = new URL('./', indexUrl);
    folder.search = '';
    const url = new URL(name, folder);
    if (url.origin !== folder.origin || !url.pathname.startsWith(folder.pathname)) {
      throw new SafetensorsError(
        `safetensors index (${index.href}): shard ${JSON.stringify(name)} is outside the index's folder`,
      );
    }
    url.search = indexUrl.search;
    return { kind: 'url', href: url.href };
  }
  if (index.kind === 'path') {
    const { resolveSibling } = nodeIo('loading a sharded checkpoint from a path');
    return { kind: 'path', path: resolveSibling(index.path, name) };
  }
  throw new TypeError(
    `loadSafetensors(): the shards of ${describeLocation(index)} cannot be located; load the index from a URL or a path`,
  );
}
