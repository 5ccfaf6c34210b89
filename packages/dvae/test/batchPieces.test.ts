// A batch over the backend's maxTensorBytes runs in pieces (the full-size decoder at batch 16 on an
// NVIDIA H200 reads a 2 GiB tensor, over its 2 GiB - 4 binding cap), with the same results as one
// call. The CPU backend has no cap, so the test gives it one.
import { fileURLToPath } from 'node:url';
import { type Backend, createBackend, randomUniform, tensor } from '@vl/tensor';
import { afterAll, expect, test } from 'vitest';
import { batchPieces, decoderBytesPerImage, encoderBytesPerImage } from '../src/batchPieces.js';
import { defaultDecoderConfig, defaultEncoderConfig, loadDvae } from '../src/index.js';

const dir = fileURLToPath(new URL('./fixtures/dvae-tiny/', import.meta.url));
const cpu = await createBackend('cpu');
afterAll(() => cpu.dispose());

test('pieces are even and each under the cap', () => {
  const capped = { maxTensorBytes: 2 ** 31 - 4 } as Backend;
  const decoderBytes = decoderBytesPerImage(defaultDecoderConfig, 32, 32); // [512, 256, 256] f32
  expect(decoderBytes).toBe(2 ** 27);
  expect(batchPieces(16, decoderBytes, capped)).toEqual([
    [0, 8],
    [8, 8],
  ]);
  expect(batchPieces(15, decoderBytes, capped)).toEqual([[0, 15]]);
  expect(batchPieces(5, 10, { maxTensorBytes: 20 } as Backend)).toEqual([
    [0, 2],
    [2, 2],
    [4, 1],
  ]);
  expect(batchPieces(16, decoderBytes, {} as Backend)).toEqual([[0, 16]]); // no cap
  expect(encoderBytesPerImage(defaultEncoderConfig, 256, 256)).toBe(4 * 256 * 256 * 256); // group 1
});

test('encode, logits and decode in pieces match one call', async () => {
  const dvae = await loadDvae(dir, { backend: cpu });
  const size = dvae.config.encoder.group_count;
  const side = 2 ** (size - 1) * 4; // a 4x4 token grid
  const images = randomUniform([3, 3, side, side], { backend: cpu, seed: 5 });
  const tokens = tensor(
    Int32Array.from({ length: 3 * 16 }, (_, i) => (i * 7) % dvae.config.decoder.vocab_size),
    [3, 4, 4],
    {
      backend: cpu,
      dtype: 'i32',
    },
  );
  const whole = {
    logits: await dvae.encoderLogits(images).read(),
    z: await dvae.encode(images).read(),
    x: await (await dvae.decode(tokens)).read(),
  };
  // A cap that fits one image of either side: three pieces of one.
  const one = Math.max(
    encoderBytesPerImage(dvae.config.encoder, side, side),
    decoderBytesPerImage(dvae.config.decoder, 4, 4),
  );
  (cpu as { maxTensorBytes?: number }).maxTensorBytes = one;
  try {
    expect(batchPieces(3, one, cpu)).toHaveLength(3);
    expect(Array.from(await dvae.encoderLogits(images).read())).toEqual(Array.from(whole.logits));
    expect(Array.from(await dvae.encode(images).read())).toEqual(Array.from(whole.z));
    expect(Array.from(await (await dvae.decode(tokens)).read())).toEqual(Array.from(whole.x));
  } finally {
    delete (cpu as { maxTensorBytes?: number }).maxTensorBytes;
  }
  dvae.dispose();
});
