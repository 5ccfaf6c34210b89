// kmeansInitDvae: images made of flat 2x2 cells of a few colours must come back through the
// initialized dVAE's own encoder and decoder (argmax codes, decoded means) as they went in, the
// PSNR it reports must be the one the model achieves, and bad configs and inputs are refused.
import { type Tensor, createBackend, randomUniform, tensor } from '@vl/tensor';
import { afterAll, describe, expect, test } from 'vitest';
import { createDvaeModel, initDvaeParams, kmeansInitDvae, parseDvaeConfig } from '../src/index.js';

const backend = await createBackend('cpu');
afterAll(() => backend.dispose());

const config = parseDvaeConfig({
  encoder: { group_count: 2, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
  decoder: { group_count: 2, n_init: 8, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
});

const PALETTE = [
  [0.9, 0.1, 0.1],
  [0.1, 0.8, 0.2],
  [0.2, 0.3, 0.9],
  [0.5, 0.5, 0.5],
  [0.95, 0.9, 0.1],
  [0.05, 0.05, 0.05],
] as const;

/** `[n, 3, 8, 8]` images whose 2x2 cells are each one palette colour, drawn from a fixed sequence. */
function flatCellImages(n: number): { images: Tensor; data: Float32Array } {
  const data = new Float32Array(n * 3 * 64);
  let r = 7;
  for (let b = 0; b < n; b++) {
    for (let cy = 0; cy < 4; cy++) {
      for (let cx = 0; cx < 4; cx++) {
        r = (r * 1103515245 + 12345) % 2 ** 31;
        const colour = PALETTE[(r >>> 16) % PALETTE.length]!;
        for (let c = 0; c < 3; c++)
          for (let y = 2 * cy; y < 2 * cy + 2; y++)
            for (let x = 2 * cx; x < 2 * cx + 2; x++) data[((b * 3 + c) * 8 + y) * 8 + x] = colour[c]!;
      }
    }
  }
  return { images: tensor(data, [n, 3, 8, 8], { backend }), data };
}

async function psnrOf(a: Tensor, b: Float32Array): Promise<number> {
  const d = await a.read();
  let se = 0;
  for (let i = 0; i < b.length; i++) se += (d[i]! - b[i]!) ** 2;
  return 10 * Math.log10(1 / Math.max(se / b.length, 1e-12));
}

describe('kmeansInitDvae', () => {
  test('an initialized dVAE reconstructs flat-cell images through its own encoder and decoder', async () => {
    const fresh = initDvaeParams(config, { backend, seed: 1 });
    const before = await fresh.encoder.get('blocks.output.conv.w')!.read();
    const { images, data } = flatCellImages(4);
    const { params, psnr, codesUsed } = await kmeansInitDvae(fresh, config, images);
    expect(codesUsed).toBeGreaterThanOrEqual(PALETTE.length);
    expect(psnr).toBeGreaterThan(40); // flat cells, 16 codes for 6 colours: nearly exact
    // The params passed in are untouched; unchanged tensors are shared.
    expect(Array.from(await fresh.encoder.get('blocks.output.conv.w')!.read())).toEqual(Array.from(before));
    expect(params.encoder.get('blocks.group_1.block_1.res_path.conv_1.w')).toBe(
      fresh.encoder.get('blocks.group_1.block_1.res_path.conv_1.w'),
    );
    const model = createDvaeModel(config, params.encoder, params.decoder, backend, () => {});
    const tokens = model.encode(images); // [4, 4, 4]
    const decoded = await model.decode(tokens); // [4, 3, 8, 8]
    const achieved = await psnrOf(decoded, data);
    expect(achieved).toBeGreaterThan(40);
    // Cells of one colour share one code, cells of different colours do not.
    const ids = await tokens.read();
    const codeOf = new Map<string, number>();
    for (let i = 0; i < ids.length; i++) {
      const b = Math.floor(i / 16);
      const cell = i % 16;
      const y = 2 * Math.floor(cell / 4);
      const x = 2 * (cell % 4);
      const key = [0, 1, 2].map((c) => data[((b * 3 + c) * 8 + y) * 8 + x]).join();
      if (!codeOf.has(key)) codeOf.set(key, ids[i]!);
      expect(ids[i]).toBe(codeOf.get(key));
    }
    expect(new Set(codeOf.values()).size).toBe(codeOf.size);
    for (const t of [images, tokens, decoded]) t.dispose();
  });

  test('reports the PSNR the initialized model achieves on images that are not flat', async () => {
    const images = randomUniform([4, 3, 8, 8], { backend, seed: 9 }); // [4, 3, 8, 8]
    const data = (await images.read()) as Float32Array;
    const { params, psnr } = await kmeansInitDvae(
      initDvaeParams(config, { backend, seed: 2 }),
      config,
      images,
    );
    const model = createDvaeModel(config, params.encoder, params.decoder, backend, () => {});
    const decoded = await model.reconstruct(images); // [4, 3, 8, 8]
    const achieved = await psnrOf(decoded, data);
    expect(psnr).toBeGreaterThan(8);
    expect(psnr).toBeLessThan(30);
    expect(Math.abs(achieved - psnr)).toBeLessThan(0.5);
    for (const t of [images, decoded]) t.dispose();
  });

  test('refuses layers narrower than 2 * channels and too few cells, naming them', async () => {
    const narrow = parseDvaeConfig({
      encoder: { group_count: 2, n_hid: 4, n_blk_per_group: 1, vocab_size: 16 },
      decoder: { group_count: 2, n_init: 8, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
    });
    const { images } = flatCellImages(4);
    await expect(kmeansInitDvae(initDvaeParams(narrow, { backend }), narrow, images)).rejects.toThrow(
      /encoder\.n_hid is 4, it must be at least 2 \* input_channels = 6/,
    );
    const one = flatCellImages(1).images; // 16 cells: enough for 16 codes
    await expect(kmeansInitDvae(initDvaeParams(config, { backend }), config, one)).resolves.toBeDefined();
    const few = tensor(new Float32Array(3 * 4 * 4), [1, 3, 4, 4], { backend }); // 4 cells
    await expect(kmeansInitDvae(initDvaeParams(config, { backend }), config, few)).rejects.toThrow(
      /4 cells of 2x2 pixels, fewer than the 16 codes/,
    );
    await expect(
      kmeansInitDvae(initDvaeParams(config, { backend }), config, images, { margin: 0 }),
    ).rejects.toThrow(/margin must be/);
    for (const t of [images, one, few]) t.dispose();
  });
});
