// clipCheckpointFiles writes vl's config extensions (open_clip pooling, LayerScale) into the HF
// layout, and loadClip reads them back: a re-saved open_clip-style model embeds as it did. They
// were dropped on reading, so average pooling came back as class-token pooling without a word.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend, randomNormal } from '@vl/tensor';
import { afterAll, expect, test } from 'vitest';
import {
  ClipModel,
  ClipTokenizer,
  clipCheckpointFiles,
  initClipParams,
  loadClip,
  parseClipConfig,
} from '../src/index.js';
import { tinyClipConfig } from './tinyClipConfig.js';

const backend = await createBackend('cpu');
afterAll(() => backend.dispose());

const config = tinyClipConfig({
  projection_dim: 16,
  vision: {
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    pool_type: 'avg',
    final_ln_after_pool: true,
    layer_scale: true,
  },
  // With pool_type 'eos' the first 2 is pooled, not the argmax as HF's rule for eos 2 says.
  text: {
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    pool_type: 'eos',
    eos_token_id: 2,
    layer_scale: true,
  },
});

test('a model with open_clip pooling and LayerScale embeds the same after a save and a load', async () => {
  const params = initClipParams(config, { backend, seed: 4 });
  const tokenizer = await ClipTokenizer.load();
  const before = new ClipModel({ config, params, tokenizer, backend });
  const pixels = randomNormal([2, 3, 16, 16], { backend, seed: 5 }); // [2, 3, 16, 16]
  const texts = ['a cat', 'a photo of a dog'];
  const want = [...(await before.embedImages(pixels)), ...(await before.embedTexts(texts))];

  const files = await clipCheckpointFiles(params, config);
  const folder = mkdtempSync(join(tmpdir(), 'vl-clip-save-'));
  for (const [name, data] of Object.entries(files)) writeFileSync(join(folder, name), data);
  const after = await loadClip(folder, { backend });
  expect(after.config.vision_config).toMatchObject({
    pool_type: 'avg',
    final_ln_after_pool: true,
    layer_scale: true,
  });
  expect(after.config.text_config).toMatchObject({ pool_type: 'eos', layer_scale: true });
  const got = [...(await after.embedImages(pixels)), ...(await after.embedTexts(texts))];
  got.forEach((row, i) => {
    expect([...row], `row ${i}`).toEqual([...want[i]!]);
  });
  after.dispose();
  before.dispose();
  pixels.dispose();
});

test('an extension field of the wrong kind is named', () => {
  expect(() => parseClipConfig({ model_type: 'clip', vision_config: { pool_type: 'max' } })).toThrow(
    'CLIP config: vision_config.pool_type: expected one of tok, avg, avg_all, got the string "max"',
  );
  expect(() => parseClipConfig({ model_type: 'clip', text_config: { layer_scale: 1 } })).toThrow(
    'CLIP config: text_config.layer_scale: expected true or false, got 1',
  );
  // null is unset, as HF writes an absent optional field.
  expect(
    parseClipConfig({ model_type: 'clip', vision_config: { pool_type: null } }).vision_config.pool_type,
  ).toBeUndefined();
});

test("a checkpoint's vl.json templates are the model's zero-shot default", async () => {
  const params = initClipParams(config, { backend, seed: 4 });
  const files = await clipCheckpointFiles(params, config);
  for (const t of params.values()) t.dispose();
  const folder = mkdtempSync(join(tmpdir(), 'vl-clip-templates-'));
  for (const [name, data] of Object.entries(files)) writeFileSync(join(folder, name), data);
  writeFileSync(
    join(folder, 'vl.json'),
    JSON.stringify({ imageSize: 16, templates: ['{}', 'a picture of {}'] }),
  );
  const model = await loadClip(folder, { backend });
  expect(model.templates).toEqual(['{}', 'a picture of {}']);
  const pixels = randomNormal([1, 3, 16, 16], { backend, seed: 6 }); // [1, 3, 16, 16]
  const labels = ['a cat', 'a dog'];
  const implicit = await model.zeroShot(pixels, labels);
  const explicit = await model.zeroShot(pixels, labels, { templates: ['{}', 'a picture of {}'] });
  expect(implicit).toEqual(explicit);
  model.dispose();
  writeFileSync(join(folder, 'vl.json'), JSON.stringify({ templates: ['a photo'] }));
  await expect(loadClip(folder, { backend })).rejects.toThrow(
    /vl\.json: template 0 \("a photo"\) has no \{\} for the label/,
  );
  pixels.dispose();
});
