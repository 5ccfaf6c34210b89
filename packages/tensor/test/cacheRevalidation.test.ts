// Downloads kept in the cache are checked with their server on the next load (If-None-Match with
// the ETag it sent): a file changed upstream (hf://org/name follows the main branch) is fetched
// again instead of served stale beside newer files, an unchanged one costs a 304, and without a
// reachable server the cached copy is used.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type Backend,
  createBackend,
  loadJson,
  loadSafetensors,
  saveSafetensors,
  tensor,
} from '../src/index.node.js';

let backend: Backend;
let temp: string;
let server: Server;
let base: string;
let version = 1;
const log: string[] = []; // "<path> <status>" per request
const files = new Map<number, Uint8Array>();

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
    const etag = `"v${version}"`;
    const status = req.headers['if-none-match'] === etag ? 304 : 200;
    log.push(`${path} ${status}`);
    if (status === 304) return res.writeHead(304, { etag }).end();
    res.writeHead(200, { etag });
    res.end(path.endsWith('.json') ? JSON.stringify({ version }) : files.get(version));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  backend.dispose();
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
  await rm(temp, { recursive: true, force: true });
});

async function weight(cacheDir: string): Promise<number[]> {
  const { tensors, dispose } = await loadSafetensors(`${base}/m.safetensors`, { backend, cacheDir });
  const values = Array.from(await tensors.get('w')!.read());
  dispose();
  return values;
}

test('an unchanged file costs a 304; a changed one is fetched again; offline the copy is used', async () => {
  const cacheDir = join(temp, 'cache');
  expect(await weight(cacheDir)).toEqual([1, 1]);
  expect(await loadJson(`${base}/config.json`, { cacheDir })).toEqual({ version: 1 });
  expect(log.splice(0)).toEqual(['/m.safetensors 200', '/config.json 200']);

  expect(await weight(cacheDir)).toEqual([1, 1]);
  expect(await loadJson(`${base}/config.json`, { cacheDir })).toEqual({ version: 1 });
  expect(log.splice(0)).toEqual(['/m.safetensors 304', '/config.json 304']);

  version = 2; // a new commit on the branch the URLs follow
  expect(await weight(cacheDir)).toEqual([2, 2]);
  expect(await loadJson(`${base}/config.json`, { cacheDir })).toEqual({ version: 2 });
  expect(log.splice(0)).toEqual(['/m.safetensors 200', '/config.json 200']);
  expect((await readdir(cacheDir)).filter((n) => !n.endsWith('.etag'))).toHaveLength(2);

  // The server goes away: the cached copies are what there is.
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
  expect(await weight(cacheDir)).toEqual([2, 2]);
  expect(await loadJson(`${base}/config.json`, { cacheDir })).toEqual({ version: 2 });
  await new Promise<void>((done) => server.listen(Number(new URL(base).port), '127.0.0.1', done));
});
