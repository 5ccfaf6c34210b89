// saveCheckpointTensors writes checkpoints as Hugging Face's save_pretrained(max_shard_size=...)
// does: shards `model-0000i-of-0000n.safetensors` and `model.safetensors.index.json`, or a plain
// `model.safetensors` when one shard holds everything. Each test loads the files back through the
// existing readers (loadCheckpointTensors on the folder, loadSafetensors on the index) and compares
// every tensor's dtype, shape and bytes.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type Backend,
  createBackend,
  loadCheckpointTensors,
  loadSafetensors,
  parseSafetensors,
  saveCheckpointTensors,
  saveSafetensors,
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
const folder = tempFolders('vl-shards-');

function ls(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** Every dtype safetensors stores, in an order that is not the file's (sizes mixed, names unsorted). */
function mixed(): Map<string, Tensor> {
  return new Map<string, Tensor>([
    [
      'w',
      tensor(
        Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)),
        [4, 6],
        { backend },
      ),
    ], // 96 B
    ['ids', tensor(Int32Array.of(-1, 2, 3), [3], { backend, dtype: 'i32' })], // 12 B
    ['flags', tensor(Uint8Array.of(1, 0, 1, 1), [2, 2], { backend, dtype: 'bool' })], // 4 B
    ['half', tensor(Float32Array.of(0.5, -2, 65504, 1e-3), [4], { backend, dtype: 'f16' })], // 8 B
    ['brain', tensor(Float32Array.of(3.5, -0.25, 1e30), [3], { backend, dtype: 'bf16' })], // 6 B
    ['count', tensor(Uint32Array.of(4_000_000_000, 7), [2], { backend, dtype: 'u32' })], // 8 B
    ['empty', tensor(new Float32Array(0), [0, 4], { backend })], // 0 B
    ['a.b.bias', tensor(Float32Array.of(1, 2, 3, 4, 5), [5], { backend })], // 20 B
  ]);
}

async function bytesOf(t: Tensor): Promise<Buffer> {
  const data = await t.read();
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** `got` holds exactly `want`'s tensors: same names, dtypes, shapes and bytes. */
async function expectSameTensors(got: ReadonlyMap<string, Tensor>, want: ReadonlyMap<string, Tensor>) {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, w] of want) {
    const g = got.get(name)!;
    expect({ name, dtype: g.dtype, shape: g.shape }).toEqual({ name, dtype: w.dtype, shape: w.shape });
    expect((await bytesOf(g)).equals(await bytesOf(w)), name).toBe(true);
  }
}

function disposeAll(tensors: ReadonlyMap<string, Tensor>) {
  for (const t of tensors.values()) t.dispose();
}

test('a small limit gives HF shards and an index; both readers load every tensor back byte for byte', async () => {
  const tensors = mixed();
  const dir = folder();
  // Greedy in the order given, 100 B a shard: [w 96] [ids 12, flags 4, half 8, brain 6, count 8,
  // empty 0, a.b.bias 20] would be 58 B, so the second shard holds them all.
  const written = await saveCheckpointTensors(dir, tensors, {
    maxShardBytes: 100,
    metadata: { format: 'pt' },
  });
  const shard1 = 'model-00001-of-00002.safetensors';
  const shard2 = 'model-00002-of-00002.safetensors';
  expect(written).toEqual([shard1, shard2, 'model.safetensors.index.json']);
  expect(ls(dir)).toEqual([shard1, shard2, 'model.safetensors.index.json'].sort());

  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
  expect(index).toEqual({
    metadata: { total_size: 96 + 12 + 4 + 8 + 6 + 8 + 0 + 20 },
    weight_map: {
      w: shard1,
      ids: shard2,
      flags: shard2,
      half: shard2,
      brain: shard2,
      count: shard2,
      empty: shard2,
      'a.b.bias': shard2,
    },
  });
  // Each shard is a safetensors file of its own tensors, with the metadata given.
  const second = parseSafetensors(new Uint8Array(readFileSync(join(dir, shard2))));
  expect(second.metadata).toEqual({ format: 'pt' });
  expect(second.tensors.map((t) => t.name).sort()).toEqual([...tensors.keys()].slice(1).sort());

  const byFolder = await loadCheckpointTensors(dir, { backend });
  await expectSameTensors(byFolder, tensors);
  const byIndex = await loadSafetensors(join(dir, 'model.safetensors.index.json'), { backend });
  await expectSameTensors(byIndex.tensors, tensors);
  expect(byIndex.metadata).toEqual({ format: 'pt' });
  disposeAll(byFolder);
  byIndex.dispose();
  disposeAll(tensors);
});

test('shards split as huggingface_hub splits them: within the limit, a larger tensor in a shard of its own', async () => {
  const f32 = (n: number, v: number) => tensor(new Float32Array(n).fill(v), [n], { backend });
  // 40-byte limit, split_state_dict_into_shards step for step: big (80) goes to a shard of its own at
  // once, ahead of [a 16, b 16], which stays open and takes c (8) to exactly the limit; then [d 32],
  // [e 40] (alone exactly the limit) and [f 4].
  const tensors = new Map([
    ['a', f32(4, 1)],
    ['b', f32(4, 2)],
    ['big', f32(20, 3)],
    ['c', f32(2, 4)],
    ['d', f32(8, 5)],
    ['e', f32(10, 6)],
    ['f', f32(1, 7)],
  ]);
  const dir = folder();
  const written = await saveCheckpointTensors(dir, tensors, { maxShardBytes: 40 });
  const shard = (i: number) => `model-0000${i}-of-00005.safetensors`;
  expect(written).toEqual([1, 2, 3, 4, 5].map(shard).concat('model.safetensors.index.json'));
  const { weight_map } = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
  expect(Object.entries(weight_map).sort()).toEqual(
    [
      ['big', shard(1)],
      ['a', shard(2)],
      ['b', shard(2)],
      ['c', shard(2)],
      ['d', shard(3)],
      ['e', shard(4)],
      ['f', shard(5)],
    ].sort(),
  );
  for (const i of [2, 3, 4, 5]) {
    const file = parseSafetensors(new Uint8Array(readFileSync(join(dir, shard(i)))));
    expect(file.tensors.reduce((n, t) => n + t.dataOffsets[1] - t.dataOffsets[0], 0)).toBeLessThanOrEqual(40);
  }
  const loaded = await loadCheckpointTensors(dir, { backend });
  await expectSameTensors(loaded, tensors);
  disposeAll(loaded);
  disposeAll(tensors);
});

test('the index is the text transformers writes: json.dumps(indent=2, sort_keys=True) + "\\n"', async () => {
  const one = (v: number) => tensor([v], [1], { backend });
  // Integer-like names, DEL, a non-ASCII letter, an astral emoji and a BMP character above the
  // surrogates (Python sorts by code point, UTF-16 order would swap the last two).
  const tensors = new Map([
    ['10', one(1)],
    ['9', one(2)],
    ['\u00e9\u007f', one(3)],
    ['\u{1F600}', one(4)],
    ['\uff5e', one(5)],
  ]);
  const dir = folder();
  await saveCheckpointTensors(dir, tensors, { maxShardBytes: 8 });
  // What Python 3 printed for the same index.
  expect(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')).toBe(
    [
      '{',
      '  "metadata": {',
      '    "total_size": 20',
      '  },',
      '  "weight_map": {',
      '    "10": "model-00001-of-00003.safetensors",',
      '    "9": "model-00001-of-00003.safetensors",',
      '    "\\u00e9\\u007f": "model-00002-of-00003.safetensors",',
      '    "\\uff5e": "model-00003-of-00003.safetensors",',
      '    "\\ud83d\\ude00": "model-00002-of-00003.safetensors"',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const loaded = await loadCheckpointTensors(dir, { backend });
  await expectSameTensors(loaded, tensors);
  disposeAll(loaded);
  disposeAll(tensors);
});

test('one shard is a plain model.safetensors, the bytes saveSafetensors gives, with no index', async () => {
  const tensors = mixed();
  const dir = folder();
  expect(await saveCheckpointTensors(dir, tensors, { metadata: { format: 'pt' } })).toEqual([
    'model.safetensors',
  ]);
  expect(ls(dir)).toEqual(['model.safetensors']);
  const want = await saveSafetensors(tensors, { format: 'pt' });
  expect(readFileSync(join(dir, 'model.safetensors')).equals(Buffer.from(want))).toBe(true);
  // Exactly at the limit is still one shard.
  const exact = folder();
  await saveCheckpointTensors(exact, tensors, { maxShardBytes: 154 });
  expect(ls(exact)).toEqual(['model.safetensors']);
  await saveCheckpointTensors(exact, tensors, { maxShardBytes: 153 });
  expect(ls(exact)).toEqual([
    'model-00001-of-00002.safetensors',
    'model-00002-of-00002.safetensors',
    'model.safetensors.index.json',
  ]);
  // No tensors at all: an empty checkpoint, still one file.
  const none = folder();
  expect(await saveCheckpointTensors(none, {})).toEqual(['model.safetensors']);
  expect((await loadCheckpointTensors(none, { backend })).size).toBe(0);
  const loaded = await loadCheckpointTensors(dir, { backend });
  await expectSameTensors(loaded, tensors);
  disposeAll(loaded);
  disposeAll(tensors);
});

test('another file name, a file: URL and a folder that does not exist yet', async () => {
  const tensors = mixed();
  const dir = join(folder(), 'new', 'nested');
  const written = await saveCheckpointTensors(pathToFileURL(dir), tensors, {
    file: 'open_clip_model.safetensors',
    maxShardBytes: 64,
  });
  expect(written).toEqual([
    'open_clip_model-00001-of-00002.safetensors',
    'open_clip_model-00002-of-00002.safetensors',
    'open_clip_model.safetensors.index.json',
  ]);
  expect(ls(dir)).toEqual([...written].sort());
  const loaded = await loadCheckpointTensors(dir, { backend, file: 'open_clip_model.safetensors' });
  await expectSameTensors(loaded, tensors);
  disposeAll(loaded);
  disposeAll(tensors);
});

test('an earlier save of the same file is replaced whole: its other shards, plain file or index are removed; other files stay', async () => {
  const f32 = (n: number) => tensor(new Float32Array(n).fill(n), [n], { backend });
  const dir = folder();
  writeFileSync(join(dir, 'config.json'), '{}');
  writeFileSync(join(dir, 'other-00001-of-00002.safetensors'), 'not ours');
  writeFileSync(join(dir, 'model.fp16-00001-of-00002.safetensors'), 'not ours either');
  const keep = ['config.json', 'model.fp16-00001-of-00002.safetensors', 'other-00001-of-00002.safetensors'];

  const three = new Map([
    ['a', f32(4)],
    ['b', f32(4)],
    ['c', f32(4)],
  ]);
  await saveCheckpointTensors(dir, three, { maxShardBytes: 16 });
  expect(ls(dir)).toEqual(
    [
      ...keep,
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ].sort(),
  );
  // Fewer shards: the -of-00003 files go.
  const two = new Map([
    ['x', f32(4)],
    ['y', f32(5)],
  ]);
  await saveCheckpointTensors(dir, two, { maxShardBytes: 16 });
  expect(ls(dir)).toEqual(
    [
      ...keep,
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
    ].sort(),
  );
  let loaded = await loadCheckpointTensors(dir, { backend });
  await expectSameTensors(loaded, two);
  disposeAll(loaded);
  // One shard: the index and the shards go (a stale index would load the old tensors).
  await saveCheckpointTensors(dir, three);
  expect(ls(dir)).toEqual([...keep, 'model.safetensors'].sort());
  // Sharded again: the plain file goes (loadCheckpointTensors reads it before any index).
  await saveCheckpointTensors(dir, two, { maxShardBytes: 16 });
  expect(ls(dir)).not.toContain('model.safetensors');
  loaded = await loadCheckpointTensors(dir, { backend });
  await expectSameTensors(loaded, two);
  disposeAll(loaded);
  disposeAll(three);
  disposeAll(two);
});

test('a save that fails part-way leaves the earlier checkpoint as it was and no file of its own', async () => {
  const dir = folder();
  const old = new Map([['old', tensor([1, 2, 3], [3], { backend })]]);
  await saveCheckpointTensors(dir, old);
  const before = readFileSync(join(dir, 'model.safetensors'));

  // The last shard's tensor fails to read, after the first shards are written.
  const failing = tensor([9, 9], [2], { backend });
  Object.defineProperty(failing, 'read', { value: () => Promise.reject(new Error('device lost')) });
  const tensors = new Map([
    ['a', tensor([1, 2], [2], { backend })],
    ['b', tensor([3, 4], [2], { backend })],
    ['bad', failing],
  ]);
  await expect(saveCheckpointTensors(dir, tensors, { maxShardBytes: 8 })).rejects.toThrow('device lost');
  expect(ls(dir)).toEqual(['model.safetensors']);
  expect(readFileSync(join(dir, 'model.safetensors')).equals(before)).toBe(true);

  // Every shard written, but the second cannot be renamed into place (a folder holds its name):
  // the first, already in place, is removed again.
  const blocked = folder();
  mkdirSync(join(blocked, 'model-00002-of-00003.safetensors', 'x'), { recursive: true });
  const ok = new Map([...tensors].slice(0, 2).concat([['c', tensor([5, 6], [2], { backend })]]));
  await expect(saveCheckpointTensors(blocked, ok, { maxShardBytes: 8 })).rejects.toThrow(
    /EISDIR|ENOTEMPTY|EEXIST/,
  );
  expect(ls(blocked)).toEqual(['model-00002-of-00003.safetensors']);
  disposeAll(old);
  disposeAll(tensors);
  ok.get('c')!.dispose();
});

test('a folder that is a file is named; folders with shard names and crashed saves are handled', async () => {
  const w = tensor([1, 2, 3, 4], [4], { backend });
  const dir = folder();
  writeFileSync(join(dir, 'not-a-folder'), 'x');
  await expect(saveCheckpointTensors(join(dir, 'not-a-folder'), { w })).rejects.toThrow(
    /^saveCheckpointTensors\(\): .*not-a-folder \(or a folder above it\) is a file, not a folder to save into/,
  );
  // A folder named like an earlier save's shard is nobody's shard: it stays, and the save succeeds.
  const out = folder();
  mkdirSync(join(out, 'model-00001-of-00009.safetensors'));
  // A temporary file of a save that died with its process (pid 2^22 + 1 is past Linux's pid_max).
  const crashed = 'model-00001-of-00002.safetensors.4194305-deadbeef.partial';
  writeFileSync(join(out, crashed), 'half a shard');
  await saveCheckpointTensors(out, { w, v: w }, { maxShardBytes: 16 });
  expect(ls(out)).toEqual([
    'model-00001-of-00002.safetensors',
    'model-00001-of-00009.safetensors',
    'model-00002-of-00002.safetensors',
    'model.safetensors.index.json',
  ]);
  w.dispose();
});

test('nothing the caller passed is changed: frozen tensors and options, tensors still live', async () => {
  const tensors = Object.freeze({ a: tensor([1, 2], [2], { backend }), b: tensor([3], [1], { backend }) });
  const metadata = Object.freeze({ format: 'pt' });
  const options = Object.freeze({ maxShardBytes: 8, metadata });
  const dir = folder();
  await saveCheckpointTensors(dir, tensors, options);
  expect(options).toEqual({ maxShardBytes: 8, metadata: { format: 'pt' } });
  expect(Object.keys(tensors)).toEqual(['a', 'b']);
  expect(tensors.a.isDisposed || tensors.b.isDisposed).toBe(false);
  const loaded = await loadCheckpointTensors(dir, { backend });
  await expectSameTensors(loaded, new Map(Object.entries(tensors)));
  disposeAll(loaded);
  tensors.a.dispose();
  tensors.b.dispose();
});

test('bad options, folders and tensors are refused by name before anything is written', async () => {
  const w = tensor([1, 2], [2], { backend });
  const gone = tensor([1], [1], { backend });
  gone.dispose();
  const dir = join(folder(), 'out');
  const save = (options: unknown, tensors: object = { w }, where: unknown = dir) =>
    // biome-ignore lint/suspicious/noExplicitAny: the point is to pass what the types forbid
    saveCheckpointTensors(where as any, tensors as any, options as any);
  for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '5GB', 2 ** 53]) {
    await expect(save({ maxShardBytes: bad })).rejects.toThrow(
      /^saveCheckpointTensors\(\): options\.maxShardBytes must be a positive whole number of bytes/,
    );
  }
  for (const bad of ['model.bin', 'sub/model.safetensors', 'sub\\model.safetensors', '.safetensors', '', 3]) {
    await expect(save({ file: bad })).rejects.toThrow(
      /^saveCheckpointTensors\(\): options\.file must be a file name ending in "\.safetensors"/,
    );
  }
  await expect(save({ max_shard_size: '5GB' })).rejects.toThrow(
    'saveCheckpointTensors(): unknown option "max_shard_size" (expected maxShardBytes, file, metadata)',
  );
  await expect(save(null)).rejects.toThrow('saveCheckpointTensors(): options must be an object, got null');
  await expect(save({ metadata: { step: 1 } })).rejects.toThrow(
    'saveCheckpointTensors(): metadata["step"] must be a string, got number',
  );
  await expect(save({}, { w }, 'https://huggingface.co/me/model')).rejects.toThrow(
    /^saveCheckpointTensors\(\): folder must be a local path or a file: URL/,
  );
  await expect(save({}, { w }, new URL('https://huggingface.co/me/model'))).rejects.toThrow(
    /^saveCheckpointTensors\(\): folder must be a local path or a file: URL/,
  );
  await expect(save({}, { w }, '')).rejects.toThrow(/^saveCheckpointTensors\(\): folder must be a path/);
  // file:relative parses as file:///relative, far from the folder meant.
  await expect(save({}, { w }, 'file:out')).rejects.toThrow(
    /^saveCheckpointTensors\(\): a file: URL must be absolute \(file:\/\/\/\.\.\.\), got "file:out"/,
  );
  // The tensors get saveSafetensors' checks, all of them before the first shard is written.
  await expect(save({ maxShardBytes: 4 }, { w, gone })).rejects.toThrow(/tensor "gone" .* was disposed/);
  await expect(save({}, [w])).rejects.toThrow(/tensors must be a Map or an object of named tensors/);
  expect(readdirSync(join(dir, '..'))).toEqual([]);
  w.dispose();
});
