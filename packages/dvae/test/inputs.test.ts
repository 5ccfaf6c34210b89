// Bad input to the task API, each an error naming it: arguments that are not tensors, a missing
// source or options, a model used after dispose(), a config with one half missing, empty images and
// token grids, a folder or weights file that is not there, and pixels outside [0, 1] where a check
// is affordable (reconstruct, checkImageRange). CPU only.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend, full, tensor, zeros } from '@vl/tensor';
import { afterAll, expect, test } from 'vitest';
import { checkImageRange, loadDvae, parseDvaeConfig } from '../src/index.js';

const dir = fileURLToPath(new URL('./fixtures/dvae-tiny/', import.meta.url));
const backend = await createBackend('cpu');
const dvae = await loadDvae(dir, { backend });
afterAll(() => {
  dvae.dispose();
  backend.dispose();
});

test('arguments that are not tensors are named', async () => {
  expect(() => dvae.encode({ data: new Uint8Array(48), width: 4, height: 4 } as never)).toThrow(
    'DvaeModel.encode: images must be an f32 [B, C, H, W] tensor with values in [0, 1], got an object { data, width, height }',
  );
  expect(() => dvae.encoderLogits(undefined as never)).toThrow('images must be an f32 [B, C, H, W] tensor');
  await expect(dvae.decode(new Int32Array(16) as never)).rejects.toThrow(
    'DvaeModel.decode: tokens must be an i32 [B, h, w] tensor of token ids, got a Int32Array',
  );
  await expect(loadDvae(null as never, {})).rejects.toThrow(
    'loadDvae: source must be a checkpoint folder (a path or URL), got null',
  );
  await expect(loadDvae(dir, null as never)).rejects.toThrow('loadDvae: options must be an object, got null');
});

test('loadDvae without options creates its backend and disposes it with the model', async () => {
  const own = await loadDvae(dir);
  const images = zeros([1, 3, 8, 8], { backend: own.backend });
  const tokens = own.encode(images);
  expect(tokens.describe()).toBe('i32[1, 1, 1]');
  tokens.dispose();
  images.dispose();
  own.dispose();
  expect(() => zeros([1], { backend: own.backend })).toThrow();
});

test('a disposed dVAE says so', async () => {
  const gone = await loadDvae(dir, { backend });
  gone.dispose();
  gone.dispose(); // twice is fine
  const images = zeros([1, 3, 8, 8], { backend });
  const tokens = tensor(new Int32Array(4), [1, 2, 2], { backend, dtype: 'i32' });
  try {
    expect(() => gone.encode(images)).toThrow(
      'DvaeModel.encode: the dVAE was disposed (used after dispose())',
    );
    expect(() => gone.encoderLogits(images)).toThrow('DvaeModel.encoderLogits: the dVAE was disposed');
    await expect(gone.decode(tokens)).rejects.toThrow('DvaeModel.decode: the dVAE was disposed');
    await expect(gone.decoderStats(tokens)).rejects.toThrow('DvaeModel.decoderStats: the dVAE was disposed');
    await expect(gone.reconstruct(images)).rejects.toThrow('DvaeModel.reconstruct: the dVAE was disposed');
  } finally {
    images.dispose();
    tokens.dispose();
  }
});

test('empty images and token grids are refused before the convolutions', async () => {
  const empty = zeros([1, 3, 0, 0], { backend });
  const grid = tensor(new Int32Array(0), [1, 0, 0], { backend, dtype: 'i32' });
  try {
    expect(() => dvae.encode(empty)).toThrow(
      'DvaeModel.encode: image size 0x0 is empty; height and width must be positive multiples of 8',
    );
    await expect(dvae.decode(grid)).rejects.toThrow(
      'DvaeModel.decode: the token grid i32[1, 0, 0] is empty; h and w must be at least 1',
    );
  } finally {
    empty.dispose();
    grid.dispose();
  }
});

test('a config with one half missing names it', () => {
  expect(() => parseDvaeConfig({ decoder: { vocab_size: 512 } })).toThrow(
    'parseDvaeConfig: the config has a decoder section but no encoder section (give both, or neither for the official dVAE)',
  );
  expect(() => parseDvaeConfig({ encoder: { vocab_size: 512 } })).toThrow('but no decoder section');
  expect(parseDvaeConfig({}).encoder.vocab_size).toBe(8192); // neither: the official dVAE
});

test('a missing folder, config.json or weights file is named', async () => {
  const before = backend.stats().liveTensors;
  await expect(loadDvae(join(tmpdir(), 'no-such-dvae'), { backend })).rejects.toThrow(
    /loadDvae: .*no-such-dvae has no config\.json \(a dVAE checkpoint folder holds config\.json, encoder\.safetensors and decoder\.safetensors\)/,
  );
  const tmp = mkdtempSync(join(tmpdir(), 'dvae-inputs-'));
  copyFileSync(join(dir, 'config.json'), join(tmp, 'config.json'));
  copyFileSync(join(dir, 'encoder.safetensors'), join(tmp, 'encoder.safetensors'));
  await expect(loadDvae(tmp, { backend })).rejects.toThrow(
    `loadDvae: ${tmp} has no decoder.safetensors (the dVAE's decoder weights)`,
  );
  expect(backend.stats().liveTensors).toBe(before); // the encoder's weights were freed
  writeFileSync(join(tmp, 'config.json'), JSON.stringify({ decoder: { vocab_size: 512 } }));
  await expect(loadDvae(tmp, { backend })).rejects.toThrow('but no encoder section');
});

test('pixels outside [0, 1] or NaN are refused by reconstruct and checkImageRange', async () => {
  const bytes = full([1, 3, 8, 8], 200, { backend });
  const nan = full([1, 3, 8, 8], Number.NaN, { backend });
  const ok = full([1, 3, 8, 8], 0.5, { backend });
  try {
    await expect(dvae.reconstruct(bytes)).rejects.toThrow(
      'DvaeModel.reconstruct: images must hold pixel values in [0, 1], got values from 200 to 200 (8-bit pixels? divide by 255)',
    );
    await expect(checkImageRange(nan)).rejects.toThrow('(NaN pixels)');
    await checkImageRange(ok);
    const out = await dvae.reconstruct(ok);
    expect(out.describe()).toBe('f32[1, 3, 8, 8]');
    out.dispose();
  } finally {
    bytes.dispose();
    nan.dispose();
    ok.dispose();
  }
});
