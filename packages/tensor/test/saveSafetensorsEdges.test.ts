// What saveSafetensors / encodeSafetensors refuse because another reader would not take the file:
// a lone UTF-16 surrogate in a name or in metadata (no UTF-8 form: Python's safetensors cannot
// parse the header), and bool bytes other than 0 and 1 (tensor() refuses them; readers differ).
import { expect, test } from 'vitest';
import { createBackend, encodeSafetensors, saveSafetensors, tensor } from '../src/index.node.js';

test('a lone surrogate in a tensor name, a metadata key or a value is refused by name', async () => {
  const backend = await createBackend('cpu');
  const w = tensor([1, 2], [2], { backend });
  await expect(saveSafetensors({ 'a\uD800b': w })).rejects.toThrow(
    /saveSafetensors\(\): the tensor name "a\\ud800b" holds a lone UTF-16 surrogate \(U\+D800\) at index 1/,
  );
  await expect(saveSafetensors({ w }, { k: 'x\uDC00' })).rejects.toThrow(
    /metadata\["k"\] holds a lone UTF-16 surrogate \(U\+DC00\)/,
  );
  await expect(saveSafetensors({ w }, { 'k\uD800': 'x' })).rejects.toThrow(
    /the metadata key "k\\ud800" holds a lone/,
  );
  // A pair is well formed: an emoji name saves.
  const ok = await saveSafetensors({ 'w😀': w }, { note: '😀' });
  expect(ok.length).toBeGreaterThan(8);
  w.dispose();
  backend.dispose();
});

test('encodeSafetensors refuses bool bytes other than 0 and 1', () => {
  expect(() =>
    encodeSafetensors({ b: { dtype: 'bool', shape: [3], data: Uint8Array.of(0, 2, 255) } }),
  ).toThrow('encodeSafetensors(): "b" is bool but holds 2 at index 1; bool values are 0 or 1');
  expect(
    encodeSafetensors({ b: { dtype: 'bool', shape: [2], data: Uint8Array.of(0, 1) } }).length,
  ).toBeGreaterThan(8);
});

test('saveSafetensorsFile writes, tensor by tensor, the bytes saveSafetensors gives; a failed save leaves no file', async () => {
  const { mkdtempSync, readFileSync, readdirSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { saveSafetensorsFile } = await import('../src/index.node.js');
  const backend = await createBackend('cpu');
  const tensors = {
    w: tensor(
      Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i)),
      [10, 100],
      { backend },
    ),
    ids: tensor(Int32Array.of(-1, 2, 3), [3], { backend, dtype: 'i32' }),
    flags: tensor(Uint8Array.of(1, 0, 1), [3], { backend, dtype: 'bool' }),
    half: tensor(Float32Array.of(0.5, -2, 65504), [3], { backend, dtype: 'f16' }),
    empty: tensor(new Float32Array(0), [0, 4], { backend }),
  };
  const folder = mkdtempSync(join(tmpdir(), 'vl-save-'));
  const path = join(folder, 'model.safetensors');
  await saveSafetensorsFile(path, tensors, { format: 'pt' });
  const want = await saveSafetensors(tensors, { format: 'pt' });
  expect(Buffer.from(readFileSync(path)).equals(Buffer.from(want))).toBe(true);
  // A tensor disposed before the save: refused up front, and no file or partial file is left.
  const gone = tensor([1], [1], { backend });
  gone.dispose();
  await expect(saveSafetensorsFile(join(folder, 'bad.safetensors'), { gone })).rejects.toThrow(
    /was disposed/,
  );
  expect(readdirSync(folder)).toEqual(['model.safetensors']);
  for (const t of Object.values(tensors)) t.dispose();
  backend.dispose();
});
