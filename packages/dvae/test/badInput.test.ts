// Bad input beyond the fixture tests (dvaeTiny.test.ts covers sizes the max-pools do not divide,
// a wrong channel count, token ids outside the vocabulary and a checkpoint saved with another
// config): missing and extra checkpoint tensors, token grids of the wrong type or rank, a decoder
// input over the wrong vocabulary, and the same checks on the training path (plus 8-bit pixels,
// which would turn every weight into NaN).
import { createBackend, randomUniform, tensor, zeros } from '@vl/tensor';
import { afterAll, expect, test } from 'vitest';
import {
  DvaeTrainer,
  checkDvaeParams,
  createDvaeModel,
  dvaeDecoder,
  encoderShapes,
  initDvaeParams,
  parseDvaeConfig,
} from '../src/index.js';

const backend = await createBackend('cpu');
const config = parseDvaeConfig({
  encoder: { group_count: 2, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
  decoder: { group_count: 2, n_init: 4, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
});
const params = initDvaeParams(config, { backend, seed: 1 });
const model = createDvaeModel(config, params.encoder, params.decoder, backend, () => {});
afterAll(() => {
  for (const t of [...params.encoder.values(), ...params.decoder.values()]) t.dispose();
  backend.dispose();
});

test('a checkpoint with a missing or an extra tensor is named', () => {
  const missing = new Map(params.encoder);
  missing.delete('blocks.group_2.block_1.id_path.w');
  expect(() => checkDvaeParams(missing, encoderShapes(config.encoder), 'encoder')).toThrow(
    'checkDvaeParams: encoder tensor blocks.group_2.block_1.id_path.w [16, 8, 1, 1] is missing from the checkpoint',
  );
  const extra = new Map(params.encoder);
  extra.set('blocks.group_3.block_1.res_path.conv_1.w', params.encoder.get('blocks.input.w')!);
  expect(() => checkDvaeParams(extra, encoderShapes(config.encoder), 'encoder')).toThrow(
    'checkDvaeParams: unexpected encoder tensor blocks.group_3.block_1.res_path.conv_1.w in the checkpoint (not in the config)',
  );
});

test('images must be f32 [B, C, H, W]', () => {
  const rank3 = zeros([3, 8, 8], { backend });
  const ints = zeros([1, 3, 8, 8], { backend, dtype: 'i32' });
  try {
    expect(() => model.encode(rank3)).toThrow(
      /^DvaeModel\.encode: images must be \[B, C, H, W\], got f32\[3, 8, 8\]/,
    );
    expect(() => model.encoderLogits(ints)).toThrow(/^DvaeModel\.encoderLogits: images must be f32/);
  } finally {
    rank3.dispose();
    ints.dispose();
  }
});

test('token grids must be i32 [B, h, w]; a decoder input must span vocab_size channels', async () => {
  const floats = zeros([1, 4, 4], { backend });
  const flat = tensor(new Int32Array(16), [16], { backend });
  const relaxed = zeros([1, 8, 4, 4], { backend });
  try {
    await expect(model.decode(floats)).rejects.toThrow(
      /tokens must be an i32 \[B, h, w\] grid, got f32\[1, 4, 4\]/,
    );
    await expect(model.decoderStats(flat)).rejects.toThrow(
      /tokens must be an i32 \[B, h, w\] grid, got i32\[16\]/,
    );
    expect(() => dvaeDecoder(params.decoder, relaxed, config.decoder)).toThrow(
      /z must be f32 \[B, 16, h, w\] \(one-hot over vocab_size\), got f32\[1, 8, 4, 4\]/,
    );
  } finally {
    floats.dispose();
    flat.dispose();
    relaxed.dispose();
  }
});

test('training rejects the same bad images before any update', async () => {
  const trainer = new DvaeTrainer(params, config, { lr: 1e-3 });
  const odd = zeros([1, 3, 9, 8], { backend });
  const gray = zeros([1, 1, 8, 8], { backend });
  try {
    await expect(trainer.step(odd)).rejects.toThrow(/image size 9x8 is not divisible by 2/);
    await expect(trainer.step(gray)).rejects.toThrow(/1 channels but the config expects input_channels = 3/);
    expect(trainer.stepCount).toBe(0);
    expect(() => new DvaeTrainer(params, config, { maxGradNorm: 0 })).toThrow(/maxGradNorm must be > 0/);
  } finally {
    odd.dispose();
    gray.dispose();
    trainer.dispose();
  }
});

test('training refuses 8-bit pixels before the update, so one bad batch cannot turn the weights into NaN', async () => {
  const trainer = new DvaeTrainer(params, config, { maxGradNorm: 1 });
  const pixels255 = tensor(new Float32Array(3 * 8 * 8).fill(200), [1, 3, 8, 8], { backend }); // forgot / 255
  const good = randomUniform([1, 3, 8, 8], { backend, seed: 2 });
  try {
    const live = backend.stats().liveTensors;
    // Named after what the caller called, not the checkImageRange it shares.
    await expect(trainer.step(pixels255)).rejects.toThrow(
      /^DvaeTrainer\.step: images must hold pixel values in \[0, 1\], got values from 200 to 200 \(8-bit pixels\? divide by 255\)$/,
    );
    expect(trainer.stepCount).toBe(0);
    expect(backend.stats().liveTensors).toBe(live);
    const next = await trainer.step(good);
    expect(Number.isFinite(next.loss)).toBe(true);
    // Any other batch whose loss is not finite (here a KL weight beyond float32) is not applied either.
    const huge = new DvaeTrainer(params, config, { beta: Number.MAX_VALUE });
    const weight = async () => Array.from(await huge.params.decoder.get('blocks.output.conv.w')!.read());
    const start = await weight();
    const held = backend.stats().liveTensors;
    const refused = await huge.step(good);
    expect([refused.skipped, Number.isFinite(refused.loss), refused.step]).toEqual([true, false, 0]);
    expect(huge.stepCount).toBe(0);
    expect(backend.stats().liveTensors).toBe(held);
    expect(await weight()).toEqual(start);
    huge.dispose();
  } finally {
    for (const t of [pixels255, good]) t.dispose();
    trainer.dispose();
  }
});
