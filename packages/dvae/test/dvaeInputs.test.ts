// Inputs the dVAE API must name or handle instead of failing deep inside a kernel: f16 / bf16
// checkpoints, 8-bit pixels given to the k-means init, batches that are not tensors, an abort while
// a batch loads, misspelled option and config keys, logit_laplace_eps 0 in training, encoder and
// decoder halves that do not make a pair, a backend that is not a Backend, disposed images or
// images from another backend (given to the model or to a training step), params with a tensor
// missing or on two backends, and a disposed trainer. Every error path leaves the backend's live
// tensor count where it was. CPU only.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Backend,
  CpuBackend,
  type Tensor,
  TrainingInterruptedError,
  cast,
  createBackend,
  full,
  loadSafetensors,
  randomUniform,
  saveSafetensors,
  scale,
  tensor,
  zeros,
} from '@vl/tensor';
import { afterAll, expect, test } from 'vitest';
import {
  type DvaeParamsPair,
  DvaeTrainer,
  checkDvaeParams,
  createDvaeModel,
  dvaeCheckpointFiles,
  dvaeLoss,
  encoderShapes,
  initDvaeParams,
  kmeansInitDvae,
  loadDvae,
  parseDvaeConfig,
  trainDvae,
} from '../src/index.js';
import { TINY_DVAE, freePair, tinyBatches } from './tinyDvae.js';

const dir = fileURLToPath(new URL('./fixtures/dvae-tiny/', import.meta.url));
const backend: Backend = await createBackend('cpu');
afterAll(() => backend.dispose());

const config = TINY_DVAE;
const live = () => backend.stats().liveTensors;
const free = freePair;
const batch = tinyBatches(backend); // [2, 3, 8, 8] in [0, 1)

test('f16 and bf16 checkpoints load as f32 and encode and decode like the f32 one; checkDvaeParams names a non-f32 tensor', async () => {
  const ref = await loadSafetensors(`${dir}reference.safetensors`, { backend });
  const f32 = await loadDvae(dir, { backend });
  const x = ref.tensors.get('x')!; // [2, 3, 32, 32]
  const z = ref.tensors.get('z')!; // i32 [2, 4, 4]
  const tokens32 = f32.encode(x);
  const decoded32 = await f32.decode(z);
  const expectedTokens = Array.from(await tokens32.read());
  const expectedImages = Array.from(await decoded32.read());
  tokens32.dispose();
  decoded32.dispose();
  for (const dtype of ['f16', 'bf16'] as const) {
    const tmp = mkdtempSync(join(tmpdir(), `dvae-${dtype}-`));
    try {
      for (const half of ['encoder', 'decoder'] as const) {
        const params = half === 'encoder' ? f32.encoderParams : f32.decoderParams;
        const narrow = new Map([...params].map(([name, t]) => [name, cast(t, dtype)] as const));
        writeFileSync(join(tmp, `${half}.safetensors`), await saveSafetensors(narrow, { format: 'pt' }));
        for (const t of narrow.values()) t.dispose();
      }
      writeFileSync(join(tmp, 'config.json'), readFileSync(`${dir}config.json`));
      const before = live();
      const model = await loadDvae(tmp, { backend });
      expect(model.encoderParams.get('blocks.input.w')!.dtype).toBe('f32');
      expect(model.decoderParams.get('blocks.output.conv.w')!.dtype).toBe('f32');
      const tokens = model.encode(x); // i32 [2, 4, 4]
      const images = await model.decode(z); // [2, 3, 32, 32]
      const got = Array.from(await tokens.read());
      const same = got.filter((v, i) => v === expectedTokens[i]).length;
      expect(same / got.length).toBeGreaterThan(dtype === 'f16' ? 0.99 : 0.8);
      const pixels = await images.read();
      let worst = 0;
      for (let i = 0; i < pixels.length; i++)
        worst = Math.max(worst, Math.abs(pixels[i]! - expectedImages[i]!));
      expect(worst).toBeLessThan(dtype === 'f16' ? 1e-2 : 0.1);
      tokens.dispose();
      images.dispose();
      model.dispose();
      expect(live()).toBe(before);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const half = new Map(f32.encoderParams);
  const w16 = cast(f32.encoderParams.get('blocks.input.w')!, 'f16');
  half.set('blocks.input.w', w16);
  expect(() => checkDvaeParams(half, encoderShapes(f32.config.encoder), 'encoder')).toThrow(
    /checkDvaeParams: encoder tensor blocks\.input\.w is f16\[64, 3, 7, 7\] but the dVAE computes in f32/,
  );
  w16.dispose();
  f32.dispose();
  ref.dispose();
});

test('kmeansInitDvae refuses 8-bit and NaN pixels, naming itself, instead of returning NaN weights', async () => {
  const params = initDvaeParams(config, { backend, seed: 1 });
  const x = batch(2);
  const bytes = scale(x, 255); // [2, 3, 8, 8] in 0..255
  const nan = full([2, 3, 8, 8], Number.NaN, { backend });
  const before = live();
  await expect(kmeansInitDvae(params, config, bytes)).rejects.toThrow(
    /^kmeansInitDvae: images must hold pixel values in \[0, 1\], got values from .* \(8-bit pixels\? divide by 255\)$/,
  );
  await expect(kmeansInitDvae(params, config, nan)).rejects.toThrow(
    /kmeansInitDvae: images must hold pixel values in \[0, 1\].*\(NaN pixels\)/,
  );
  expect(live()).toBe(before);
  const { params: init } = await kmeansInitDvae(params, config, x);
  for (const half of ['encoder', 'decoder'] as const)
    for (const [name, t] of init[half]) if (params[half].get(name) !== t) t.dispose();
  for (const t of [x, bytes, nan]) t.dispose();
  free(params);
});

test('trainDvae names a batch that is not a tensor, before and after the first update', async () => {
  const params = initDvaeParams(config, { backend, seed: 3 });
  const before = live();
  await expect(trainDvae(params, config, () => new Float32Array(192) as never, { steps: 1 })).rejects.toThrow(
    'trainDvae: batches(0) returned a Float32Array, not an f32 [B, C, H, W] tensor',
  );
  const err = await trainDvae(params, config, (i) => (i < 3 ? batch(i) : (undefined as never)), {
    steps: 5,
    lr: 1e-3,
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TrainingInterruptedError);
  const stopped = err as TrainingInterruptedError<DvaeParamsPair>;
  expect(stopped.steps).toBe(3);
  expect((stopped.cause as Error).message).toBe(
    'trainDvae: batches(3) returned undefined, not an f32 [B, C, H, W] tensor',
  );
  free(stopped.params);
  expect(live()).toBe(before);
  free(params);
});

test('an abort while a batch loads stops before training on it, as an abort between steps does', async () => {
  const params = initDvaeParams(config, { backend, seed: 4 });
  const before = live();
  const controller = new AbortController();
  const given: Tensor[] = [];
  let reports = 0;
  const err = await trainDvae(
    params,
    config,
    async (i) => {
      if (i === 1) controller.abort(new Error('stop while loading'));
      await new Promise((r) => setTimeout(r, 5));
      const x = batch(10 + i);
      given.push(x);
      return x;
    },
    { steps: 4, lr: 1e-3, signal: controller.signal, onProgress: () => reports++ },
  ).catch((e: unknown) => e);
  expect(reports).toBe(1);
  expect(err).toBeInstanceOf(TrainingInterruptedError);
  const stopped = err as TrainingInterruptedError<DvaeParamsPair>;
  expect([stopped.name, stopped.steps, (stopped.cause as Error).message]).toEqual([
    'AbortError',
    1,
    'stop while loading',
  ]);
  expect(given.length).toBe(2);
  expect(given.every((t) => t.isDisposed)).toBe(true); // the late batch was freed untrained
  free(stopped.params);
  expect(live()).toBe(before);
  // Aborted while the first batch loads: nothing was trained, so the reason comes as it is.
  const early = new AbortController();
  let calls = 0;
  await expect(
    trainDvae(
      params,
      config,
      () => {
        early.abort(new Error('not yet'));
        return batch(20);
      },
      { steps: 2, signal: early.signal, onProgress: () => calls++ },
    ),
  ).rejects.toThrow(/^not yet$/);
  expect(calls).toBe(0);
  expect(live()).toBe(before);
  free(params);
});

test('misspelled option and config keys are refused by name; the fixture and saved configs still load', async () => {
  const params = initDvaeParams(config, { backend, seed: 5 });
  const before = live();
  const opts = (o: object) => o as never;
  await expect(trainDvae(params, config, batch, opts({ steps: 1, learningRate: 5 }))).rejects.toThrow(
    /^trainDvae: unknown option "learningRate" \(expected lr, tau, beta, .*steps, usageWindow, onProgress, signal, resumeFrom\)$/,
  );
  await expect(trainDvae(params, config, batch, opts({ steps: 1, onprogress: () => {} }))).rejects.toThrow(
    'trainDvae: unknown option "onprogress"',
  );
  expect(() => new DvaeTrainer(params, config, opts({ learning_rate: 1 }))).toThrow(
    /^DvaeTrainer: unknown option "learning_rate" \(expected lr, tau, beta, encoderLrScale, betas, eps, weightDecay, maxGradNorm, seed\)$/,
  );
  expect(live()).toBe(before);
  expect(() =>
    parseDvaeConfig({ encoder: config.encoder, decoder: config.decoder, logit_laplace_epsilon: 0.05 }),
  ).toThrow(
    'parseDvaeConfig: unknown key "logit_laplace_epsilon" in the config root (expected encoder, decoder, logit_laplace_eps)',
  );
  expect(() =>
    parseDvaeConfig({
      encoder: { n_hid: 64, vocab_size: 512, n_blk_per_grp: 1 },
      decoder: { vocab_size: 512 },
    }),
  ).toThrow(
    'parseDvaeConfig: unknown key "n_blk_per_grp" in the encoder section (expected group_count, n_hid, n_blk_per_group, input_channels, vocab_size)',
  );
  expect(() => parseDvaeConfig({ encoder: {}, decoder: { input_channels: 3 } })).toThrow(
    'parseDvaeConfig: unknown key "input_channels" in the decoder section (expected group_count, n_init, n_hid, n_blk_per_group, output_channels, vocab_size)',
  );
  // What tooling/dvae-convert and dvaeCheckpointFiles write reads as it is.
  const fixture = JSON.parse(readFileSync(`${dir}config.json`, 'utf8'));
  expect(parseDvaeConfig(fixture)).toEqual(fixture);
  const saved = JSON.parse((await dvaeCheckpointFiles(config, params))['config.json']);
  expect(parseDvaeConfig(saved)).toEqual(config);
  free(params);
});

test('training refuses logit_laplace_eps 0, which encoding and decoding allow', async () => {
  const zero = parseDvaeConfig({ ...config, logit_laplace_eps: 0 });
  expect(zero.logit_laplace_eps).toBe(0);
  const params = initDvaeParams(zero, { backend, seed: 6 });
  const x = batch(7);
  const before = live();
  const message = /logit_laplace_eps must be in \(0, 0\.5\) for the logit-Laplace loss .*got 0$/;
  expect(() => new DvaeTrainer(params, zero)).toThrow(new RegExp(`^DvaeTrainer: ${message.source}`));
  await expect(trainDvae(params, zero, () => batch(8), { steps: 2 })).rejects.toThrow(
    /^trainDvae: logit_laplace_eps/,
  );
  expect(() => dvaeLoss(params, x, zero, { tau: 1, beta: 0, seed: 0 })).toThrow(
    /^dvaeLoss: logit_laplace_eps/,
  );
  await expect(kmeansInitDvae(params, zero, x)).rejects.toThrow(/^kmeansInitDvae: logit_laplace_eps/);
  expect(live()).toBe(before);
  const model = createDvaeModel(zero, params.encoder, params.decoder, backend, () => {});
  const out = await model.reconstruct(x); // mapping with eps 0 is the identity: fine for inference
  expect(out.describe()).toBe('f32[2, 3, 8, 8]');
  out.dispose();
  x.dispose();
  free(params);
});

test('encoder and decoder halves that do not make a pair are named before any step', async () => {
  const uneven = parseDvaeConfig({ ...config, decoder: { ...config.decoder, group_count: 3 } });
  const params = initDvaeParams(uneven, { backend, seed: 8 });
  const gray = parseDvaeConfig({ ...config, decoder: { ...config.decoder, output_channels: 1 } });
  const grayParams = initDvaeParams(gray, { backend, seed: 9 });
  const x = batch(9);
  const tokens = full([1, 4, 4], 3, { backend, dtype: 'i32' });
  const before = live();
  expect(() => new DvaeTrainer(params, uneven)).toThrow(
    /^DvaeTrainer: encoder\.group_count \(2\) and decoder\.group_count \(3\) must match/,
  );
  expect(() => new DvaeTrainer(grayParams, gray)).toThrow(
    'DvaeTrainer: decoder.output_channels (1) must equal encoder.input_channels (3)',
  );
  const model = createDvaeModel(uneven, params.encoder, params.decoder, backend, () => {});
  await expect(model.reconstruct(x)).rejects.toThrow(
    /^DvaeModel\.reconstruct: encoder\.group_count \(2\) and decoder\.group_count \(3\) must match/,
  );
  expect(live()).toBe(before);
  // Each half alone still works.
  const codes = model.encode(x); // i32 [2, 4, 4]
  const images = await model.decode(tokens); // [1, 3, 16, 16]
  expect([codes.describe(), images.describe()]).toEqual(['i32[2, 4, 4]', 'f32[1, 3, 16, 16]']);
  for (const t of [codes, images, x, tokens]) t.dispose();
  free(params);
  free(grayParams);
});

test('loadDvae names a backend that is not a Backend', async () => {
  await expect(loadDvae(dir, { backend: 'cpu' as never })).rejects.toThrow(
    'loadDvae: options.backend must be a Backend from createBackend(), got the string "cpu"',
  );
  await expect(loadDvae(dir, { backend: {} as never })).rejects.toThrow(
    'loadDvae: options.backend must be a Backend from createBackend(), got an object {  }',
  );
  const gone = await createBackend('cpu');
  gone.dispose();
  await expect(loadDvae(dir, { backend: gone })).rejects.toThrow('loadDvae: options.backend was disposed');
});

test('disposed images, images from another backend, missing params and a disposed trainer are named', async () => {
  const params = initDvaeParams(config, { backend, seed: 10 });
  const model = createDvaeModel(config, params.encoder, params.decoder, backend, () => {});
  const other = await createBackend('cpu');
  const foreign = randomUniform([1, 3, 8, 8], { backend: other, seed: 1 });
  const foreignTokens = zeros([1, 4, 4], { backend: other, dtype: 'i32' });
  const gone = batch(11);
  gone.dispose();
  const goneTokens = tensor(new Int32Array(16), [1, 4, 4], { backend, dtype: 'i32' });
  goneTokens.dispose();
  const before = live();
  expect(() => model.encode(gone)).toThrow(
    'DvaeModel.encode: images f32[2, 3, 8, 8] were disposed (used after dispose())',
  );
  expect(() => model.encoderLogits(gone)).toThrow('were disposed');
  await expect(model.reconstruct(gone)).rejects.toThrow(
    'DvaeModel.reconstruct: images f32[2, 3, 8, 8] were disposed',
  );
  await expect(model.decode(goneTokens)).rejects.toThrow(
    'DvaeModel.decode: tokens i32[1, 4, 4] were disposed',
  );
  expect(() => model.encode(foreign)).toThrow(
    /^DvaeModel\.encode: images f32\[1, 3, 8, 8\] are on another backend \(cpu.*\) than the dVAE \(cpu.*\); move them with toBackend\(images, dvae\.backend\)$/,
  );
  await expect(model.reconstruct(foreign)).rejects.toThrow(
    /^DvaeModel\.reconstruct: images .* another backend/,
  );
  await expect(model.decode(foreignTokens)).rejects.toThrow(
    /^DvaeModel\.decode: tokens i32\[1, 4, 4\] are on another backend/,
  );
  await expect(model.decoderStats(foreignTokens)).rejects.toThrow(
    /^DvaeModel\.decoderStats: tokens .* another backend/,
  );
  expect(live()).toBe(before);
  const missing = new Map(params.decoder);
  missing.delete('blocks.output.conv.b');
  expect(() => createDvaeModel(config, params.encoder, missing, backend, () => {})).toThrow(
    'createDvaeModel: decoder tensor blocks.output.conv.b [6] is missing from the checkpoint',
  );
  const trainer = new DvaeTrainer(params, config);
  trainer.dispose();
  expect(() => trainer.copyParams()).toThrow(
    'DvaeTrainer.copyParams: the trainer was disposed (used after dispose())',
  );
  expect(() => trainer.params).toThrow('DvaeTrainer.params: the trainer was disposed');
  expect(live()).toBe(before);
  foreign.dispose();
  foreignTokens.dispose();
  other.dispose();
  free(params);
});

test('DvaeTrainer.step names a batch from another backend with both backends, before any work', async () => {
  const params = initDvaeParams(config, { backend, seed: 12 });
  const other = new CpuBackend(); // "cpu (js)", unlike createBackend's
  const foreign = randomUniform([2, 3, 8, 8], { backend: other, seed: 13 });
  const trainer = new DvaeTrainer(params, config, { lr: 1e-3 });
  expect(trainer.backend).toBe(backend);
  const weight = async () => Array.from(await trainer.params.encoder.get('blocks.input.w')!.read());
  const start = await weight();
  const [mine, theirs] = [live(), other.stats().liveTensors];
  try {
    await expect(trainer.step(foreign)).rejects.toThrow(
      `DvaeTrainer.step: images f32[2, 3, 8, 8] are on another backend (cpu (js)) than the trainer's params (${backend.name}); move them with toBackend(images, trainer.backend)`,
    );
    // Two backends of one name are still two backends.
    const twin = await createBackend('cpu');
    const twinBatch = randomUniform([2, 3, 8, 8], { backend: twin, seed: 13 });
    await expect(trainer.step(twinBatch)).rejects.toThrow(
      /^DvaeTrainer\.step: images f32\[2, 3, 8, 8\] are on another backend \(cpu.*\) than the trainer's params/,
    );
    twinBatch.dispose();
    twin.dispose();
    // Nothing ran on either backend, and the trainer is still usable.
    expect([live(), other.stats().liveTensors, trainer.stepCount]).toEqual([mine, theirs, 0]);
    expect(await weight()).toEqual(start);
    const good = batch(14);
    expect((await trainer.step(good)).step).toBe(1);
    good.dispose();
    // Params split over two backends are refused when the trainer is made, naming a tensor on each.
    const split = { encoder: params.encoder, decoder: new Map(params.decoder) };
    const moved = randomUniform([6], { backend: other, seed: 15 });
    split.decoder.set('blocks.output.conv.b', moved);
    expect(() => new DvaeTrainer(split, config)).toThrow(
      `DvaeTrainer: the decoder tensor blocks.output.conv.b is on another backend (cpu (js)) than the encoder tensor blocks.input.w (${backend.name}); put every param on one backend (toBackend())`,
    );
    moved.dispose();
    // Other keys beside the two halves (a caller's own bookkeeping) are not params.
    const extra = new DvaeTrainer({ ...params, step: 1200 } as typeof params, config);
    expect(extra.backend).toBe(backend);
    extra.dispose();
  } finally {
    trainer.dispose();
    foreign.dispose();
    other.dispose();
    free(params);
  }
});
