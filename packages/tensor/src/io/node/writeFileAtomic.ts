// Node only: imported by the Node entry alone (index.node.ts hands it to the loaders, io/nodeIo.ts).
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { partialPath } from './partialPath.js';

/** Writes a file's bytes piece by piece, in order, through `write`. */
export type FileWriter = (write: (piece: Uint8Array) => Promise<void>) => Promise<void>;

/**
 * Writes to a temporary file next to `path`, then renames it into place: the rename is atomic on
 * one file system, so readers see either no file or the whole file, never a truncated one. The
 * content is bytes, or a {@link FileWriter} that hands it over piece by piece (a file larger than
 * memory, or than one buffer, is then never held whole).
 */
export async function writeFileAtomic(path: string, content: Uint8Array | FileWriter): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = partialPath(path);
  try {
    if (content instanceof Uint8Array) await writeFile(temp, content);
    else {
      const handle = await open(temp, 'w');
      try {
        await content(async (piece) => {
          // FileHandle.write takes at most 2^31 - 1 bytes a call and may write less than asked:
          // a loop of slices of at most 1 GiB until the piece is out.
          for (let done = 0; done < piece.byteLength; ) {
            const length = Math.min(piece.byteLength - done, 2 ** 30);
            const { bytesWritten } = await handle.write(piece, done, length);
            done += bytesWritten;
          }
        });
      } finally {
        await handle.close();
      }
    }
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}
