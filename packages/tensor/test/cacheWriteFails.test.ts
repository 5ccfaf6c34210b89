// The download cache is a shortcut, not a requirement: when its disk fills up (or turns read-only)
// halfway through a download, or a browser's storage quota runs out, the file is fetched again
// into memory and the load goes on. Before, a load failed with a bare "ENOSPC: no space left on
// device, write" although the network was fine.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ByteCache } from '../src/io/ByteCache.js';
import { readAll } from '../src/io/ByteSource.js';
import { locateSource } from '../src/io/locateSource.js';
import { readLocation } from '../src/io/readLocation.js';
import { closeServer, listenLocal } from './util/localServer.js';

const file = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff);
let server: Server;
let base: string;
let gets = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.method === 'GET') gets++;
    res.writeHead(200, { 'content-length': String(file.byteLength) });
    res.end(req.method === 'HEAD' ? undefined : file);
  });
  base = await listenLocal(server);
});

afterAll(async () => {
  await closeServer(server);
});

/** A cache whose download reads a first piece of the body, then fails as `failure` says. */
function failingCache(failure: () => Error): ByteCache {
  return {
    open: async () => undefined,
    write: async () => {},
    delete: async () => {},
    async download(_url, body) {
      const reader = body.getReader();
      await reader.read(); // half read, as a disk that fills up midway leaves it
      await reader.cancel();
      throw failure();
    },
  };
}

const systemError = (code: string) =>
  Object.assign(new Error(`${code}: refused, write`), { code, syscall: 'write', errno: -28 });
const quotaError = () =>
  Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' });

test.each([
  ['a full disk (ENOSPC)', () => systemError('ENOSPC')],
  ['a disk over its quota (EDQUOT)', () => systemError('EDQUOT')],
  ['a read-only file system (EROFS)', () => systemError('EROFS')],
  ["a browser's storage quota", quotaError],
])('%s mid-download: the file is fetched again into memory', async (_, failure) => {
  gets = 0;
  const opened = await readLocation(locateSource(`${base}/model.safetensors`), {
    cache: failingCache(failure),
  });
  try {
    expect(opened.fromCache).toBe(false);
    expect(await readAll(opened.source)).toEqual(file);
    expect(gets).toBe(2); // the half-read download, then the one into memory
    await opened.commit(); // a no-op for a file in memory: the cache refused it
  } finally {
    await opened.release();
  }
});

test('a network failure mid-download is not retried as a cache failure', async () => {
  const reset = Object.assign(new TypeError('terminated'), { cause: new Error('other side closed') });
  await expect(
    readLocation(locateSource(`${base}/model.safetensors`), { cache: failingCache(() => reset) }),
  ).rejects.toThrow('terminated');
});
