// Node only: imported by the Node entry alone (index.node.ts hands it to the loaders, io/nodeIo.ts).
import { createHash } from 'node:crypto';
import { access, type FileHandle, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ByteCache, StagedFile } from '../ByteCache.js';
import { type ByteSource, memorySource } from '../ByteSource.js';
import { pumpStream } from '../readStream.js';
import { contentPrint } from './contentPrint.js';
import { openLocalFile } from './openLocalFile.js';
import { partialPath } from './partialPath.js';
import { sweepPartials } from './sweepPartials.js';
import { writeFileAtomic } from './writeFileAtomic.js';

/** `~/.cache/vl`, where downloads are kept unless `cacheDir` says otherwise. */
export function defaultCacheDir(): string {
  return join(homedir(), '.cache', 'vl');
}

/**
 * The file for `url`: `<dir>/<first 16 hex digits of sha256(url)>-<last path segment>`. The hash
 * keeps distinct URLs apart (and any URL safe as a file name); the name keeps the folder readable.
 */
export function cachePath(dir: string, url: string): string {
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 16);
  let base = '';
  try {
    base = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    // An undecodable name still gets a usable cache file through the hash.
  }
  base = base.replace(/[^A-Za-z0-9._-]/g, '_').slice(-100) || 'file';
  return join(dir, `${hash}-${base}`);
}

/**
 * Writes (or, without one, removes) the version kept beside a cache entry (see versionOf), after
 * the print of the file it describes (see {@link contentPrint}): `<print>\n<version>`.
 */
async function keepVersion(path: string, version: string | undefined, print: string): Promise<void> {
  if (version === undefined) await rm(`${path}.version`, { force: true });
  else await writeFileAtomic(`${path}.version`, new TextEncoder().encode(`${print}\n${version}`));
}

/**
 * The version kept for the entry at `path` whose print is `print`, or undefined: none, or one
 * written for other bytes. A note of an older vl (the version alone, no print line) is taken as is.
 */
async function readVersion(path: string, print: () => Promise<string>): Promise<string | undefined> {
  const text = await readFile(`${path}.version`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const newline = text.indexOf('\n');
  if (newline < 0) return text;
  return text.slice(0, newline) === (await print()) ? text.slice(newline + 1) : undefined;
}

/**
 * Moves a complete temporary file into place as the entry at `path`, then notes its version. Two
 * loads that store different versions of one URL at once can interleave their renames and notes;
 * a note names the bytes it was written for (their print), so one that ends up beside the other
 * load's bytes vouches for nothing, and the file is fetched again, never served stale as current.
 */
async function place(temp: string, path: string, version: string | undefined): Promise<void> {
  const source = await openLocalFile(temp);
  let print: string;
  try {
    print = await contentPrint(source);
  } finally {
    await source.close();
  }
  await rename(temp, path);
  await keepVersion(path, version, print);
}

/**
 * A {@link ByteCache} in a folder; entries are written to a temporary file and renamed into place.
 * A folder that cannot be created or written to costs only the caching: downloads are then read
 * into memory, and writes fail (which loaders ignore).
 */
export function fileCache(dir: string = defaultCacheDir()): ByteCache {
  return {
    async open(url) {
      const path = cachePath(dir, url);
      let source: ByteSource;
      try {
        source = await openLocalFile(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
      try {
        return { source, version: await readVersion(path, () => contentPrint(source)) };
      } catch (e) {
        await source.close();
        throw e;
      }
    },
    async write(url, bytes, version) {
      const path = cachePath(dir, url);
      await writeFileAtomic(path, bytes);
      // The print of the bytes in hand (what place() reads back from a streamed download).
      await keepVersion(path, version, await contentPrint(memorySource(bytes)));
    },
    async isMissing(url) {
      return access(`${cachePath(dir, url)}.missing`).then(
        () => true,
        () => false,
      );
    },
    async setMissing(url, missing) {
      const path = `${cachePath(dir, url)}.missing`;
      if (!missing) await rm(path, { force: true });
      else {
        await mkdir(dir, { recursive: true });
        await writeFile(path, '');
      }
    },
    delete: async (url) => {
      const path = cachePath(dir, url);
      await rm(path, { force: true });
      await rm(`${path}.version`, { force: true });
    },
    async download(url, body, options, version): Promise<StagedFile | undefined> {
      const path = cachePath(dir, url);
      const temp = partialPath(path);
      let out: FileHandle;
      try {
        await mkdir(dirname(path), { recursive: true });
        await sweepPartials(dir);
        out = await open(temp, 'w');
      } catch {
        // A folder that cannot be written (a read-only home, a file in the way) is only a missed
        // optimization: undefined, before the body is read, has the caller read it into memory.
        return undefined;
      }
      try {
        try {
          await pumpStream(body, options, async (chunk) => {
            await out.write(chunk);
          });
        } finally {
          await out.close();
        }
      } catch (e) {
        await rm(temp, { force: true });
        throw e;
      }
      const source = await openLocalFile(temp);
      let settled = false;
      return {
        source,
        async commit() {
          if (settled) return;
          settled = true;
          await source.close().catch(() => {});
          // A read-only or full cache must not fail a load that has already succeeded.
          try {
            await place(temp, path, version);
          } catch {
            await rm(temp, { force: true }).catch(() => {});
          }
        },
        async discard() {
          if (settled) return;
          settled = true;
          await source.close().catch(() => {});
          await rm(temp, { force: true }).catch(() => {});
        },
      };
    },
  };
}
