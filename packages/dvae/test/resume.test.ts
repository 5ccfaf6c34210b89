// Stopping and resuming dVAE training exactly: DvaeTrainer.saveState / loadState carry both
// optimizers and the gumbel noise's seed stream, and trainDvae's resumeFrom takes the error a stopped
// run threw, so the resumed steps equal the unbroken run's.
import { type Backend, TrainingInterruptedError, createBackend, randomUniform, tensor } from '@vl/tensor';
import { afterAll, expect, test } from 'vitest';
import {
  type DvaeParamsPair,
  DvaeTrainer,
  cosineAnneal,
  initDvaeParams,
  parseDvaeConfig,
  trainDvae,
} from '../src/index.js';
import { TINY_DVAE } from './tinyDvae.js';

const backend: Backend = await createBackend('cpu');
afterAll(() => backend.dispose());

const config = TINY_DVAE;
const options = {
  lr: cosineAnneal({ from: 1e-2, to: 1e-3, steps: 4 }),
  tau: cosineAnneal({ from: 1, to: 0.5, steps: 4 }),
  beta: 0.5,
  seed: 3,
};

async function values(trainer: DvaeTrainer): Promise<number[]> {
  const { encoder, decoder } = trainer.params;
  const out: number[] = [];
  for (const t of [...encoder.values(), ...decoder.values()]) out.push(...(await t.read()));
  return out;
}

test('a DvaeTrainer stopped, saved and resumed takes the steps the unbroken run takes, bit for bit', async () => {
  const live = backend.stats().liveTensors;
  const batches = [0, 1, 2, 3].map((i) => randomUniform([2, 3, 8, 8], { backend, seed: 10 + i }));
  const init = () => initDvaeParams(config, { backend, seed: 1 });
  const made = [init(), init()];
  const straight = new DvaeTrainer(made[0]!, config, options);
  const first = new DvaeTrainer(made[1]!, config, options);
  let second: DvaeTrainer | undefined;
  try {
    for (const b of batches) await straight.step(b);
    for (const b of batches.slice(0, 2)) await first.step(b);
    const state = await first.saveState();
    second = new DvaeTrainer(first.params, config, options);
    await second.loadState(state);
    expect([second.stepCount, second.tau]).toEqual([2, first.tau]);
    for (const b of batches.slice(2)) await second.step(b);
    expect(await values(second)).toEqual(await values(straight));
    // Without the state the same two steps differ (the schedules restart, the noise repeats).
    const fresh = new DvaeTrainer(first.params, config, options);
    for (const b of batches.slice(2)) await fresh.step(b);
    expect(await values(fresh)).not.toEqual(await values(straight));
    fresh.dispose();
    // Another model's state is refused, and the trainer keeps its own.
    const wide = parseDvaeConfig({
      encoder: { ...config.encoder, n_hid: 12 },
      decoder: { ...config.decoder, n_hid: 12 },
    });
    made[2] = initDvaeParams(wide, { backend, seed: 2 });
    const other = new DvaeTrainer(made[2], wide);
    await expect(other.loadState(state)).rejects.toThrow(/^AdamW\.loadStateDict: state\['.*'\]\.m is f32\[/);
    expect(other.stepCount).toBe(0);
    other.dispose();
    // The encoder's state fits and the decoder's does not: the encoder's own comes back too.
    const decoderOnly = parseDvaeConfig({
      encoder: config.encoder,
      decoder: { ...config.decoder, n_hid: 12 },
    });
    made[3] = initDvaeParams(decoderOnly, { backend, seed: 3 });
    const half = new DvaeTrainer(made[3], decoderOnly, options);
    await half.step(batches[0]!);
    const own = await half.saveState();
    await expect(half.loadState(state)).rejects.toThrow(/^AdamW\.loadStateDict: state\['.*'\]\.m is f32\[/);
    expect([half.stepCount, Buffer.from(await half.saveState()).equals(Buffer.from(own))]).toEqual([1, true]);
    // Mid-step the noise stream is a draw ahead of the optimizers: no state is saved then.
    const running = half.step(batches[1]!);
    await expect(half.saveState()).rejects.toThrow(
      'DvaeTrainer.saveState: a step is running; await it first',
    );
    await running;
    half.dispose();
  } finally {
    for (const b of batches) b.dispose();
    for (const tr of [straight, first, second]) tr?.dispose();
    for (const pair of made)
      for (const t of [...pair.encoder.values(), ...pair.decoder.values()]) t.dispose();
  }
  expect(backend.stats().liveTensors).toBe(live);
});

test('trainDvae stopped by an abort and resumed from its error ends where the unbroken run ends', async () => {
  const live = backend.stats().liveTensors;
  const pixels = await Promise.all(
    [0, 1, 2, 3].map(async (i) => {
      const t = randomUniform([2, 3, 8, 8], { backend, seed: 20 + i });
      const data = await t.read();
      t.dispose();
      return data;
    }),
  );
  const asked: number[] = [];
  const batches = (i: number) => {
    asked.push(i);
    return tensor(pixels[i]!, [2, 3, 8, 8], { backend });
  };
  const params = initDvaeParams(config, { backend, seed: 4 });
  const run = { ...options, steps: 4 };
  const straight = await trainDvae(params, config, batches, run);
  asked.length = 0;
  const controller = new AbortController();
  const stopped = await trainDvae(params, config, batches, {
    ...run,
    signal: controller.signal,
    onProgress: ({ step }) => step === 2 && controller.abort(),
  }).catch((e) => e);
  expect(stopped).toBeInstanceOf(TrainingInterruptedError);
  expect(stopped.steps).toBe(2);
  const resumed = await trainDvae(stopped.params, config, batches, { ...run, resumeFrom: stopped });
  expect(asked).toEqual([0, 1, 2, 3]);
  const flat = async (p: DvaeParamsPair) => {
    const out: number[] = [];
    for (const t of [...p.encoder.values(), ...p.decoder.values()]) out.push(...(await t.read()));
    return out;
  };
  expect(await flat(resumed)).toEqual(await flat(straight));
  for (const p of [params, straight, stopped.params as DvaeParamsPair, resumed])
    for (const t of [...p.encoder.values(), ...p.decoder.values()]) t.dispose();
  expect(backend.stats().liveTensors).toBe(live);
});
