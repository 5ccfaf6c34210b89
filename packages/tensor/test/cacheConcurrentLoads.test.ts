// Two loads of one URL at once in a process (React's strict mode runs an effect twice; two models
// share a file) download it once: the second waits for the first's copy in the cache. A waiter can
// still be aborted, and a first download that fails leaves the second to download on its own.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { type Backend, createBackend, loadSafetensors, saveSafetensors, tensor } from '../src/index.node.js';
import { closeServer, listenLocal } from './util/localServer.js';

let backend: Backend;
let temp: string;
let server: Server;
let base: string;
let file: Uint8Array;
let gets: string[] = [];
let hold: Promise<void> | undefined; // the first GET of a path sends half its bytes, then waits for this
let failFirst = false; // the first GET of a path sends half its bytes and drops the connection
let opened: () => void = () => {};

beforeAll(async () => {
  backend = await createBackend('cpu');
  temp = await mkdtemp(join(tmpdir(), 'vl-concurrent-'));
  const w = tensor(
    new Float32Array(4096).map((_, i) => i),
    [64, 64],
    { backend },
  );
  file = await saveSafetensors({ w });
  w.dispose();
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    res.writeHead(200, { 'content-length': String(file.byteLength), etag: '"v1"' });
    if (req.method === 'HEAD') return res.end();
    gets.push(path);
    const first = gets.filter((p) => p === path).length === 1;
    if (!first || (!hold && !failFirst)) return res.end(file);
    res.write(file.subarray(0, file.byteLength >> 1));
    opened();
    if (failFirst) return res.destroy();
    void hold?.then(() => res.end(file.subarray(file.byteLength >> 1)));
  });
  base = await listenLocal(server);
});

afterAll(async () => {
  backend.dispose();
  await closeServer(server);
  await rm(temp, { recursive: true, force: true });
});

beforeEach(() => {
  gets = [];
  hold = undefined;
  failFirst = false;
});

/** Resolves once the server has sent the first half of a download. */
function firstHalfSent(): Promise<void> {
  return new Promise((resolve) => {
    opened = resolve;
  });
}

async function values(load: ReturnType<typeof loadSafetensors>): Promise<number[]> {
  const { tensors } = await load;
  const w = tensors.get('w')!;
  const data = Array.from(await w.read());
  w.dispose();
  return data;
}

const expected = Array.from({ length: 4096 }, (_, i) => i);

test('a second load of a URL being downloaded waits for it and reads the cached copy', async () => {
  let release = (): void => {};
  hold = new Promise((resolve) => {
    release = resolve;
  });
  const cacheDir = join(temp, 'a');
  const sent = firstHalfSent();
  const first = values(loadSafetensors(`${base}/shared.safetensors`, { backend, cacheDir }));
  await sent;
  const second = values(loadSafetensors(`${base}/shared.safetensors`, { backend, cacheDir }));
  await new Promise((resolve) => setTimeout(resolve, 200)); // time to start a second download, if it would
  release();
  expect(await first).toEqual(expected);
  expect(await second).toEqual(expected);
  expect(gets).toEqual(['/shared.safetensors']);
});

test('a load waiting for another download stops when its signal aborts', async () => {
  let release = (): void => {};
  hold = new Promise((resolve) => {
    release = resolve;
  });
  const cacheDir = join(temp, 'b');
  const sent = firstHalfSent();
  const first = values(loadSafetensors(`${base}/aborted.safetensors`, { backend, cacheDir }));
  await sent;
  const controller = new AbortController();
  const second = loadSafetensors(`${base}/aborted.safetensors`, {
    backend,
    cacheDir,
    signal: controller.signal,
  });
  controller.abort(new Error('the user left'));
  await expect(second).rejects.toMatchObject({
    name: 'AbortError',
    message: expect.stringMatching(/aborted/),
  });
  release();
  expect(await first).toEqual(expected);
  expect(gets).toEqual(['/aborted.safetensors']);
});

test('when the download waited for fails, the waiting load downloads the file itself', async () => {
  failFirst = true;
  const cacheDir = join(temp, 'c');
  const sent = firstHalfSent();
  const first = loadSafetensors(`${base}/flaky.safetensors`, { backend, cacheDir });
  await sent;
  const second = values(loadSafetensors(`${base}/flaky.safetensors`, { backend, cacheDir }));
  await expect(first).rejects.toThrow();
  expect(await second).toEqual(expected);
  expect(gets).toEqual(['/flaky.safetensors', '/flaky.safetensors']);
});

test('loads without a cache do not wait for each other', async () => {
  let release = (): void => {};
  hold = new Promise((resolve) => {
    release = resolve;
  });
  const sent = firstHalfSent();
  const first = values(loadSafetensors(`${base}/uncached.safetensors`, { backend, cache: false }));
  await sent;
  expect(await values(loadSafetensors(`${base}/uncached.safetensors`, { backend, cache: false }))).toEqual(
    expected,
  );
  release();
  expect(await first).toEqual(expected);
  expect(gets).toEqual(['/uncached.safetensors', '/uncached.safetensors']);
});
