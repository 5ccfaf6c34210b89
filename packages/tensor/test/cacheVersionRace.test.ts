// The version kept beside a cached download (its ETag or Last-Modified) vouches only for the bytes
// it was kept for. Two loads of one URL that fetch different versions at once (the file changed
// upstream between their requests) each rename their download into place, then note its version:
// interleaved, the entry could end up holding one load's bytes beside the other's version, and
// every later load would serve the older bytes as current for as long as the server kept the newer.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { cachePath, fileCache } from '../src/io/node/fileCache.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vl-cache-race-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a version kept beside other bytes than it was kept for vouches for nothing', async () => {
  const cache = fileCache(dir);
  const url = 'https://example.com/org/name/model.safetensors';
  await cache.write(url, new Uint8Array([2, 2]), 'etag "v2"');
  const own = await cache.open(url);
  expect(own?.version).toBe('etag "v2"');
  await own?.source.close();

  // The other load (which fetched v1 before the change) renames its bytes over the entry after
  // this one did, but before this one's version note lands: v1's bytes beside v2's note.
  const path = cachePath(dir, url);
  await writeFile(`${path}.other`, new Uint8Array([1, 1]));
  await rename(`${path}.other`, path);
  const mixed = await cache.open(url);
  expect(mixed?.version).toBeUndefined(); // so the next load downloads the file again
  await mixed?.source.close();
});

test('a staged download keeps its version through the rename into place', async () => {
  const cache = fileCache(dir);
  const url = 'https://example.com/org/name/config.json';
  const body = new Response(new Uint8Array([1, 2, 3])).body!;
  const staged = await cache.download!(url, body, { file: url, total: 3, what: url }, 'etag "a"');
  await staged!.commit();
  const hit = await cache.open(url);
  expect(hit?.version).toBe('etag "a"');
  expect(Array.from(await hit!.source.read(0, 3))).toEqual([1, 2, 3]);
  await hit?.source.close();
});
