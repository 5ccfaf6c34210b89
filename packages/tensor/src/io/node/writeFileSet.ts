// Node only: imported by the Node entry alone (index.node.ts hands it to the loaders, io/nodeIo.ts).
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { partialPath } from './partialPath.js';
import { sweepPartials } from './sweepPartials.js';
import { type FileWriter, writeFileAtomic } from './writeFileAtomic.js';

/** One file of a {@link writeFileSet}: its name in the folder and its bytes (or a writer of them). */
export interface FileSetEntry {
  readonly name: string;
  readonly content: Uint8Array | FileWriter;
}

/**
 * Writes several files into `folder` as one set (a sharded checkpoint). Each is first written to a
 * temporary name (partialPath's; leftovers of a save that died with its process are swept from the
 * folder first, as sweepPartials does for downloads), so the folder needs room for the old and the
 * new files at once. Only once every one is complete are they renamed into place, in the order
 * given, so a file listed last (an index) lands after the files it names. The files they replace
 * are moved aside first: a failed write or rename removes what this call wrote and puts those back,
 * so the folder holds the earlier set, whole, or the new one. Then the folder's other plain files
 * that `isStale` picks (an earlier save's shards) are removed; an error there is passed on, with
 * the new set already in place. `op` names the caller in errors.
 */
export async function writeFileSet(
  folder: string,
  files: readonly FileSetEntry[],
  isStale: (name: string) => boolean,
  op: string,
): Promise<void> {
  await makeFolder(folder, op);
  await sweepPartials(folder);
  const staged = files.map(({ name }) => {
    const path = join(folder, name);
    return { path, temp: partialPath(path) };
  });
  const replaced: { path: string; aside: string }[] = [];
  const placed: string[] = [];
  try {
    // writeFileAtomic writes to a partial name of its own and renames it to ours when complete.
    for (const [i, { content }] of files.entries()) await writeFileAtomic(staged[i]!.temp, content);
    for (const { path } of staged) {
      // A folder in the way is left where it is: the rename below fails on it.
      if (!(await isFileOrLink(path))) continue;
      const aside = partialPath(path);
      await rename(path, aside);
      replaced.push({ path, aside });
    }
    for (const { path, temp } of staged) {
      await rename(temp, path);
      placed.push(path);
    }
  } catch (e) {
    // Best effort: the first error is the one reported.
    await Promise.all([...staged.map((s) => s.temp), ...placed].map((p) => rm(p, { force: true })));
    for (const { path, aside } of replaced) await rename(aside, path).catch(() => undefined);
    throw e;
  }
  await Promise.all(replaced.map(({ aside }) => rm(aside, { force: true })));
  const written = new Set(files.map((f) => f.name));
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    // Only plain files: a folder that happens to have a shard's name is not an earlier save's.
    if (entry.isFile() && !written.has(entry.name) && isStale(entry.name))
      await rm(join(folder, entry.name), { force: true });
  }
}

/** Creates `folder` (and its parents); a file in its place is an error that says so. */
async function makeFolder(folder: string, op: string): Promise<void> {
  try {
    await mkdir(folder, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw new Error(`${op}: ${folder} (or a folder above it) is a file, not a folder to save into`, {
        cause: e,
      });
    throw e;
  }
}

async function isFileOrLink(path: string): Promise<boolean> {
  try {
    return !(await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}
