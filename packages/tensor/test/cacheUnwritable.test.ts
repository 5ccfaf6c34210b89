// A cache folder that cannot be written (a read-only home in a container, a file where the folder
// should be) costs only the caching: a download is then read into memory, and the load succeeds.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
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
import { closeServer, listenLocal } from './util/localServer.js';

let backend: Backend;
let temp: string;
let server: Server;
let base: string;

beforeAll(async () => {
  backend = await createBackend('cpu');
  temp = await mkdtemp(join(tmpdir(), 'vl-unwritable-'));
  const w = tensor([1, 2], [2], { backend });
  const file = await saveSafetensors({ w });
  w.dispose();
  server = createServer((req, res) => {
    const json = req.url?.endsWith('.json');
    res.writeHead(200, { etag: '"1"', 'content-length': String(json ? 7 : file.byteLength) });
    res.end(req.method === 'HEAD' ? undefined : json ? '{"a":1}' : file);
  });
  base = await listenLocal(server);
});

afterAll(async () => {
  backend.dispose();
  await closeServer(server);
  await rm(temp, { recursive: true, force: true });
});

test('a cacheDir that cannot be created does not fail the load', async () => {
  const blocker = join(temp, 'not-a-folder');
  await writeFile(blocker, 'x');
  const cacheDir = join(blocker, 'cache'); // ENOTDIR on mkdir
  const before = backend.stats().liveTensors;
  const { tensors, dispose } = await loadSafetensors(`${base}/m.safetensors`, { backend, cacheDir });
  expect(Array.from(await tensors.get('w')!.read())).toEqual([1, 2]);
  dispose();
  expect(await loadJson(`${base}/config.json`, { cacheDir })).toEqual({ a: 1 });
  expect(backend.stats().liveTensors).toBe(before);
});
