// A save into a folder holding an earlier checkpoint with the same file names, failing at its last
// rename (the index; on Windows an open file refuses a rename): the earlier checkpoint must still
// load, whole. Its own file because the rename failure is injected by mocking node:fs/promises.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import {
  type Backend,
  createBackend,
  loadCheckpointTensors,
  saveCheckpointTensors,
  tensor,
} from '../src/index.node.js';

const inject = vi.hoisted(() => ({ failRenameTo: undefined as RegExp | undefined }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const rename: typeof fs.rename = async (from, to) => {
    if (inject.failRenameTo?.test(String(to)) && !/\.partial$/.test(String(to))) {
      inject.failRenameTo = undefined; // once: putting the earlier file back must work
      throw Object.assign(new Error(`EPERM: operation not permitted, rename '${from}' -> '${to}'`), {
        code: 'EPERM',
      });
    }
    return fs.rename(from, to);
  };
  return { ...fs, default: { ...fs, rename }, rename };
});

let backend: Backend;
let dir: string;
beforeAll(async () => {
  backend = await createBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'vl-rollback-'));
});
afterAll(() => {
  backend.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('a save that fails at its last rename leaves the earlier checkpoint of the same names whole', async () => {
  const f32 = (v: number) => tensor([v, v], [2], { backend });
  const old = new Map([
    ['a', f32(1)],
    ['b', f32(2)],
  ]);
  await saveCheckpointTensors(dir, old, { maxShardBytes: 8 });
  const names = readdirSync(dir).sort();
  expect(names).toEqual([
    'model-00001-of-00002.safetensors',
    'model-00002-of-00002.safetensors',
    'model.safetensors.index.json',
  ]);
  const bytes = names.map((n) => readFileSync(join(dir, n)));

  const next = new Map([
    ['a', f32(7)],
    ['b', f32(8)],
  ]);
  inject.failRenameTo = /model\.safetensors\.index\.json$/;
  try {
    await expect(saveCheckpointTensors(dir, next, { maxShardBytes: 8 })).rejects.toThrow(/EPERM/);
  } finally {
    inject.failRenameTo = undefined;
  }
  // The same files, byte for byte, and nothing else (no temporary or set-aside files).
  expect(readdirSync(dir).sort()).toEqual(names);
  names.forEach((n, i) => {
    expect(readFileSync(join(dir, n)).equals(bytes[i]!)).toBe(true);
  });
  const loaded = await loadCheckpointTensors(dir, { backend });
  expect(Array.from(await loaded.get('a')!.read())).toEqual([1, 1]);
  expect(Array.from(await loaded.get('b')!.read())).toEqual([2, 2]);
  for (const t of [...loaded.values(), ...old.values(), ...next.values()]) t.dispose();
});
