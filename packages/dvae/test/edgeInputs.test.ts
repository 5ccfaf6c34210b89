// Edge cases a new user reaches that must be named instead of failing deep inside a kernel or
// being silently ignored: a model made over params on another backend (or with no backend), an
// empty training batch, a negative encoder learning-rate scale, misspelled options of the inits,
// widths too narrow for the residual blocks, a batch the training loop already disposed, a
// checkpoint whose config would not load back, concurrent training steps, a zero-step schedule
// asked for a negative step, token lists that are not tensors, and arguments checked before any
// work (a gumbel axis, a string std, a trainDvae callback). Every error path leaves the
// backend's live tensor count where it was. CPU only.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, createBackend, randomUniform, zeros } from '@vl/tensor';
import { afterAll, expect, test } from 'vitest';
import {
  DvaeTrainer,
  calibrateEncoderLogits,
  codebookUsage,
  cosineAnneal,
  createDvaeModel,
  dvaeCheckpointFiles,
  dvaeLoss,
  gumbelSoftmax,
  initDvaeParams,
  kmeansInitDvae,
  loadDvae,
  parseDvaeConfig,
  trainDvae,
} from '../src/index.js';
import { TINY_DVAE, freePair, tinyBatches } from './tinyDvae.js';

const backend: Backend = await createBackend('cpu');
afterAll(() => backend.dispose());

const config = TINY_DVAE;
const live = () => backend.stats().liveTensors;
const free = freePair;
const batch = tinyBatches(backend); // [2, 3, 8, 8] in [0, 1)

test('createDvaeModel names params on another backend and a backend that is not one', async () => {
  const params = initDvaeParams(config, { backend, seed: 1 });
  const other = await createBackend('cpu');
  const before = live();
  try {
    expect(() => createDvaeModel(config, params.encoder, params.decoder, other, () => {})).toThrow(
      /^createDvaeModel: the params are on another backend \(cpu.*\) than backend \(cpu.*\); pass the params' backend, or move the params with toBackend\(\)$/,
    );
    expect(() =>
      createDvaeModel(config, params.encoder, params.decoder, undefined as never, () => {}),
    ).toThrow('createDvaeModel: backend must be a Backend from createBackend(), got undefined');
    expect(live()).toBe(before);
    // The params' own backend still works.
    const model = createDvaeModel(config, params.encoder, params.decoder, backend, () => {});
    const images = batch(2);
    const tokens = model.encode(images);
    expect(tokens.describe()).toBe('i32[2, 4, 4]');
    tokens.dispose();
    images.dispose();
  } finally {
    other.dispose();
    free(params);
  }
});

test('an empty batch is refused by name by DvaeTrainer.step and dvaeLoss', async () => {
  const params = initDvaeParams(config, { backend, seed: 3 });
  const trainer = new DvaeTrainer(params, config, { lr: 1e-3 });
  const empty = zeros([0, 3, 8, 8], { backend });
  const before = live();
  try {
    await expect(trainer.step(empty)).rejects.toThrow(
      'DvaeTrainer.step: images f32[0, 3, 8, 8] hold no image; a step needs at least one',
    );
    expect(() => dvaeLoss(params, empty, config, { tau: 1, beta: 0, seed: 1 })).toThrow(
      'dvaeLoss: images f32[0, 3, 8, 8] hold no image; the loss needs at least one',
    );
    // A bad temperature is named before the encoder runs, so nothing is left behind outside a tidy.
    const images = batch(4);
    const start = live();
    expect(() => dvaeLoss(params, images, config, { tau: 0, beta: 0, seed: 1 })).toThrow(
      'dvaeLoss: tau must be a finite number > 0, got 0',
    );
    expect(live()).toBe(start);
    images.dispose();
    expect([live(), trainer.stepCount]).toEqual([before, 0]);
  } finally {
    empty.dispose();
    trainer.dispose();
    free(params);
  }
});

test('a negative or non-number schedule is named as the DvaeTrainer option it is', async () => {
  const params = initDvaeParams(config, { backend, seed: 5 });
  try {
    expect(() => new DvaeTrainer(params, config, { encoderLrScale: -1 })).toThrow(
      'DvaeTrainer: encoderLrScale must be >= 0, got -1 at step 0',
    );
    expect(() => new DvaeTrainer(params, config, { beta: '1' as never })).toThrow(
      'DvaeTrainer: beta must be a number or a function of the step, got "1"',
    );
    // A schedule that goes negative later is caught before that step's update, with nothing changed.
    const trainer = new DvaeTrainer(params, config, {
      lr: 1e-3,
      encoderLrScale: (s) => (s === 0 ? 1 : -0.5),
    });
    const images = batch(6);
    await trainer.step(images);
    const weight = async () => Array.from(await trainer.params.encoder.get('blocks.input.w')!.read());
    const start = await weight();
    const before = live();
    await expect(trainer.step(images)).rejects.toThrow(
      'DvaeTrainer: encoderLrScale must be >= 0, got -0.5 at step 1',
    );
    expect([live(), trainer.stepCount]).toEqual([before, 1]);
    expect(await weight()).toEqual(start);
    images.dispose();
    trainer.dispose();
  } finally {
    free(params);
  }
});

test('misspelled init options are refused, and widths too narrow for the residual blocks are named', async () => {
  const before = live();
  expect(() => initDvaeParams(config, { backend, seeed: 5 } as never)).toThrow(
    'initDvaeParams: unknown option "seeed" (expected backend, seed)',
  );
  expect(() => initDvaeParams(config, { seed: 5 } as never)).toThrow(
    'initDvaeParams: options.backend must be a Backend from createBackend(), got undefined',
  );
  const parts = {
    encoder: { group_count: 2, n_hid: 2, n_blk_per_group: 1, vocab_size: 4 },
    decoder: { group_count: 2, n_init: 2, n_hid: 8, n_blk_per_group: 1, vocab_size: 4 },
  };
  // parseDvaeConfig refuses it (and a null, which used to mean the default); a config built by
  // hand reaches initDvaeParams, which refuses it too.
  expect(() => parseDvaeConfig(parts)).toThrow(
    'parseDvaeConfig: encoder.n_hid must be at least 4, got 2 (the residual blocks have n_hid / 4 hidden channels, rounded down)',
  );
  const wideParts = { ...parts, encoder: { ...parts.encoder, n_hid: 8 } };
  expect(() => parseDvaeConfig({ ...wideParts, logit_laplace_eps: null })).toThrow(
    'parseDvaeConfig: logit_laplace_eps must be a number in [0, 0.5), got null',
  );
  expect(() =>
    parseDvaeConfig({ encoder: { ...parts.encoder, n_hid: null }, decoder: parts.decoder }),
  ).toThrow('parseDvaeConfig: encoder.n_hid must be a positive integer, got null');
  const wide = parseDvaeConfig(wideParts);
  const narrow = { ...wide, encoder: { ...wide.encoder, n_hid: 2 } };
  expect(() => initDvaeParams(narrow, { backend })).toThrow(
    'initDvaeParams: encoder.n_hid is 2, it must be at least 4 (the residual blocks compute n_hid / 4 hidden channels, rounded down)',
  );
  expect(live()).toBe(before);
  const params = initDvaeParams(config, { backend, seed: 7 });
  const images = randomUniform([4, 3, 8, 8], { backend, seed: 8 }); // 64 cells for 16 codes
  const start = live();
  try {
    await expect(kmeansInitDvae(params, config, images, { iteration: 3 } as never)).rejects.toThrow(
      'kmeansInitDvae: unknown option "iteration" (expected iterations, margin, seed)',
    );
    expect(live()).toBe(start);
  } finally {
    images.dispose();
    free(params);
  }
});

test('trainDvae names a batch it already disposed (the same tensor returned twice)', async () => {
  const params = initDvaeParams(config, { backend, seed: 9 });
  const images = batch(10);
  try {
    const error = await trainDvae(params, config, () => images, { steps: 2, lr: 1e-3 }).catch((e) => e);
    expect(error.message).toContain(
      'trainDvae: batches(1) returned f32[2, 3, 8, 8], which was disposed: the loop disposes each batch after its step, so return a new tensor for every step',
    );
    free(error.params);
  } finally {
    free(params);
  }
});

test('dvaeCheckpointFiles refuses a config that loadDvae would refuse, before writing anything', async () => {
  const params = initDvaeParams(config, { backend, seed: 11 });
  try {
    await expect(dvaeCheckpointFiles({ ...config, logit_laplace_eps: 0.7 }, params)).rejects.toThrow(
      'dvaeCheckpointFiles: the config would not load back: parseDvaeConfig: logit_laplace_eps must be a number in [0, 0.5), got 0.7',
    );
    // A good config still round-trips.
    const folder = mkdtempSync(join(tmpdir(), 'dvae-edge-'));
    try {
      for (const [name, data] of Object.entries(await dvaeCheckpointFiles(config, params)))
        writeFileSync(join(folder, name), data);
      const model = await loadDvae(folder, { backend });
      expect(model.config).toEqual(config);
      model.dispose();
    } finally {
      rmSync(folder, { recursive: true });
    }
  } finally {
    free(params);
  }
});

test('a second step while one is running is refused instead of training on stale gradients', async () => {
  const params = initDvaeParams(config, { backend, seed: 12 });
  const trainer = new DvaeTrainer(params, config, { lr: 1e-3 });
  const images = batch(13);
  try {
    const first = trainer.step(images);
    await expect(trainer.step(images)).rejects.toThrow(
      'DvaeTrainer.step: a step is already running; await it before the next one',
    );
    expect((await first).step).toBe(1);
    expect((await trainer.step(images)).step).toBe(2); // usable again once the first is done
  } finally {
    images.dispose();
    trainer.dispose();
    free(params);
  }
});

test('small helpers: a zero-step anneal is `to` at every step; codebookUsage names a non-tensor', async () => {
  const tau = cosineAnneal({ from: 1, to: 0.5, steps: 0 });
  expect([tau(-1), tau(0), tau(3)]).toEqual([0.5, 0.5, 0.5]);
  await expect(codebookUsage([5 as never], 16)).rejects.toThrow(
    'codebookUsage: tokens must be i32 tensors of token ids, got 5',
  );
});

test('bad arguments found before any work: a gumbel axis, a string std, a trainDvae callback', async () => {
  const before = live();
  const logits = zeros([1, 16, 2, 2], { backend });
  // The axis is checked before the noise is drawn (outside a tidy, the noise was left behind).
  expect(() => gumbelSoftmax(logits, { tau: 1, seed: 1, axis: 4 })).toThrow(
    'gumbelSoftmax: axis 4 is out of range for logits f32[1, 16, 2, 2]',
  );
  logits.dispose();
  expect(live()).toBe(before);
  const params = initDvaeParams(config, { backend, seed: 11 });
  const images = randomUniform([2, 3, 8, 8], { backend, seed: 12 });
  try {
    await expect(
      calibrateEncoderLogits(params.encoder, config, images, { std: '2' as never }),
    ).rejects.toThrow('calibrateEncoderLogits: std must be a finite number > 0, got "2"');
    // onProgress was first called after a step had trained.
    let calls = 0;
    const batches = () => {
      calls++;
      return randomUniform([2, 3, 8, 8], { backend, seed: 13 });
    };
    await expect(
      trainDvae(params, config, batches, { steps: 1, onProgress: 'log' as never }),
    ).rejects.toThrow('trainDvae: onProgress must be a function, got "log"');
    expect(calls).toBe(0);
  } finally {
    images.dispose();
    free(params);
  }
  expect(live()).toBe(before);
});
