// Node only. What tells two versions of a cached file apart without reading it whole: its size and
// a hash of pieces spread over it. A copy or a restore (new inodes, coarser timestamps) keeps it.
import { createHash } from 'node:crypto';
import type { ByteSource } from '../ByteSource.js';

/** Pieces read: the first and last bytes of the file and evenly spaced ones between. */
const PIECES = 16;
const PIECE_BYTES = 4096;

/**
 * `<size>:<sha256 of 16 pieces of 4 KiB>` of `source`: 64 KiB read whatever the file's size. Two
 * versions of a file (another checkpoint at the same URL) differ in it unless they differ nowhere
 * in those pieces and have the same size.
 *
 * @example
 * ```ts
 * const print = await contentPrint(await openLocalFile(path)); // "7340032:3f9a..."
 * ```
 */
export async function contentPrint(source: ByteSource): Promise<string> {
  const { size } = source;
  const hash = createHash('sha256');
  const piece = Math.min(PIECE_BYTES, size);
  const last = size - piece;
  for (let i = 0; i < PIECES && piece > 0; i++) {
    const at = Math.floor((last * i) / (PIECES - 1));
    hash.update(await source.read(at, piece));
  }
  return `${size}:${hash.digest('hex')}`;
}
