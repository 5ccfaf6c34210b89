// Files vl writes that a crash or a full disk must not leave half-written: an index that search
// reuses, the optimizer state that `vl train --resume` trusts.
import { rename, rm, writeFile } from 'node:fs/promises';

/**
 * Writes `bytes` to `file` whole or not at all: to a temporary file beside it, renamed into place
 * (atomic on one file system), so a crash leaves what was there before.
 *
 * @example
 * ```ts
 * await writeWhole('photos.index', index.save());
 * ```
 */
export async function writeWhole(file: string, bytes: Uint8Array): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temp, bytes);
    await rename(temp, file);
  } catch (e) {
    // A partial write goes; not what stood in its way (a folder, say), which rm refuses.
    await rm(temp, { force: true }).catch(() => {});
    throw e;
  }
}
