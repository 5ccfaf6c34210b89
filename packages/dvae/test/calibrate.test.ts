// calibrateEncoderLogits: the data-dependent init of the logits layer, checked against the
// per-code statistics of the logits it produces and against the input params it must not touch.
import { type Tensor, createBackend, randomUniform } from '@vl/tensor';
import { afterAll, describe, expect, test } from 'vitest';
import {
  calibrateEncoderLogits,
  dvaeEncoder,
  initDvaeParams,
  mapPixels,
  parseDvaeConfig,
} from '../src/index.js';

const backend = await createBackend('cpu');
afterAll(() => backend.dispose());

const config = parseDvaeConfig({
  encoder: { group_count: 2, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
  decoder: { group_count: 2, n_init: 4, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
});

/** Per-code mean and standard deviation of `[N, V, h, w]` logits over N, h and w, in float64. */
async function codeStats(logits: Tensor): Promise<{ mu: number[]; sd: number[] }> {
  const d = await logits.read();
  const [n, v, h, w] = logits.shape as [number, number, number, number];
  const mu: number[] = [];
  const sd: number[] = [];
  for (let k = 0; k < v; k++) {
    let s = 0;
    let s2 = 0;
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < h * w; i++) {
        const x = d[(b * v + k) * h * w + i]!;
        s += x;
        s2 += x * x;
      }
    }
    const m = s / (n * h * w);
    mu.push(m);
    sd.push(Math.sqrt(s2 / (n * h * w) - m * m));
  }
  return { mu, sd };
}

describe('calibrateEncoderLogits', () => {
  test('gives every code mean 0 and the asked std over the images, and leaves the input alone', async () => {
    const params = initDvaeParams(config, { backend, seed: 3 });
    const images = randomUniform([6, 3, 8, 8], { backend, seed: 4 }); // [6, 3, 8, 8]
    const x = mapPixels(images, config.logit_laplace_eps);
    const before = dvaeEncoder(params.encoder, x, config.encoder); // [6, 16, 4, 4]
    const w0 = Array.from(await params.encoder.get('blocks.output.conv.w')!.read());
    const calibrated = calibrateEncoderLogits(params.encoder, config, images, { std: 2.5 });
    const after = dvaeEncoder(calibrated, x, config.encoder); // [6, 16, 4, 4]
    const s0 = await codeStats(before);
    expect(Math.max(...s0.sd)).toBeLessThan(1); // a fresh encoder's logits are small
    const s1 = await codeStats(after);
    for (let k = 0; k < 16; k++) {
      expect(s1.mu[k]).toBeCloseTo(0, 4);
      expect(s1.sd[k]).toBeCloseTo(2.5, 3);
    }
    // Every other tensor is shared; the caller's map and its logits layer are unchanged.
    for (const [name, t] of params.encoder) {
      if (name.startsWith('blocks.output.conv')) expect(calibrated.get(name)).not.toBe(t);
      else expect(calibrated.get(name)).toBe(t);
    }
    expect(Array.from(await params.encoder.get('blocks.output.conv.w')!.read())).toEqual(w0);
    for (const t of [
      images,
      x,
      before,
      after,
      calibrated.get('blocks.output.conv.w')!,
      calibrated.get('blocks.output.conv.b')!,
    ])
      t.dispose();
    for (const t of [...params.encoder.values(), ...params.decoder.values()]) t.dispose();
  });

  test('bad std, bad images and mismatched params are named', () => {
    const params = initDvaeParams(config, { backend, seed: 5 });
    const images = randomUniform([2, 3, 8, 8], { backend, seed: 6 });
    const gray = randomUniform([2, 1, 8, 8], { backend, seed: 6 });
    expect(() => calibrateEncoderLogits(params.encoder, config, images, { std: 0 })).toThrow(
      /std must be a finite number > 0, got 0/,
    );
    expect(() => calibrateEncoderLogits(params.encoder, config, gray)).toThrow(/3 channels|channel/);
    expect(() => calibrateEncoderLogits(params.decoder, config, images)).toThrow(/encoder/);
    for (const t of [images, gray, ...params.encoder.values(), ...params.decoder.values()]) t.dispose();
  });
});
