// What callers pass to the task API, checked before any work: batch sizes (0 used to loop forever),
// labels and templates (a template without {} gave a uniform answer, `$&` in a label was expanded),
// one image for zeroShot (a batch scored only its first), and an EmbeddingIndex whose add is all
// or nothing and whose search takes only whole k.
import { type Backend, createBackend, randomNormal } from '@vl/tensor';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type ClipConfig,
  ClipModel,
  ClipTokenizer,
  defaultTextConfig,
  defaultVisionConfig,
  EmbeddingIndex,
  initClipParams,
  wordVocabularyFiles,
} from '../src/index.js';

const S = 16;
const config: ClipConfig = {
  projection_dim: 8,
  logit_scale_init_value: Math.log(1 / 0.07),
  vision_config: {
    ...defaultVisionConfig,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    image_size: S,
    patch_size: 8,
    projection_dim: 8,
  },
  text_config: {
    ...defaultTextConfig,
    vocab_size: 600,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    max_position_embeddings: 16,
    projection_dim: 8,
  },
};

let backend: Backend;
let model: ClipModel;
beforeAll(async () => {
  backend = await createBackend('cpu');
  const tokenizer = ClipTokenizer.fromHfFiles(
    wordVocabularyFiles(['a', 'red', 'circle', 'photo', '$&', 'here']),
  );
  config.text_config.bos_token_id = tokenizer.startId;
  config.text_config.eos_token_id = tokenizer.endId;
  model = new ClipModel({ config, params: initClipParams(config, { backend, seed: 3 }), tokenizer, backend });
});
afterAll(() => {
  model.dispose();
  backend.dispose();
});

const image = { data: new Uint8Array(S * S * 3).fill(90), width: S, height: S };

test('a batch size that is not a positive integer is refused, not looped on', async () => {
  for (const batchSize of [0, -1, 1.5, Number.NaN]) {
    await expect(model.embedImages([image], { batchSize })).rejects.toThrow(
      `embedImages: batchSize must be a positive integer, got ${batchSize}`,
    );
    await expect(model.embedTexts(['a red circle'], { batchSize })).rejects.toThrow(
      `embedTexts: batchSize must be a positive integer, got ${batchSize}`,
    );
  }
});

test('images: one image is not an array, and zeroShot takes exactly one', async () => {
  await expect(model.embedImages(image as never)).rejects.toThrow('wrap a single image in [ ]');
  await expect(model.zeroShot([image] as never, ['red'], { templates: ['{}'] })).rejects.toThrow(
    'zeroShot: takes one image, got an array of 1',
  );
  const two = randomNormal([2, 3, S, S], { backend, seed: 1 });
  await expect(model.zeroShot(two, ['red', 'circle'], { templates: ['{}'] })).rejects.toThrow(
    'zeroShot: takes one image, got a tensor of shape [2, 3, 16, 16]',
  );
  two.dispose();
});

test('labels and templates: strings, each template with a {}', async () => {
  await expect(model.zeroShot(image, 'red' as never)).rejects.toThrow(
    'zeroShot: the labels must be an array of strings, got the string "red"',
  );
  await expect(model.zeroShot(image, ['red', undefined as never])).rejects.toThrow(
    'zeroShot: label 1 is undefined undefined, not a string',
  );
  await expect(model.zeroShot(image, ['red'], { templates: ['a photo'] })).rejects.toThrow(
    'zeroShot: template 0 ("a photo") has no {} for the label',
  );
  await expect(model.zeroShot(image, [])).rejects.toThrow('zeroShot: the label list is empty');
  await expect(model.zeroShot(image, ['red'], { templates: [] })).rejects.toThrow(
    'zeroShot: the template list is empty',
  );
});

test('a label is put into its template literally ($& and the like stay as they are)', async () => {
  const [viaTemplate] = await model.labelEmbeddings(['$&'], ['a {} here']);
  const [literal] = await model.embedTexts(['a $& here']);
  expect([...viaTemplate!]).toEqual([...literal!]); // one template: its normalized embedding
  const expanded = await model.embedTexts(['a {} here']); // what replaceAll('{}', '$&') would give
  expect([...viaTemplate!]).not.toEqual([...expanded[0]!]);
});

test('EmbeddingIndex.add is all or nothing; search takes a whole k and a finite query', () => {
  const index = new EmbeddingIndex<string>(2);
  index.add(
    [
      [1, 0],
      [0, 1],
      [0.7, 0.7],
    ],
    ['x', 'y', 'z'],
  );
  expect(() => index.add([[1, 1], new Float32Array(10)], ['p', 'q'])).toThrow(
    'EmbeddingIndex.add: vector 1 has length 10, the index holds 2',
  );
  expect(() =>
    index.add(
      [
        [1, 1],
        [Number.NaN, 1],
      ],
      ['p', 'q'],
    ),
  ).toThrow('EmbeddingIndex.add: vector 1 has norm NaN (it must be finite and nonzero)');
  expect(() => index.add([[Number.POSITIVE_INFINITY, 1]])).toThrow('vector 0 has norm NaN');
  expect(index.size).toBe(3);
  expect(index.search([1, 0], 2).map((h) => h.item)).toEqual(['x', 'z']);
  expect(index.search([1, 0], 0)).toEqual([]);
  for (const k of [2.5, -1, Number.NaN]) {
    expect(() => index.search([1, 0], k)).toThrow(
      `EmbeddingIndex.search: k must be a non-negative integer, got ${k}`,
    );
  }
  expect(() => index.search([1, Number.POSITIVE_INFINITY])).toThrow('the query has norm NaN');
  expect(() => index.search([0, 0])).toThrow('the query has norm 0');
});
