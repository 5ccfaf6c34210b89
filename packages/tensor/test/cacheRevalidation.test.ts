// Downloads kept in the cache are checked with their server on the next load by a plain HEAD
// request (no custom header, so no CORS preflight): the ETag, else the Last-Modified it reports is
// compared with the one kept. A file changed upstream (hf://org/name follows the main branch) is
// fetched again instead of served stale beside newer files; a server that names no version gets
// the file downloaded again; without a reachable server the cached copy is used.
import { cpSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type Backend,
  createBackend,
  loadJson,
  loadJsonIfExists,
  loadSafetensors,
  saveSafetensors,
  tensor,
} from '../src/index.node.js';
import { closeServer, listenLocal } from './util/localServer.js';
import { revalidation } from '../src/io/fetchResponse.js';

let backend: Backend;
let temp: string;
let server: Server;
let base: string;
let version = 1;
const log: string[] = []; // "<method> <path>" per request
const files = new Map<number, Uint8Array>();
const gone = new Set<string>(); // paths the server no longer has (404)
let silent = false; // HEAD requests get no answer

beforeAll(async () => {
  backend = await createBackend('cpu');
  temp = await mkdtemp(join(tmpdir(), 'vl-revalidate-'));
  for (const v of [1, 2]) {
    const w = tensor([v, v], [2], { backend });
    files.set(v, await saveSafetensors({ w }));
    w.dispose();
  }
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    log.push(`${req.method} ${path}`);
    // /etag/...: an ETag; /modified/...: only Last-Modified (python -m http.server); /none/...: neither.
    const headers: Record<string, string> = {};
    if (path.startsWith('/etag/')) headers.etag = `"v${version}"`;
    if (path.startsWith('/modified/'))
      headers['last-modified'] = new Date(Date.UTC(2026, 0, version)).toUTCString();
    if (path.endsWith('/absent.json') || gone.has(path)) return res.writeHead(404).end();
    if (req.method === 'HEAD' && silent) return; // a black-holed network: no answer at all
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return res.end();
    res.end(path.endsWith('.json') ? JSON.stringify({ version }) : files.get(version));
  });
  base = await listenLocal(server);
});

afterAll(async () => {
  backend.dispose();
  await closeServer(server);
  await rm(temp, { recursive: true, force: true });
});

async function weight(kind: string, cacheDir: string): Promise<number[]> {
  const { tensors, dispose } = await loadSafetensors(`${base}/${kind}/m.safetensors`, { backend, cacheDir });
  const values = Array.from(await tensors.get('w')!.read());
  dispose();
  return values;
}

test.each(['etag', 'modified'])(
  'by %s: unchanged costs a HEAD; changed is fetched again; offline the copy is used',
  async (kind) => {
    version = 1;
    const cacheDir = join(temp, `cache-${kind}`);
    expect(await weight(kind, cacheDir)).toEqual([1, 1]);
    expect(await loadJson(`${base}/${kind}/config.json`, { cacheDir })).toEqual({ version: 1 });
    expect(log.splice(0)).toEqual([`GET /${kind}/m.safetensors`, `GET /${kind}/config.json`]);

    expect(await weight(kind, cacheDir)).toEqual([1, 1]);
    expect(await loadJson(`${base}/${kind}/config.json`, { cacheDir })).toEqual({ version: 1 });
    expect(log.splice(0)).toEqual([`HEAD /${kind}/m.safetensors`, `HEAD /${kind}/config.json`]);

    version = 2; // a new commit on the branch the URLs follow
    expect(await weight(kind, cacheDir)).toEqual([2, 2]);
    expect(await loadJson(`${base}/${kind}/config.json`, { cacheDir })).toEqual({ version: 2 });
    expect(log.splice(0)).toEqual([
      `HEAD /${kind}/m.safetensors`,
      `GET /${kind}/m.safetensors`,
      `HEAD /${kind}/config.json`,
      `GET /${kind}/config.json`,
    ]);
  },
);

test('a server that names no version gets the file downloaded again; offline the copy is used', async () => {
  version = 1;
  const cacheDir = join(temp, 'cache-none');
  expect(await weight('none', cacheDir)).toEqual([1, 1]);
  version = 2;
  expect(await weight('none', cacheDir)).toEqual([2, 2]);
  expect(log.splice(0)).toEqual([
    'GET /none/m.safetensors',
    'HEAD /none/m.safetensors',
    'GET /none/m.safetensors',
  ]);

  // An optional file the server does not have (a checkpoint without tokenizer.json, say).
  expect(await loadJsonIfExists(`${base}/etag/absent.json`, { cacheDir })).toBeUndefined();
  // Required, it is an error in the words of the function called, not of the shared reader.
  await expect(
    loadJson(`${base}/etag/absent.json`, { cacheDir: join(temp, 'cache-absent') }),
  ).rejects.toThrow(/^loadJson\(\): could not fetch .*absent\.json: HTTP 404/);
  log.splice(0);

  // The server goes away: the cached copies are what there is, and a file that was not there
  // is still not there (rather than a network error that fails the whole load).
  const etagCache = join(temp, 'cache-etag');
  await closeServer(server);
  expect(await weight('none', cacheDir)).toEqual([2, 2]);
  expect(await weight('etag', etagCache)).toEqual([2, 2]);
  expect(await loadJsonIfExists(`${base}/etag/absent.json`, { cacheDir })).toBeUndefined();
  await expect(loadJsonIfExists(`${base}/etag/never-asked.json`, { cacheDir })).rejects.toThrow(
    /could not fetch/,
  );
  await listenLocal(server, Number(new URL(base).port));
});

test('a file the server no longer has (404) is not served from the cache, online or offline', async () => {
  version = 1;
  const cacheDir = join(temp, 'cache-gone');
  expect(await weight('etag', cacheDir)).toEqual([1, 1]);
  expect(await loadJson(`${base}/etag/gone.json`, { cacheDir })).toEqual({ version: 1 });
  // Upstream deletes both (a checkpoint converted to shards drops its model.safetensors, say).
  gone.add('/etag/m.safetensors');
  gone.add('/etag/gone.json');
  log.splice(0);
  await expect(weight('etag', cacheDir)).rejects.toThrow(/HTTP 404/);
  expect(await loadJsonIfExists(`${base}/etag/gone.json`, { cacheDir })).toBeUndefined();
  expect(log.splice(0)).toEqual([
    'HEAD /etag/m.safetensors',
    'GET /etag/m.safetensors',
    'HEAD /etag/gone.json',
    'GET /etag/gone.json',
  ]);
  // The copies are dropped: offline, the files are still absent rather than their old bytes.
  expect((await readdir(cacheDir)).filter((name) => !name.endsWith('.missing'))).toEqual([]);
  await closeServer(server);
  expect(await loadJsonIfExists(`${base}/etag/gone.json`, { cacheDir })).toBeUndefined();
  await listenLocal(server, Number(new URL(base).port));
  gone.clear();
});

test('a server that does not answer the check is waited for briefly, then the copy is used', async () => {
  version = 1;
  const cacheDir = join(temp, 'cache-silent');
  expect(await weight('etag', cacheDir)).toEqual([1, 1]);
  const before = revalidation.timeoutMs;
  revalidation.timeoutMs = 200; // 10 s in use; Node's own wait would be minutes
  silent = true;
  try {
    // Without the wait of its own the load hangs for Node's (minutes), past this test's timeout.
    expect(await weight('etag', cacheDir)).toEqual([1, 1]);
  } finally {
    silent = false;
    revalidation.timeoutMs = before;
    // (the unanswered requests were aborted by the loader, which closes their sockets; closing all
    // connections here would also close idle keep-alive ones a later fetch may reuse)
    log.splice(0);
  }
}, 30_000);

test('a cache folder copied elsewhere (new inodes and times) still serves its copies as current', async () => {
  version = 1;
  const cacheDir = join(temp, 'cache-original');
  expect(await weight('etag', cacheDir)).toEqual([1, 1]);
  const copy = join(temp, 'cache-copied');
  cpSync(cacheDir, copy, { recursive: true }); // as a CI cache restore or a backup would
  log.splice(0);
  expect(await weight('etag', copy)).toEqual([1, 1]);
  expect(log.splice(0)).toEqual(['HEAD /etag/m.safetensors']); // checked, not downloaded again
});
