// The three public savers share saveSafetensors' checks of the tensors and the metadata; each of
// their errors must still start with the function the caller called (saveSafetensors,
// saveSafetensorsFile, saveCheckpointTensors), with the rest of the message the same.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type Backend,
  createBackend,
  quantizeWeight,
  saveCheckpointTensors,
  saveSafetensors,
  saveSafetensorsFile,
  type Tensor,
  tensor,
} from '../src/index.node.js';

let backend: Backend;
let dir: string;
beforeAll(async () => {
  backend = await createBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'vl-save-names-'));
});
afterAll(() => {
  backend.dispose();
  rmSync(dir, { recursive: true, force: true });
});

type Save = (tensors: unknown, metadata?: unknown) => Promise<unknown>;
// biome-ignore-start lint/suspicious/noExplicitAny: the point is to pass what the types forbid
const savers: [string, Save][] = [
  ['saveSafetensors', (t, m) => saveSafetensors(t as any, m as any)],
  ['saveSafetensorsFile', (t, m) => saveSafetensorsFile(join(dir, 'one.safetensors'), t as any, m as any)],
  [
    'saveCheckpointTensors',
    (t, m) =>
      saveCheckpointTensors(join(dir, 'ckpt'), t as any, m === undefined ? {} : { metadata: m as any }),
  ],
];
// biome-ignore-end lint/suspicious/noExplicitAny: the point is to pass what the types forbid

for (const [op, save] of savers) {
  test(`${op}: errors about the tensors and the metadata start with "${op}():"`, async () => {
    const w = tensor([1, 2], [2], { backend });
    const gone = tensor([1], [1], { backend });
    gone.dispose();
    const q = quantizeWeight(tensor(new Float32Array(64), [2, 32], { backend }), { dtype: 'q4' });
    const short = tensor([1, 2, 3], [3], { backend });
    Object.defineProperty(short, 'read', { value: async () => Float32Array.of(1) });
    const cases: [unknown, unknown, string][] = [
      [null, undefined, `${op}(): tensors must be a Map or an object of named tensors, got null`],
      [{ gone }, undefined, `${op}(): tensor "gone" (f32[1]) was disposed`],
      [{ x: 3 }, undefined, `${op}(): "x" is not a Tensor`],
      [new Map([[1, w]]), undefined, `${op}(): tensor names must be strings, got the key the number 1`],
      [{ __metadata__: w }, undefined, `${op}(): "__metadata__" is reserved and cannot name a tensor`],
      [
        { 'a\uD800b': w },
        undefined,
        `${op}(): the tensor name "a\\ud800b" holds a lone UTF-16 surrogate (U+D800) at index 1`,
      ],
      [{ q }, undefined, `${op}(): tensor "q" is a block-quantized weight (q4[2, 32])`],
      [{ w }, 'abc', `${op}(): metadata must be an object of strings, got the string "abc"`],
      [{ w }, { step: 1 }, `${op}(): metadata["step"] must be a string, got number`],
      [{ w }, { k: 'x\uDC00' }, `${op}(): metadata["k"] holds a lone UTF-16 surrogate (U+DC00)`],
      [{ short }, undefined, `${op}(): tensor "short" (f32[3]) read back 1 values, not 3`],
    ];
    for (const [tensors, metadata, message] of cases) {
      const error = await save(tensors, metadata).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message.startsWith(message), `${message}\n  got: ${error?.message}`).toBe(true);
    }
    // No file is left by any refused save (the short read fails mid-write; its temporary files go).
    const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => !d.isDirectory());
    expect(files.map((d) => d.name)).toEqual([]);
    for (const t of [w, q, short] as Tensor[]) t.dispose();
  });
}
