// Node only: imported by the Node entry alone (index.node.ts hands it to the loaders, io/nodeIo.ts).
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { partialPath } from './partialPath.js';
import { type FileWriter, writeFileAtomic } from './writeFileAtomic.js';

/** One file of a {@link writeFileSet}: its name in the folder and its bytes (or a writer of them). */
export interface FileSetEntry {
  readonly name: string;
  readonly content: Uint8Array | FileWriter;
}

/**
 * Writes several files into `folder` as one set (a sharded checkpoint): each to a temporary name
 * (partialPath's, so sweepPartials recognises a crashed save's leftovers), and only once every one
 * is complete, renamed into place in the order given, so a file listed last (an index) lands after
 * the files it names. A failed write or rename removes the temporary files and the files already
 * renamed, leaving no partial set. Then the folder's other files that `isStale` picks (an earlier
 * save's shards) are removed; an error there is passed on, with the new set already in place.
 */
export async function writeFileSet(
  folder: string,
  files: readonly FileSetEntry[],
  isStale: (name: string) => boolean,
): Promise<void> {
  await mkdir(folder, { recursive: true });
  const staged = files.map(({ name }) => {
    const path = join(folder, name);
    return { path, temp: partialPath(path) };
  });
  const placed: string[] = [];
  try {
    // writeFileAtomic writes to a partial name of its own and renames it to ours when complete.
    for (const [i, { content }] of files.entries()) await writeFileAtomic(staged[i]!.temp, content);
    for (const { path, temp } of staged) {
      await rename(temp, path);
      placed.push(path);
    }
  } catch (e) {
    // A file already renamed may have replaced one of an earlier save with the same name: that
    // one is gone either way, and a set missing files must not look like a checkpoint.
    await Promise.all([...staged.map((s) => s.temp), ...placed].map((p) => rm(p, { force: true })));
    throw e;
  }
  const written = new Set(files.map((f) => f.name));
  for (const name of await readdir(folder)) {
    if (!written.has(name) && isStale(name)) await rm(join(folder, name), { force: true });
  }
}
