// calibrateEncoderLogits: the data-dependent init of the logits layer, checked against the
// per-code statistics of the logits it produces and against the input params it must not touch;
// images it cannot calibrate on (8-bit or NaN pixels, on the CPU and through WebGPU, an empty
// batch, another backend) are named before any encoding.
import { type Tensor, createBackend, full, randomUniform, scale, tensor, zeros } from '@vl/tensor';
import { fixtureBackends } from '@vl/vitest-config/fixture-backends';
import { afterAll, describe, expect, test } from 'vitest';
import {
  calibrateEncoderLogits,
  checkDvaeParams,
  dvaeEncoder,
  encoderShapes,
  initDvaeParams,
  mapPixels,
  parseDvaeConfig,
} from '../src/index.js';

const backend = await createBackend('cpu');
afterAll(() => backend.dispose());
const all = await fixtureBackends(createBackend, 'calibrateEncoderLogits'); // disposed after the tests

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
    const calibrated = await calibrateEncoderLogits(params.encoder, config, images, { std: 2.5 });
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

  test('bad std, bad images and mismatched params are named', async () => {
    const params = initDvaeParams(config, { backend, seed: 5 });
    const images = randomUniform([2, 3, 8, 8], { backend, seed: 6 });
    const gray = randomUniform([2, 1, 8, 8], { backend, seed: 6 });
    const empty = zeros([0, 3, 8, 8], { backend });
    const before = backend.stats().liveTensors;
    await expect(calibrateEncoderLogits(params.encoder, config, images, { std: 0 })).rejects.toThrow(
      /std must be a finite number > 0, got 0/,
    );
    // A misspelt option is named instead of silently calibrating to the default std.
    await expect(
      calibrateEncoderLogits(params.encoder, config, images, { stdev: 2 } as never),
    ).rejects.toThrow('calibrateEncoderLogits: unknown option "stdev" (expected std)');
    await expect(calibrateEncoderLogits(params.encoder, config, images, null as never)).rejects.toThrow(
      'calibrateEncoderLogits: options must be an object, got null',
    );
    await expect(calibrateEncoderLogits(params.encoder, config, gray)).rejects.toThrow(/3 channels|channel/);
    await expect(calibrateEncoderLogits(params.decoder, config, images)).rejects.toThrow(/encoder/);
    await expect(calibrateEncoderLogits(params.encoder, config, empty)).rejects.toThrow(
      "calibrateEncoderLogits: images f32[0, 3, 8, 8] hold no image; the logits' statistics need at least one",
    );
    // Forgetting the await gives a Promise, which the trainer and every checkDvaeParams user name.
    expect(() =>
      checkDvaeParams(Promise.resolve(params.encoder) as never, encoderShapes(config.encoder), 'encoder'),
    ).toThrow(
      'checkDvaeParams: params must be a Map of tensors by checkpoint name, got a Promise (await it first)',
    );
    expect(backend.stats().liveTensors).toBe(before);
    // Images disposed while their range is read back are named, not used.
    const brief = randomUniform([2, 3, 8, 8], { backend, seed: 7 });
    const pending = calibrateEncoderLogits(params.encoder, config, brief);
    brief.dispose();
    await expect(pending).rejects.toThrow(
      'calibrateEncoderLogits: images f32[2, 3, 8, 8] were disposed (used after dispose())',
    );
    expect(backend.stats().liveTensors).toBe(before);
    for (const t of [images, gray, empty, ...params.encoder.values(), ...params.decoder.values()])
      t.dispose();
  });

  test('images from another backend are named with both backends', async () => {
    const params = initDvaeParams(config, { backend, seed: 7 });
    const other = await createBackend('cpu');
    const foreign = randomUniform([2, 3, 8, 8], { backend: other, seed: 8 });
    try {
      await expect(calibrateEncoderLogits(params.encoder, config, foreign)).rejects.toThrow(
        /^calibrateEncoderLogits: images f32\[2, 3, 8, 8\] are on another backend \(cpu.*\) than the encoder params \(cpu.*\); move them to that backend with toBackend\(\)$/,
      );
    } finally {
      foreign.dispose();
      other.dispose();
      for (const t of [...params.encoder.values(), ...params.decoder.values()]) t.dispose();
    }
  });

  for (const b of all) {
    test(`8-bit and NaN pixels are refused on ${b.kind}, naming the values, with nothing created or changed`, async () => {
      const params = initDvaeParams(config, { backend: b, seed: 9 });
      const w0 = Array.from(await params.encoder.get('blocks.output.conv.w')!.read());
      const unit = randomUniform([2, 3, 8, 8], { backend: b, seed: 10 }); // [2, 3, 8, 8] in [0, 1)
      const bytes = scale(unit, 255); // forgot / 255
      const nan = full([2, 3, 8, 8], Number.NaN, { backend: b });
      const oneNan = tensor(
        Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => (i === 77 ? Number.NaN : 0.5)),
        [2, 3, 8, 8],
        { backend: b },
      );
      const negative = full([2, 3, 8, 8], -0.5, { backend: b });
      const entries = [...params.encoder];
      const before = b.stats().liveTensors;
      try {
        await expect(calibrateEncoderLogits(params.encoder, config, bytes)).rejects.toThrow(
          /^calibrateEncoderLogits: images must hold pixel values in \[0, 1\], got values from [\d.e-]+ to [\d.]+ \(8-bit pixels\? divide by 255\)$/,
        );
        await expect(calibrateEncoderLogits(params.encoder, config, nan)).rejects.toThrow(
          'calibrateEncoderLogits: images must hold pixel values in [0, 1], got values from NaN to NaN (NaN pixels)',
        );
        await expect(calibrateEncoderLogits(params.encoder, config, oneNan)).rejects.toThrow('(NaN pixels)');
        await expect(calibrateEncoderLogits(params.encoder, config, negative)).rejects.toThrow(
          'calibrateEncoderLogits: images must hold pixel values in [0, 1], got values from -0.5 to -0.5',
        );
        expect(b.stats().liveTensors).toBe(before); // no weights made, the min/max freed
        expect([...params.encoder]).toEqual(entries); // the caller's map is untouched
        expect(Array.from(await params.encoder.get('blocks.output.conv.w')!.read())).toEqual(w0);
        // The same batch divided by 255 calibrates.
        const calibrated = await calibrateEncoderLogits(params.encoder, config, unit);
        expect(calibrated.get('blocks.output.conv.w')!.describe()).toBe('f32[16, 16, 1, 1]');
        calibrated.get('blocks.output.conv.w')!.dispose();
        calibrated.get('blocks.output.conv.b')!.dispose();
      } finally {
        for (const t of [unit, bytes, nan, oneNan, negative]) t.dispose();
        for (const t of [...params.encoder.values(), ...params.decoder.values()]) t.dispose();
      }
    });
  }
});
