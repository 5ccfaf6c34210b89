// Training a tiny dVAE on generated images of coloured rectangles (CPU backend): the reconstruction
// error of the hard (argmax) codes falls and the codebook usage rises; progress reports carry the
// annealed tau and beta; the trained params save to a folder that loadDvae reads back; the params
// given to training are left unchanged; an abort hands back the trained params, and a batch whose
// loss is not finite is skipped.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, type Tensor, TrainingInterruptedError, createBackend, tensor } from '@vl/tensor';
import { afterAll, expect, test } from 'vitest';
import {
  type DvaeConfig,
  type DvaeParamsPair,
  type DvaeTrainProgress,
  DvaeTrainer,
  codebookUsage,
  cosineAnneal,
  createDvaeModel,
  dvaeCheckpointFiles,
  initDvaeParams,
  loadDvae,
  parseDvaeConfig,
  trainDvae,
} from '../src/index.js';

const backend: Backend = await createBackend('cpu');
afterAll(() => backend.dispose());

const S = 8; // image side; the 2-group encoder gives a 4x4 grid of 2x2 patches
const config: DvaeConfig = parseDvaeConfig({
  encoder: { group_count: 2, n_hid: 16, n_blk_per_group: 1, vocab_size: 32 },
  decoder: { group_count: 2, n_init: 16, n_hid: 16, n_blk_per_group: 1, vocab_size: 32 },
});

const PALETTE = [
  [0.9, 0.1, 0.1],
  [0.1, 0.8, 0.2],
  [0.15, 0.2, 0.9],
  [0.95, 0.9, 0.1],
  [0.9, 0.5, 0.1],
  [0.6, 0.1, 0.8],
] as const;

/** A seeded stream in [0, 1) (mulberry32), so the data set is the same on every run. */
function stream(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` images [n, 3, S, S]: a plain background and two rectangles on the 2-pixel grid. */
function rectangles(n: number, rnd: () => number): Tensor {
  const data = new Float32Array(n * 3 * S * S);
  const pick = () => PALETTE[Math.floor(rnd() * PALETTE.length)]!;
  const cells = S / 2;
  for (let b = 0; b < n; b++) {
    const bg = pick();
    for (let c = 0; c < 3; c++) data.fill(bg[c]!, (b * 3 + c) * S * S, (b * 3 + c + 1) * S * S);
    for (let r = 0; r < 2; r++) {
      const colour = pick();
      const x0 = 2 * Math.floor(rnd() * (cells - 1));
      const y0 = 2 * Math.floor(rnd() * (cells - 1));
      const w = 2 * (1 + Math.floor(rnd() * ((S - x0) / 2 - 1)));
      const h = 2 * (1 + Math.floor(rnd() * ((S - y0) / 2 - 1)));
      for (let y = y0; y < y0 + h; y++)
        for (let x = x0; x < x0 + w; x++)
          for (let c = 0; c < 3; c++) data[((b * 3 + c) * S + y) * S + x] = colour[c]!;
    }
  }
  return tensor(data, [n, 3, S, S], { backend });
}

async function evaluate(params: DvaeParamsPair, images: Tensor) {
  const model = createDvaeModel(config, params.encoder, params.decoder, backend, () => {});
  const rec = await model.reconstruct(images); // [N, 3, S, S]
  const tokens = model.encode(images); // i32 [N, 4, 4]
  try {
    const [a, b] = await Promise.all([rec.read(), images.read()]);
    let se = 0;
    for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
    const usage = await codebookUsage(tokens, config.encoder.vocab_size);
    return { mse: se / a.length, perplexity: usage.perplexity, deadCodes: usage.deadCodes };
  } finally {
    rec.dispose();
    tokens.dispose();
  }
}

test('reconstruction error falls and codebook usage rises', { timeout: 120_000 }, async () => {
  const evalImages = rectangles(32, stream(1)); // [32, 3, 8, 8]
  const initial = initDvaeParams(config, { backend, seed: 1 });
  const firstWeights = Array.from(await initial.encoder.get('blocks.input.w')!.read());
  const before = await evaluate(initial, evalImages);

  const steps = 200;
  const progress: DvaeTrainProgress[] = [];
  const train = stream(2);
  const trained = await trainDvae(initial, config, () => rectangles(16, train), {
    steps,
    lr: 3e-3,
    tau: cosineAnneal({ from: 1, to: 1 / 16, steps }),
    beta: cosineAnneal({ from: 0, to: 1, steps: Math.floor(steps / 3) }),
    usageWindow: 20,
    seed: 3,
    onProgress: (p) => progress.push(p),
  });
  const after = await evaluate(trained, evalImages);
  console.log(`dvae training: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);

  // The hard-code reconstruction of held-out images, and the codes' spread over the codebook.
  expect(after.mse).toBeLessThan(0.5 * before.mse);
  expect(after.perplexity).toBeGreaterThan(1.5 * before.perplexity);
  expect(after.deadCodes).toBeLessThanOrEqual(before.deadCodes);

  // Progress: every step reported, the relaxed objective falls, tau and beta follow their schedules.
  expect(progress.map((p) => p.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  const meanOf = (ps: DvaeTrainProgress[], k: 'loss' | 'nll' | 'mse') =>
    ps.reduce((s, p) => s + p[k], 0) / ps.length;
  expect(meanOf(progress.slice(-20), 'nll')).toBeLessThan(meanOf(progress.slice(0, 20), 'nll') - 0.5);
  expect(meanOf(progress.slice(-20), 'mse')).toBeLessThan(meanOf(progress.slice(0, 20), 'mse'));
  expect(progress[0]!.tau).toBe(1);
  expect(progress[0]!.beta).toBe(0);
  expect(progress.at(-1)!.tau).toBeCloseTo(1 / 16, 2);
  expect(progress.at(-1)!.beta).toBe(1);
  for (const p of progress) {
    for (const v of [p.loss, p.nll, p.kl, p.mse, p.perplexity]) expect(Number.isFinite(v)).toBe(true);
    expect(p.deadCodes).toBeGreaterThanOrEqual(0);
  }

  // The caller's params are not touched by training.
  expect(Array.from(await initial.encoder.get('blocks.input.w')!.read())).toEqual(firstWeights);

  // Saved with dall_e's names, the folder loads back and gives the same reconstruction.
  const dir = mkdtempSync(join(tmpdir(), 'dvae-trained-'));
  try {
    const files = await dvaeCheckpointFiles(config, trained);
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
    const loaded = await loadDvae(dir, { backend });
    const rec = await loaded.reconstruct(evalImages); // [32, 3, 8, 8]
    const model = createDvaeModel(config, trained.encoder, trained.decoder, backend, () => {});
    const ref = await model.reconstruct(evalImages); // [32, 3, 8, 8]
    expect(Array.from(await rec.read())).toEqual(Array.from(await ref.read()));
    rec.dispose();
    ref.dispose();
    loaded.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const t of [evalImages, ...Object.values(initial).flatMap((m) => [...m.values()])]) t.dispose();
  for (const t of Object.values(trained).flatMap((m) => [...m.values()])) t.dispose();
});

test('trainDvae stopped by an abort hands back the trained params, and rejects bad options', async () => {
  const params = initDvaeParams(config, { backend, seed: 4 });
  const rnd = stream(5);
  const controller = new AbortController();
  let calls = 0;
  const live = backend.stats().liveTensors;
  const stopped = await trainDvae(params, config, () => rectangles(2, rnd), {
    steps: 10,
    signal: controller.signal,
    onProgress: () => {
      calls++;
      if (calls === 2) controller.abort(new Error('stop here'));
    },
  }).catch((e: unknown) => e);
  expect(calls).toBe(2);
  // The two trained steps used to be thrown away with the trainer.
  expect(stopped).toBeInstanceOf(TrainingInterruptedError);
  const err = stopped as TrainingInterruptedError<DvaeParamsPair>;
  expect([err.name, err.steps, (err.cause as Error).message]).toEqual(['AbortError', 2, 'stop here']);
  expect(err.message).toMatch(/trainDvae: stopped after 2 steps: stop here/);
  const trained = [...err.params.encoder.values(), ...err.params.decoder.values()];
  expect(trained.length).toBe(params.encoder.size + params.decoder.size);
  expect(await err.params.encoder.get('blocks.input.w')!.read()).not.toEqual(
    await params.encoder.get('blocks.input.w')!.read(),
  );
  for (const t of trained) t.dispose();
  expect(backend.stats().liveTensors).toBe(live); // the loop's own tensors are all freed
  // Before any update the abort reason comes as it is (the caller's params are untouched).
  const early = new AbortController();
  early.abort(new Error('not yet'));
  await expect(
    trainDvae(params, config, () => rectangles(2, rnd), { steps: 2, signal: early.signal }),
  ).rejects.toThrow(/^not yet$/);
  await expect(trainDvae(params, config, () => rectangles(2, rnd), { steps: -1 })).rejects.toThrow(
    /steps must be a non-negative integer/,
  );
  const wrong = parseDvaeConfig({ ...config, encoder: { ...config.encoder, n_hid: 8 } });
  await expect(trainDvae(params, wrong, () => rectangles(2, rnd), { steps: 1 })).rejects.toThrow(
    /tensor blocks\.input\.w has shape \[16, 3, 7, 7\] in the checkpoint but the config expects \[8, 3, 7, 7\]/,
  );
  for (const t of Object.values(params).flatMap((m) => [...m.values()])) t.dispose();
});

test('trainDvae skips a batch whose loss is not finite and goes on', async () => {
  const params = initDvaeParams(config, { backend, seed: 8 });
  const rnd = stream(9);
  let poisoned = false; // the batch of step 1 gets a KL weight beyond float32: its loss is not finite
  const progress: DvaeTrainProgress[] = [];
  const trained = await trainDvae(
    params,
    config,
    (i) => {
      poisoned = i === 1;
      return rectangles(2, rnd);
    },
    {
      steps: 4,
      lr: 1e-3,
      tau: 1,
      beta: () => (poisoned ? Number.MAX_VALUE : 0),
      onProgress: (p) => progress.push(p),
    },
  );
  expect(progress.map((p) => [p.step, p.skipped, p.skippedSteps])).toEqual([
    [1, false, 0],
    [2, true, 1],
    [3, false, 1],
    [4, false, 1],
  ]);
  expect(Number.isFinite(progress[1]!.loss)).toBe(false);
  const w = await trained.decoder.get('blocks.output.conv.w')!.read();
  expect(w.every(Number.isFinite)).toBe(true);
  for (const t of Object.values(params).flatMap((m) => [...m.values()])) t.dispose();
  for (const t of Object.values(trained).flatMap((m) => [...m.values()])) t.dispose();
});

test('encoderLrScale holds the encoder while it is 0', async () => {
  const params = initDvaeParams(config, { backend, seed: 6 });
  const rnd = stream(7);
  const trainer = new DvaeTrainer(params, config, {
    lr: 1e-2,
    encoderLrScale: (step) => (step < 2 ? 0 : 1),
  });
  const read = async (m: Map<string, Tensor>) =>
    Promise.all([...m.entries()].map(async ([k, t]) => [k, Array.from(await t.read())] as const));
  const enc0 = await read(params.encoder);
  const dec0 = await read(params.decoder);
  for (let s = 0; s < 3; s++) {
    const x = rectangles(4, rnd);
    await trainer.step(x);
    x.dispose();
    const enc = await read(trainer.params.encoder);
    const dec = await read(trainer.params.decoder);
    // The encoder moves only once its scale is 1 (step 2 on); the decoder from the first step.
    expect(enc.every(([k, v], i) => k === enc0[i]![0] && v.every((x, j) => x === enc0[i]![1][j]))).toBe(
      s < 2,
    );
    expect(dec.some(([, v], i) => v.some((x, j) => x !== dec0[i]![1][j]))).toBe(true);
  }
  trainer.dispose();
  const bad = new DvaeTrainer(params, config, { encoderLrScale: () => Number.NaN });
  const x = rectangles(1, rnd);
  await expect(bad.step(x)).rejects.toThrow(/the encoderLrScale schedule gave NaN at step 0/);
  bad.dispose();
  x.dispose();
  for (const t of Object.values(params).flatMap((m) => [...m.values()])) t.dispose();
});
