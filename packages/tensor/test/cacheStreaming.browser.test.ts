// In a browser page a URL download streams into the Cache API as it arrives (the file is never
// held whole in memory): the cache entry is being written before the last byte has come. A
// truncated or aborted download leaves no entry, and a file that does not parse is not kept.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Backend, createBackend, loadSafetensors, saveSafetensors, tensor } from '../src/index.js';

const URL_ = 'https://models.example/vl-streaming-test.safetensors';
let backend: Backend;
let file: Uint8Array;

beforeAll(async () => {
  backend = await createBackend('cpu');
  const w = tensor(
    Float32Array.from({ length: 4096 }, (_, i) => i),
    [64, 64],
    { backend },
  );
  file = await saveSafetensors({ w }, { format: 'pt' });
  w.dispose();
});
afterAll(() => backend.dispose());

/** A fetch that serves `bytes` for URL_ in 8 chunks; `gate` may hold the last chunk back. */
function serve(bytes: Uint8Array, options: { length?: number; gate?: () => Promise<void> } = {}) {
  const real = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    if (String(input) !== URL_) return real(input, init);
    const headers = { 'content-length': String(options.length ?? bytes.length), etag: '"v1"' };
    if (init?.method === 'HEAD') return new Response(null, { headers });
    const step = Math.ceil(bytes.length / 8);
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (at + step >= bytes.length) await options.gate?.(); // the last chunk
        if (at >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(at, at + step));
        at += step;
      },
    });
    return new Response(body, { headers });
  };
  return () => {
    globalThis.fetch = real;
  };
}

async function clear(): Promise<void> {
  await (await caches.open('vl')).delete(URL_);
}

test('the cache entry is written while the download arrives, and loads back', async () => {
  await clear();
  const put = Cache.prototype.put;
  let putStarted = false;
  Cache.prototype.put = function (this: Cache, ...args: Parameters<Cache['put']>) {
    if (String(args[0] instanceof Request ? args[0].url : args[0]) === URL_) putStarted = true;
    return put.apply(this, args);
  };
  // The last chunk waits (at most 2 s) for the cache's put to have started.
  const gate = async () => {
    for (let i = 0; i < 200 && !putStarted; i++) await new Promise((r) => setTimeout(r, 10));
  };
  let startedBeforeEnd = false;
  const restore = serve(file, {
    gate: async () => {
      await gate();
      startedBeforeEnd = putStarted;
    },
  });
  try {
    const { tensors, dispose } = await loadSafetensors(URL_, { backend });
    expect(Array.from((await tensors.get('w')!.read()).subarray(0, 3))).toEqual([0, 1, 2]);
    dispose();
    expect(startedBeforeEnd).toBe(true); // streamed, not stored after the whole file was read
    const entry = await (await caches.open('vl')).match(URL_);
    expect(entry?.headers.get('content-length')).toBe(String(file.length));
    const again = await loadSafetensors(URL_, { backend }); // from the cache (HEAD: same etag)
    expect((await again.tensors.get('w')!.read())[4095]).toBe(4095);
    again.dispose();
  } finally {
    restore();
    Cache.prototype.put = put;
    await clear();
  }
});

test('a truncated download and a file that does not parse leave no entry', async () => {
  await clear();
  let restore = serve(file.subarray(0, 1000), { length: file.length });
  try {
    await expect(loadSafetensors(URL_, { backend })).rejects.toThrow(/truncated/);
    expect(await (await caches.open('vl')).match(URL_)).toBeUndefined();
  } finally {
    restore();
  }
  const damaged = file.slice();
  new DataView(damaged.buffer).setUint32(0, 0xffffff, true); // a header length past the end
  restore = serve(damaged);
  try {
    await expect(loadSafetensors(URL_, { backend })).rejects.toThrow();
    expect(await (await caches.open('vl')).match(URL_)).toBeUndefined();
  } finally {
    restore();
    await clear();
  }
  expect(backend.stats().liveTensors).toBe(0);
});

test('a cache that refuses the entry fails the load by name at once; one that cannot open is skipped', async () => {
  await clear();
  const put = Cache.prototype.put;
  Cache.prototype.put = () => Promise.reject(new DOMException('storage is full', 'QuotaExceededError'));
  let restore = serve(file);
  try {
    // It used to wait forever: nothing drained the stream the rejected put was given.
    await expect(loadSafetensors(URL_, { backend })).rejects.toThrow(
      /the browser's cache did not take the download .*storage is full/,
    );
  } finally {
    restore();
    Cache.prototype.put = put;
  }
  const open = caches.open;
  caches.open = () => Promise.reject(new DOMException('The operation is insecure.', 'SecurityError'));
  restore = serve(file);
  try {
    const { tensors, dispose } = await loadSafetensors(URL_, { backend }); // read into memory instead
    expect((await tensors.get('w')!.read())[1]).toBe(1);
    dispose();
  } finally {
    restore();
    caches.open = open;
    await clear();
  }
});
