// Node-only: imported by the Node entry (index.node.ts), or loaded by nodeIo.ts through a specifier
// bundlers do not follow, so browser bundles never load it (browsers fetch and use DecompressionStream).
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

const gunzipAsync = promisify(gunzip);

/**
 * Reads a file (a path or a `file:` URL) into bytes.
 *
 * @example
 * ```ts
 * const bytes = await readFileBytes(new URL('../../assets/bpe_simple_vocab_16e6.txt.gz', import.meta.url));
 * ```
 */
export async function readFileBytes(source: URL | string): Promise<Uint8Array> {
  const buffer = await readFile(source);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * Decompresses gzip data with `zlib`.
 *
 * @example
 * ```ts
 * const text = new TextDecoder().decode(await gunzipBytes(bytes));
 * ```
 */
export async function gunzipBytes(bytes: Uint8Array): Promise<Uint8Array> {
  const buffer = await gunzipAsync(bytes);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
