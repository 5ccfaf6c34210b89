// A weight *variant* laid out as transformers' save_pretrained(variant="fp16") lays it out:
// `_add_variant` inserts the variant before the last extension of each name, so the single file is
// `model.fp16.safetensors`, the shards `model.fp16-00001-of-00002.safetensors` (from the pattern
// `model.fp16{suffix}.safetensors`) and the index `model.safetensors.index.fp16.json` (from
// SAFE_WEIGHTS_INDEX_NAME, not `model.fp16.safetensors.index.json`). loadCheckpointTensors given
// `file: 'model.fp16.safetensors'` finds that index when neither the file nor its own
// `<file>.index.json` is there, and saveCheckpointTensors writes a variant under those names.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type Backend,
  createBackend,
  loadCheckpointTensors,
  saveCheckpointTensors,
  type Tensor,
  tensor,
} from '../src/index.node.js';
import { tempFolders } from './util/tempFolders.js';

let backend: Backend;
beforeAll(async () => {
  backend = await createBackend('cpu');
});
afterAll(() => {
  backend.dispose();
});
const folder = tempFolders('vl-variant-');

/** f16 tensors of 8 bytes each: at 8 bytes a shard, two of them make two shards. */
function fp16Tensors(v: number): Map<string, Tensor> {
  return new Map([
    ['embed.weight', tensor([v, v + 1, v + 2, v + 3], [2, 2], { backend, dtype: 'f16' })],
    ['head.weight', tensor([v + 4, v + 5, v + 6, v + 7], [4], { backend, dtype: 'f16' })],
  ]);
}

/** Each tensor's f16 bits, by name. */
async function bits(tensors: ReadonlyMap<string, Tensor>): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, t] of [...tensors].sort(([a], [b]) => (a < b ? -1 : 1))) {
    expect(t.dtype).toBe('f16');
    out[name] = Array.from(await t.read());
  }
  return out;
}

/** The bits of fp16Tensors(v): what a checkpoint saved from it must load back as. */
async function expected(v: number): Promise<Record<string, number[]>> {
  const tensors = fp16Tensors(v);
  const out = await bits(tensors);
  disposeAll(tensors);
  return out;
}

function disposeAll(tensors: ReadonlyMap<string, Tensor>) {
  for (const t of tensors.values()) t.dispose();
}

/**
 * A folder as transformers leaves it after `save_pretrained(dir, max_shard_size=...)` and then
 * `save_pretrained(dir, variant="fp16", max_shard_size=...)`: the plain sharded checkpoint (values
 * from 0) and the fp16 variant (values from 10) side by side.
 */
async function transformersFolder(): Promise<string> {
  const dir = folder();
  const plain = fp16Tensors(0);
  const fp16 = fp16Tensors(10);
  await saveCheckpointTensors(dir, plain, { maxShardBytes: 8, metadata: { format: 'pt' } });
  await saveCheckpointTensors(dir, fp16, {
    maxShardBytes: 8,
    metadata: { format: 'pt' },
    file: 'model.fp16.safetensors',
  });
  // saveCheckpointTensors names a variant's index as transformers' _add_variant(SAFE_WEIGHTS_INDEX_NAME, "fp16") does.
  writeFileSync(join(dir, 'config.json'), '{}');
  expect(readdirSync(dir).sort()).toEqual([
    'config.json',
    'model-00001-of-00002.safetensors',
    'model-00002-of-00002.safetensors',
    'model.fp16-00001-of-00002.safetensors',
    'model.fp16-00002-of-00002.safetensors',
    'model.safetensors.index.fp16.json',
    'model.safetensors.index.json',
  ]);
  // The index names the variant's shards, as transformers' does.
  expect(JSON.parse(readFileSync(join(dir, 'model.safetensors.index.fp16.json'), 'utf8'))).toEqual({
    metadata: { total_size: 16 },
    weight_map: {
      'embed.weight': 'model.fp16-00001-of-00002.safetensors',
      'head.weight': 'model.fp16-00002-of-00002.safetensors',
    },
  });
  disposeAll(plain);
  disposeAll(fp16);
  return dir;
}

test("a sharded fp16 variant is found through transformers' model.safetensors.index.fp16.json", async () => {
  const dir = await transformersFolder();
  const variant = await loadCheckpointTensors(dir, { backend, file: 'model.fp16.safetensors' });
  expect(await bits(variant)).toEqual(await expected(10));
  disposeAll(variant);
  // From a file: URL too; and the plain checkpoint beside it is still the default.
  const byUrl = await loadCheckpointTensors(pathToFileURL(dir), { backend, file: 'model.fp16.safetensors' });
  expect(await bits(byUrl)).toEqual(await expected(10));
  disposeAll(byUrl);
  const plain = await loadCheckpointTensors(dir, { backend });
  expect(await bits(plain)).toEqual(await expected(0));
  disposeAll(plain);
});

test('the lookup order stays file, then <file>.index.json, then the variant index', async () => {
  const dir = await transformersFolder();
  // <file>.index.json (here the plain checkpoint's index under the variant's name) comes first.
  writeFileSync(
    join(dir, 'model.fp16.safetensors.index.json'),
    readFileSync(join(dir, 'model.safetensors.index.json')),
  );
  let loaded = await loadCheckpointTensors(dir, { backend, file: 'model.fp16.safetensors' });
  expect(await bits(loaded)).toEqual(await expected(0));
  disposeAll(loaded);
  // And the single file before any index.
  const single = fp16Tensors(20);
  const other = folder();
  await saveCheckpointTensors(other, single, { file: 'model.fp16.safetensors' });
  writeFileSync(join(dir, 'model.fp16.safetensors'), readFileSync(join(other, 'model.fp16.safetensors')));
  loaded = await loadCheckpointTensors(dir, { backend, file: 'model.fp16.safetensors' });
  expect(await bits(loaded)).toEqual(await expected(20));
  disposeAll(loaded);
  disposeAll(single);
});

test("with no variant file nor index, the file's own error; a shard missing from the variant index is named", async () => {
  const dir = await transformersFolder();
  await expect(loadCheckpointTensors(dir, { backend, file: 'model.bf16.safetensors' })).rejects.toThrow(
    /ENOENT.*model\.bf16\.safetensors/,
  );
  // The folder and every name looked for, still a not-found error underneath.
  const missing = await loadCheckpointTensors(dir, { backend, file: 'model.bf16.safetensors' }).catch(
    (e) => e,
  );
  expect(missing.message).toMatch(
    /^loadCheckpointTensors: .* has no checkpoint: looked for model\.bf16\.safetensors, model\.bf16\.safetensors\.index\.json, model\.safetensors\.index\.bf16\.json; ENOENT/,
  );
  expect(missing.code).toBe('ENOENT');
  rmSync(join(dir, 'model.fp16-00002-of-00002.safetensors'));
  await expect(loadCheckpointTensors(dir, { backend, file: 'model.fp16.safetensors' })).rejects.toThrow(
    /ENOENT.*model\.fp16-00002-of-00002\.safetensors/,
  );
  // A damaged variant index is reported as itself.
  writeFileSync(join(dir, 'model.safetensors.index.fp16.json'), '{"tensors": {}}');
  await expect(loadCheckpointTensors(dir, { backend, file: 'model.fp16.safetensors' })).rejects.toThrow(
    /model\.safetensors\.index\.fp16\.json.*"weight_map" object/,
  );
});
