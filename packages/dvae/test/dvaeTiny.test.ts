// openai/DALL-E's Encoder and Decoder on the dvae-tiny fixture (random weights, real architecture
// and tensor names), on the CPU and through WebGPU (Dawn): z_logits, x_stats and x_rec within 1e-4,
// z identical. Then the bad inputs the issue lists, each with a clear error.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Tensor, createBackend, loadSafetensors, tensor, zeros } from '@vl/tensor';
import { fixtureBackends, maxAbs } from '@vl/vitest-config/fixture-backends';
import { afterAll, describe, expect, test } from 'vitest';
import {
  type DvaeModel,
  decoderShapes,
  defaultDecoderConfig,
  defaultEncoderConfig,
  encoderShapes,
  loadDvae,
  parseDvaeConfig,
} from '../src/index.js';

const dir = fileURLToPath(new URL('./fixtures/dvae-tiny/', import.meta.url));

const all = await fixtureBackends(createBackend, 'dvae-tiny'); // disposed after this file's tests

async function readAndDispose(t: Tensor): Promise<ArrayLike<number>> {
  try {
    return await t.read();
  } finally {
    t.dispose();
  }
}

describe('config', () => {
  test('defaults are the official ones and the fixture config reads with its field names', () => {
    expect(defaultEncoderConfig).toEqual({
      group_count: 4,
      n_hid: 256,
      n_blk_per_group: 2,
      input_channels: 3,
      vocab_size: 8192,
    });
    expect(defaultDecoderConfig).toEqual({
      group_count: 4,
      n_init: 128,
      n_hid: 256,
      n_blk_per_group: 2,
      output_channels: 3,
      vocab_size: 8192,
    });
    const config = parseDvaeConfig(JSON.parse(readFileSync(`${dir}config.json`, 'utf8')));
    expect(config.encoder.n_hid).toBe(64);
    expect(config.decoder.n_init).toBe(32);
    expect(config.logit_laplace_eps).toBe(0.1);
    // The official config gives 8192 logits from 8 * 256 channels and 6 output channels.
    expect(encoderShapes(defaultEncoderConfig).get('blocks.output.conv.w')).toEqual([8192, 2048, 1, 1]);
    expect(decoderShapes(defaultDecoderConfig).get('blocks.output.conv.w')).toEqual([6, 256, 1, 1]);
    expect(() => parseDvaeConfig({ encoder: { vocab_size: 512 }, decoder: { vocab_size: 1024 } })).toThrow(
      /vocab_size/,
    );
  });
});

describe.each(all.map((b) => [b.kind, b] as const))('dvae-tiny on %s', (_, backend) => {
  let dvae: DvaeModel;
  let ref: Map<string, Tensor>;

  test('loads', async () => {
    dvae = await loadDvae(dir, { backend });
    ref = (await loadSafetensors(`${dir}reference.safetensors`, { backend })).tensors;
  });

  afterAll(() => {
    dvae?.dispose();
    for (const t of ref?.values() ?? []) t.dispose();
  });

  test('every output matches dall_e within the fixture tolerances', { timeout: 120_000 }, async () => {
    const x = ref.get('x')!; // [2, 3, 32, 32]
    const zLogits = dvae.encoderLogits(x); // [2, 512, 4, 4]
    expect(zLogits.shape).toEqual([2, 512, 4, 4]);
    const z = dvae.encode(x); // i32[2, 4, 4]
    expect(z.dtype).toBe('i32');
    expect(z.shape).toEqual([2, 4, 4]);
    const stats = await dvae.decoderStats(z); // [2, 6, 32, 32]
    expect(stats.shape).toEqual([2, 6, 32, 32]);
    const rec = await dvae.decode(z); // [2, 3, 32, 32]
    const rec2 = await dvae.reconstruct(x); // [2, 3, 32, 32]

    const errors = {
      z_logits: maxAbs(await readAndDispose(zLogits), await ref.get('z_logits')!.read()),
      x_stats: maxAbs(await readAndDispose(stats), await ref.get('x_stats')!.read()),
      x_rec: maxAbs(await readAndDispose(rec), await ref.get('x_rec')!.read()),
      reconstruct: maxAbs(await readAndDispose(rec2), await ref.get('x_rec')!.read()),
    };
    console.log(`dvae-tiny ${backend.kind} max abs errors: ${JSON.stringify(errors)}`);
    expect(Array.from(await readAndDispose(z))).toEqual(Array.from(await ref.get('z')!.read()));
    expect(errors.z_logits).toBeLessThanOrEqual(1e-4);
    expect(errors.x_stats).toBeLessThanOrEqual(1e-4);
    expect(errors.x_rec).toBeLessThanOrEqual(1e-4);
    expect(errors.reconstruct).toBeLessThanOrEqual(1e-4);
  });

  test('rejects an image size that the max-pools do not divide', () => {
    const x = zeros([1, 3, 30, 32], { backend });
    try {
      expect(() => dvae.encode(x)).toThrow(/image size 30x32 is not divisible by 8/);
    } finally {
      x.dispose();
    }
  });

  test('rejects a wrong channel count', () => {
    const x = zeros([1, 4, 32, 32], { backend });
    try {
      expect(() => dvae.encoderLogits(x)).toThrow(/4 channels but the config expects input_channels = 3/);
    } finally {
      x.dispose();
    }
  });

  test('rejects token ids outside the vocabulary', async () => {
    const high = tensor(new Int32Array([0, 1, 512, 3]), [1, 2, 2], { backend });
    const low = tensor(new Int32Array([0, -1, 2, 3]), [1, 2, 2], { backend });
    try {
      await expect(dvae.decode(high)).rejects.toThrow(/token ids must lie in \[0, 512\).*from 0 to 512/);
      await expect(dvae.decoderStats(low)).rejects.toThrow(/token ids must lie in \[0, 512\).*from -1 to 3/);
    } finally {
      high.dispose();
      low.dispose();
    }
  });
});

describe('config/weights mismatch', () => {
  test('names the tensor and both shapes', async () => {
    const backend = all[0]!;
    const tmp = mkdtempSync(join(tmpdir(), 'dvae-mismatch-'));
    try {
      cpSync(dir, tmp, { recursive: true });
      const config = JSON.parse(readFileSync(`${dir}config.json`, 'utf8'));
      config.encoder.n_hid = 32;
      writeFileSync(join(tmp, 'config.json'), JSON.stringify(config));
      await expect(loadDvae(tmp, { backend })).rejects.toThrow(
        /tensor blocks\.input\.w has shape \[64, 3, 7, 7\] in the checkpoint but the config expects \[32, 3, 7, 7\]/,
      );
      config.encoder.n_hid = 64;
      config.decoder.n_init = 16;
      writeFileSync(join(tmp, 'config.json'), JSON.stringify(config));
      await expect(loadDvae(tmp, { backend })).rejects.toThrow(
        /loadDvae: decoder tensor blocks\.input\.w has shape \[32, 512, 1, 1\] in the checkpoint but the config expects \[16, 512, 1, 1\]/,
      );
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
