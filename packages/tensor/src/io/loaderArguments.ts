// The arguments every loader takes, checked before anything is read: undefined (a misspelt option
// or Map key) or a number is named with the loader, not taken for a path or left to fail inside.
import type { Backend } from '../backend.js';
import { describeValue } from '../describeValue.js';
import type { SafetensorsSource } from './locateSource.js';

/** Whether `source` is something the loaders read: a path or URL string, a URL, a Blob or bytes. */
export function isSource(source: unknown): source is SafetensorsSource {
  return (
    typeof source === 'string' ||
    source instanceof URL ||
    (typeof Blob !== 'undefined' && source instanceof Blob) ||
    source instanceof ArrayBuffer ||
    ArrayBuffer.isView(source)
  );
}

/** Throws a TypeError `op: source must be a path, URL, Blob or bytes, got ...` for anything else. */
export function checkSource(source: unknown, op: string): asserts source is SafetensorsSource {
  if (!isSource(source)) {
    throw new TypeError(
      `${op}: source must be a path, URL, Blob or bytes (an ArrayBuffer or a Uint8Array), got ${describeValue(source)}`,
    );
  }
}

/** Throws a TypeError naming `op` unless `options` is an object with a backend. */
export function checkBackendOption(options: unknown, op: string): asserts options is { backend: Backend } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      `${op}: options with a backend are required, e.g. { backend } (create one with createBackend()), got ${describeValue(options)}`,
    );
  }
  const { backend } = options as { backend?: { upload?: unknown } };
  if (typeof backend?.upload !== 'function') {
    throw new TypeError(
      `${op}: options.backend is required (create one with createBackend()), got ${describeValue(backend)}`,
    );
  }
}

/** Throws a TypeError naming `op` unless `folder` is a path, a URL string or a URL. */
export function checkFolder(folder: unknown, op: string): asserts folder is string | URL {
  if (typeof folder !== 'string' && !(folder instanceof URL))
    throw new TypeError(`${op}: folder must be a path, a URL string or a URL, got ${describeValue(folder)}`);
}
