// The image tower's optional convolutional stem (a vl extension, `vision_config.conv_stem_channels`):
// its parameters, its wiring (3x3 stride-2 convs with bias and ReLU, then the patch embedding on
// their output), its config field, and a save/load round trip.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, conv2d, createBackend, randomNormal, relu, tidy } from '@vl/tensor';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type ClipConfig,
  clipCheckpointFiles,
  clipVisionForward,
  defaultTextConfig,
  defaultVisionConfig,
  getImageFeatures,
  initClipParams,
  l2Normalize,
  loadClip,
  parseClipConfig,
  visionPatchGrid,
  visionTowerShapes,
} from '../src/index.js';

const vision = {
  ...defaultVisionConfig,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  image_size: 32,
  patch_size: 2,
  projection_dim: 16,
  conv_stem_channels: [8, 12],
};
const config: ClipConfig = {
  projection_dim: 16,
  logit_scale_init_value: 2.6592,
  vision_config: vision,
  text_config: {
    ...defaultTextConfig,
    vocab_size: 40,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    max_position_embeddings: 8,
    projection_dim: 16,
  },
};

let backend: Backend;
beforeAll(async () => {
  backend = await createBackend('cpu');
});
afterAll(() => backend.dispose());

test('a stem adds its convs, feeds the patch embedding its channels and halves the grid per stage', () => {
  const shapes = new Map(visionTowerShapes(vision));
  expect(shapes.get('vision_model.embeddings.conv_stem.0.weight')).toEqual([8, 3, 3, 3]);
  expect(shapes.get('vision_model.embeddings.conv_stem.0.bias')).toEqual([8]);
  expect(shapes.get('vision_model.embeddings.conv_stem.1.weight')).toEqual([12, 8, 3, 3]);
  expect(shapes.get('vision_model.embeddings.patch_embedding.weight')).toEqual([32, 12, 2, 2]);
  // 32 px, halved twice to 8, in patches of 2: a 4x4 grid and the class token.
  expect(visionPatchGrid(vision)).toBe(4);
  expect(shapes.get('vision_model.embeddings.position_embedding.weight')).toEqual([17, 32]);
  expect(visionPatchGrid(defaultVisionConfig)).toBe(7);
  expect(() => visionPatchGrid({ ...vision, patch_size: 3 })).toThrow(
    'image_size 32 halved by 2 conv_stem_channels stages is not a multiple of patch_size 3',
  );
});

test('the tower with a stem equals ReLU(conv 3x3 stride 2) twice, then the stemless tower on their output', async () => {
  const params = initClipParams(config, { backend, seed: 3 });
  const pixels = randomNormal([2, 3, 32, 32], { backend, seed: 4 });
  const [withStem, byHand] = tidy(() => {
    const p = (name: string) => params.get(`vision_model.embeddings.conv_stem.${name}`)!;
    let x = relu(conv2d(pixels, p('0.weight'), p('0.bias'), { stride: 2, padding: 1 })); // [2, 8, 16, 16]
    x = relu(conv2d(x, p('1.weight'), p('1.bias'), { stride: 2, padding: 1 })); // [2, 12, 8, 8]
    const stemless = { ...vision, conv_stem_channels: undefined, num_channels: 12, image_size: 8 };
    return [clipVisionForward(params, pixels, vision).pooled, clipVisionForward(params, x, stemless).pooled];
  });
  expect(withStem.shape).toEqual([2, 32]);
  const [a, b] = [await withStem.read(), await byHand.read()];
  expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeLessThan(1e-6);
  // The stem matters: other stem weights give other features.
  const other = initClipParams(config, { backend, seed: 5 });
  for (const [k, v] of params) {
    if (k.includes('conv_stem')) continue;
    other.get(k)!.dispose();
    other.set(k, v);
  }
  const changed = tidy(() => clipVisionForward(other, pixels, vision).pooled);
  const c = await changed.read();
  expect(Math.max(...a.map((v, i) => Math.abs(v - c[i]!)))).toBeGreaterThan(1e-3);
  for (const [k, v] of other) if (k.includes('conv_stem')) v.dispose();
  for (const t of [withStem, byHand, changed, pixels, ...params.values()]) t.dispose();
});

test('the config field round-trips through config.json and the weights through model.safetensors', async () => {
  const params = initClipParams(config, { backend, seed: 6 });
  const folder = mkdtempSync(join(tmpdir(), 'vl-clip-stem-'));
  const files = await clipCheckpointFiles(params, config);
  for (const [name, data] of Object.entries(files)) writeFileSync(join(folder, name), data);
  expect(
    JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')).vision_config.conv_stem_channels,
  ).toEqual([8, 12]);
  const loaded = await loadClip(folder, { backend });
  const pixels = randomNormal([2, 3, 32, 32], { backend, seed: 7 });
  const fromLoaded = await loaded.embedImages(pixels);
  const direct = tidy(() => l2Normalize(getImageFeatures(params, pixels, config)));
  const want = await direct.read();
  expect(
    Math.max(...fromLoaded.flatMap((r, i) => [...r].map((v, j) => Math.abs(v - want[i * 16 + j]!)))),
  ).toBeLessThan(1e-6);
  loaded.dispose();
  for (const t of [pixels, direct, ...params.values()]) t.dispose();

  // A stem weight of the wrong shape names the tensor and both shapes.
  const badFolder = mkdtempSync(join(tmpdir(), 'vl-clip-stem-bad-'));
  const badConfig = JSON.parse(files['config.json']);
  badConfig.vision_config.conv_stem_channels = [8, 16];
  writeFileSync(join(badFolder, 'config.json'), JSON.stringify(badConfig));
  writeFileSync(join(badFolder, 'model.safetensors'), files['model.safetensors']);
  await expect(loadClip(badFolder, { backend })).rejects.toThrow(
    'tensor vision_model.embeddings.conv_stem.1.weight has shape [12, 8, 3, 3] but the config implies [16, 8, 3, 3]',
  );
});

test('conv_stem_channels must be positive integers; absent or empty means no stem', () => {
  expect(
    parseClipConfig({ vision_config: { conv_stem_channels: [16, 32], patch_size: 8 } }).vision_config
      .conv_stem_channels,
  ).toEqual([16, 32]);
  expect(
    parseClipConfig({ vision_config: { conv_stem_channels: [] } }).vision_config.conv_stem_channels,
  ).toBeUndefined();
  expect(parseClipConfig({ vision_config: {} }).vision_config.conv_stem_channels).toBeUndefined();
  expect(() => parseClipConfig({ vision_config: { conv_stem_channels: [16, 0] } })).toThrow(
    'vision_config.conv_stem_channels: expected an array of positive integers, got [16,0]',
  );
  expect(() => parseClipConfig({ vision_config: { conv_stem_channels: '16' } })).toThrow(
    'vision_config.conv_stem_channels',
  );
});
