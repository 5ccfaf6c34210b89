// Node only: imported by the Node entry alone (index.node.ts hands it to the loaders, io/nodeIo.ts).
import { createHash } from 'node:crypto';
import { access, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ByteCache, StagedFile } from '../ByteCache.js';
import type { ByteSource } from '../ByteSource.js';
import { pumpStream } from '../readStream.js';
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

/** Writes (or, without one, removes) the version kept beside a cache entry (see versionOf). */
async function keepVersion(path: string, version: string | undefined): Promise<void> {
  if (version === undefined) await rm(`${path}.version`, { force: true });
  else await writeFileAtomic(`${path}.version`, new TextEncoder().encode(version));
}

/** A {@link ByteCache} in a folder; entries are written to a temporary file and renamed into place. */
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
      const version = await readFile(`${path}.version`, 'utf8').catch(() => undefined);
      return { source, version };
    },
    async write(url, bytes, version) {
      const path = cachePath(dir, url);
      await writeFileAtomic(path, bytes);
      await keepVersion(path, version);
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
    async download(url, body, options, version): Promise<StagedFile> {
      const path = cachePath(dir, url);
      await mkdir(dirname(path), { recursive: true });
      await sweepPartials(dir);
      const temp = partialPath(path);
      const out = await open(temp, 'w');
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
            await rename(temp, path);
            await keepVersion(path, version);
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
