// The browser entry in Chromium: no node:* modules, the Cache API instead of a folder.
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type Backend,
  createBackend,
  loadSafetensors,
  type SafetensorsProgress,
  saveSafetensors,
  tensor,
} from '../src/index.js';

const url = new URL('./fixtures/io/clip-tiny.safetensors', import.meta.url);
url.search = '';
const FIXTURE = url.href;

let backend: Backend;

beforeAll(async () => {
  backend = await createBackend('cpu');
  await (await caches.open('vl')).delete(FIXTURE);
});

afterAll(async () => {
  await (await caches.open('vl')).delete(FIXTURE);
  backend.dispose();
});

test('a URL is fetched with progress, stored in the Cache API, and then read from it once revalidated', async () => {
  const realFetch = globalThis.fetch;
  let fetches = 0;
  const asked: string[] = [];
  globalThis.fetch = (...args) => {
    fetches++;
    asked.push(args[1]?.method ?? 'GET');
    return realFetch(...args);
  };
  try {
    const progress: SafetensorsProgress[] = [];
    const first = await loadSafetensors(FIXTURE, { backend, onProgress: (p) => progress.push(p) });
    expect(first.tensors.get('text_projection.weight')?.shape).toEqual([32, 64]);
    expect(progress.at(-1)).toMatchObject({ file: FIXTURE, loaded: 750980 });
    expect(fetches).toBe(1);
    expect(await (await caches.open('vl')).match(FIXTURE)).toBeDefined();

    // The second load reads the cached copy, once a HEAD request says (by the version the server
    // names: ETag or Last-Modified) that it did not change.
    const second = await loadSafetensors(FIXTURE, { backend });
    expect(asked).toEqual(['GET', 'HEAD']);
    expect(Array.from(await second.tensors.get('logit_scale')!.read())).toEqual(
      Array.from(await first.tensors.get('logit_scale')!.read()),
    );
    first.dispose();
    second.dispose();
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('saveSafetensors bytes load back from a Blob', async () => {
  const w = tensor([1, 2, 3, 4], [2, 2], { backend });
  const bytes = await saveSafetensors({ w }, { format: 'pt' });
  w.dispose();
  const { tensors, metadata, dispose } = await loadSafetensors(new Blob([bytes as Uint8Array<ArrayBuffer>]), {
    backend,
  });
  expect(metadata).toEqual({ format: 'pt' });
  expect(Array.from(await tensors.get('w')!.read())).toEqual([1, 2, 3, 4]);
  dispose();
  expect(backend.stats().liveTensors).toBe(0);
});
