// What callers pass to the task API, checked before any work: batch sizes (0 used to loop forever),
// labels and templates (a template without {} gave a uniform answer, `$&` in a label was expanded),
// one image for zeroShot (a batch scored only its first), and an EmbeddingIndex whose add is all
// or nothing and whose search takes only whole k. Also what the model hands back or keeps: label
// embeddings are the caller's own arrays, a disposed model refuses every call, a preprocessing
// whose crop is not the tower's image_size is refused when the model is made, and a forward pass
// that throws frees the pixels made for it.
import {
  type Backend,
  createBackend,
  encodeSafetensors,
  parseSafetensorsHeader,
  randomNormal,
  tensor,
} from '@vl/tensor';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type ClipConfig,
  ClipModel,
  ClipTokenizer,
  defaultTextConfig,
  defaultVisionConfig,
  EmbeddingIndex,
  initClipParams,
  preprocess,
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

const live = () => backend.stats().liveTensors;
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
  // One image without its batch dim is not "several images".
  const chw = randomNormal([3, S, S], { backend, seed: 2 });
  await expect(model.zeroShot(chw, ['red'], { templates: ['{}'] })).rejects.toThrow(
    'zeroShot: a pixel tensor is [1, 3, H, W], got [3, 16, 16]; add the batch dim with reshape',
  );
  chw.dispose();
});

test('a bad image in a list is named by its index in the list, past the first batch too', async () => {
  const bad = { data: new Uint8Array(10), width: 20, height: 20 };
  const list = [...new Array(17).fill(image), bad, image];
  await expect(model.embedImages(list, { batchSize: 16 })).rejects.toThrow(
    /^embedImages: image 17: a 20x20 image needs 1600 bytes \(RGBA\) or 1200 \(RGB\), got 10$/,
  );
  expect(() => preprocess([image, bad])).toThrow(/^preprocess\(\): image 1: a 20x20 image needs/);
  expect(() => preprocess(bad)).toThrow(/^preprocess\(\): a 20x20 image needs/); // one image: no index
});

test('zeroShot refuses a pixel tensor that gives a non-finite embedding instead of NaN scores', async () => {
  const pixels = randomNormal([1, 3, S, S], { backend, seed: 2 }); // [1, 3, 16, 16]
  const data = (await pixels.read()) as Float32Array;
  data[5] = Number.NaN;
  const nan = tensor(data, [1, 3, S, S], { backend });
  await expect(model.zeroShot(nan, ['red', 'circle'], { templates: ['{}'] })).rejects.toThrow(
    'zeroShot: the image embedding is not finite',
  );
  pixels.dispose();
  nan.dispose();
});

test('labels and templates: strings, each template with a {}', async () => {
  await expect(model.zeroShot(image, 'red' as never)).rejects.toThrow(
    'zeroShot: the labels must be an array of strings, got the string "red"',
  );
  await expect(model.zeroShot(image, ['red', undefined as never])).rejects.toThrow(
    'zeroShot: label 1 is undefined, not a string',
  );
  await expect(model.zeroShot(image, ['red'], { templates: ['a photo'] })).rejects.toThrow(
    'zeroShot: template 0 ("a photo") has no {} for the label',
  );
  await expect(model.zeroShot(image, [])).rejects.toThrow('zeroShot: the label list is empty');
  await expect(model.zeroShot(image, ['red'], { templates: [] })).rejects.toThrow(
    'zeroShot: the template list is empty',
  );
});

test('a label too long for a template is named by its index and template, in zeroShot words', async () => {
  // It was embedTexts' error: "text 1" (the template's index among the prompts of one label) and
  // "pass { truncate: true }", an option zeroShot refuses.
  const long = 'red '.repeat(14).trim(); // 14 tokens: with '{}' 16, the context; with 'a {}' 17
  for (const caller of ['zeroShot', 'labelEmbeddings'] as const) {
    const call =
      caller === 'zeroShot'
        ? model.zeroShot(image, ['circle', long], { templates: ['{}', 'a {}'] })
        : model.labelEmbeddings(['circle', long], ['{}', 'a {}']);
    await expect(call).rejects.toThrow(
      `${caller}: label 1 ("${long.slice(0, 40)}…") in template 1 ("a {}") makes a prompt of 17 tokens, more than the context of 16; shorten the label`,
    );
  }
  expect(await model.labelEmbeddings([long], ['{}'])).toHaveLength(1); // 16 tokens fit
});

test("zeroShot names a bad image as its own argument, not as embedImages' image 0", async () => {
  await expect(model.zeroShot(null as never, ['red'], { templates: ['{}'] })).rejects.toThrow(
    /^zeroShot: expected an image, got null$/,
  );
  const bad = { data: new Uint8Array(10), width: 20, height: 20 };
  await expect(model.zeroShot(bad, ['red'], { templates: ['{}'] })).rejects.toThrow(
    /^zeroShot: a 20x20 image needs 1600 bytes \(RGBA\) or 1200 \(RGB\), got 10$/,
  );
});

test('embedTexts pads with an id of the table when pad_token_id is outside it', async () => {
  // The parser does not check token ids against vocab_size; a batch of texts of two lengths failed
  // with "gather: index 700 ... is out of range [0, 600)". The padding is masked: same embeddings.
  const text_config = { ...config.text_config, pad_token_id: 700 };
  const padded = new ClipModel({
    config: { ...config, text_config },
    params: initClipParams(config, { backend, seed: 3 }), // model's weights
    tokenizer: model.tokenizer,
    backend,
  });
  try {
    const texts = ['a', 'a red circle here'];
    const got = await padded.embedTexts(texts);
    const want = await model.embedTexts(texts);
    expect(got.map((r) => [...r])).toEqual(want.map((r) => [...r]));
  } finally {
    padded.dispose();
  }
});

test('a label is put into its template literally ($& and the like stay as they are)', async () => {
  const [viaTemplate] = await model.labelEmbeddings(['$&'], ['a {} here']);
  const [literal] = await model.embedTexts(['a $& here']);
  // One template: its normalized embedding, normalized once more in f64 (the last bits may move).
  const gap = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
  expect(gap(viaTemplate!, literal!)).toBeLessThan(1e-6);
  const expanded = await model.embedTexts(['a {} here']); // what replaceAll('{}', '$&') would give
  expect(gap(viaTemplate!, expanded[0]!)).toBeGreaterThan(1e-3);
});

test('labelEmbeddings: a returned embedding is the caller’s; changing it does not change later zeroShot scores', async () => {
  const templates = ['a {}'];
  const before = await model.zeroShot(image, ['red', 'circle'], { templates });
  const [red] = await model.labelEmbeddings(['red'], templates);
  red!.fill(0); // e.g. reusing the buffer, or normalizing it in place after mixing
  // The prompt cache used to hand out its own array: the zeroed vector was served again.
  expect(await model.zeroShot(image, ['red', 'circle'], { templates })).toEqual(before);
  const [again] = await model.labelEmbeddings(['red'], templates);
  expect(again).not.toBe(red);
  expect(Math.hypot(...again!)).toBeCloseTo(1, 5);
});

test('a disposed model refuses labelEmbeddings too, cached labels included', async () => {
  const other = new ClipModel({
    config,
    params: initClipParams(config, { backend, seed: 5 }),
    tokenizer: model.tokenizer,
    backend,
  });
  await other.labelEmbeddings(['red'], ['a {}']); // cached
  other.dispose();
  await expect(other.labelEmbeddings(['red'], ['a {}'])).rejects.toThrow('ClipModel: used after dispose()');
});

test('a preprocessing that does not give image_size pixels is refused when the model is made', async () => {
  const params = initClipParams(config, { backend, seed: 4 });
  const parts = { config, params, tokenizer: model.tokenizer, backend };
  try {
    // It used to fail at the first embedImages: "pixelValues must be [B, 3, 16, 16], got f32[1, 3, 20, 20]".
    expect(() => new ClipModel({ ...parts, preprocess: { crop: 20 } })).toThrow(
      'ClipModel: the preprocessing crops images to 20x20 but vision_config.image_size is 16',
    );
    expect(() => new ClipModel({ ...parts, preprocess: { crop: { height: 16, width: 20 } } })).toThrow(
      'crops images to 16x20',
    );
    expect(
      () => new ClipModel({ ...parts, preprocess: { size: { height: 20, width: 20 }, crop: false } }),
    ).toThrow('ClipModel: the preprocessing resizes images to 20x20 but vision_config.image_size is 16');
    // A number resizes the shorter side: without a crop, size 20 never gives 16x16 (refused when the
    // model is made), while size 16 (HF do_center_crop: false) or no resize at all gives 16x16 for
    // square images, and a photo that is not square is refused naming its size, not the tower's
    // "pixelValues must be [B, 3, 16, 16], got f32[1, 3, 16, 24]".
    expect(() => new ClipModel({ ...parts, preprocess: { size: 20, crop: false } })).toThrow(
      'ClipModel: the preprocessing resizes the shorter side to 20 without a crop, so no image comes out 16x16; give crop 16 (or size 16)',
    );
    const square = { data: new Uint8Array(16 * 16 * 4).fill(128), width: 16, height: 16 };
    const wide = { data: new Uint8Array(24 * 16 * 4).fill(128), width: 24, height: 16 };
    for (const preprocess of [
      { size: 16, crop: false as const },
      { size: false as const, crop: false as const },
    ]) {
      const uncropped = new ClipModel({ ...parts, preprocess });
      expect(await uncropped.embedImages([square])).toHaveLength(1);
      await expect(uncropped.embedImages([wide])).rejects.toThrow(
        "embedImages: the images come out of this checkpoint's preprocessing at 16x24 (it does not crop), but the vision tower takes 16x16",
      );
    }
  } finally {
    for (const t of params.values()) t.dispose();
  }
});

test('embedImages frees its pixel tensor when the forward pass throws', async () => {
  const params = initClipParams(config, { backend, seed: 4 });
  // crop: undefined is the default (image_size), not preprocess()'s 224.
  const broken = new ClipModel({
    config,
    params,
    tokenizer: model.tokenizer,
    backend,
    preprocess: { crop: undefined },
  });
  try {
    expect(await broken.embedImages([image])).toHaveLength(1);
    params.get('visual_projection.weight')!.dispose(); // the last product of the image tower throws
    const before = live();
    for (let i = 0; i < 2; i++) await expect(broken.embedImages([image])).rejects.toThrow('was disposed');
    expect(live()).toBe(before);
  } finally {
    broken.dispose();
  }
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

test('EmbeddingIndex.save / load: the same hits and items, a new index that grows on; bad files are named', () => {
  const index = new EmbeddingIndex<{ path: string; tags: string[] }>(3);
  const vectors = Array.from({ length: 50 }, (_, i) => [Math.sin(i), Math.cos(i * 1.3), (i % 7) - 3]);
  index.add(
    vectors,
    vectors.map((_, i) => ({ path: `img${i}.jpg`, tags: i % 2 ? ['odd'] : [] })),
  );
  const bytes = index.save();
  // The items travel in a tensor, not in the header (limited to 100 MB; a photo library's paths are not).
  expect(parseSafetensorsHeader(bytes).headerLength).toBeLessThan(400);
  const loaded = EmbeddingIndex.load<{ path: string; tags: string[] }>(bytes);
  expect([loaded.size, loaded.dim]).toEqual([50, 3]);
  for (const query of [vectors[3]!, [1, 2, 3], [-1, 0, 0.5]])
    expect(loaded.search(query, 5)).toEqual(index.search(query, 5));
  expect(loaded.metadata).toEqual({});
  expect(loaded.entry(7)).toEqual(index.entry(7));
  expect(loaded.entry(7).item).toEqual({ path: 'img7.jpg', tags: ['odd'] });
  expect(() => loaded.entry(50)).toThrow('EmbeddingIndex.entry: index 50 is not in [0, 50)');
  const tagged = EmbeddingIndex.load(index.save({ model: 'ViT-B/32' }));
  expect(tagged.metadata).toEqual({ model: 'ViT-B/32' });
  expect(EmbeddingIndex.load(tagged.save()).metadata).toEqual({ model: 'ViT-B/32' });
  expect(() => index.save({ itemsBytes: '0' })).toThrow(
    'EmbeddingIndex.save: metadata key "itemsBytes" is reserved',
  );
  loaded.add([[0, 0, 1]], [{ path: 'new.jpg', tags: [] }]);
  expect(loaded.search([0, 0, 1], 1)[0]!.item.path).toBe('new.jpg');
  expect(index.size).toBe(50);
  // An empty index, and items left at their default (the insertion index).
  const plain = new EmbeddingIndex(2);
  expect(EmbeddingIndex.load(plain.save()).size).toBe(0);
  plain.add([[1, 0]]);
  expect(EmbeddingIndex.load(plain.save()).search([1, 0], 1)[0]!.item).toBe(0);

  const withFunction = new EmbeddingIndex<unknown>(2);
  withFunction.add(
    [
      [1, 0],
      [0, 1],
    ],
    ['ok', () => 1],
  );
  expect(() => withFunction.save()).toThrow('EmbeddingIndex.save: item 1 (function) is not JSON');
  expect(() => EmbeddingIndex.load(encodeSafetensors({}, { format: 'pt' }))).toThrow(
    'EmbeddingIndex.load: not an embedding index (metadata format "pt", expected "vl-embedding-index")',
  );
  // Items that do not match the vectors, and vectors that are not finite, are named.
  const fileWith = (items: string, vectors = new Float32Array(6).fill(0.5)) => {
    const json = new TextEncoder().encode(items);
    const words = new Uint32Array(Math.ceil(json.length / 4));
    new Uint8Array(words.buffer).set(json);
    return encodeSafetensors(
      {
        vectors: { dtype: 'f32', shape: [2, 3], data: vectors },
        items: { dtype: 'u32', shape: [words.length], data: words },
      },
      { format: 'vl-embedding-index', itemsBytes: String(json.length) },
    );
  };
  expect(EmbeddingIndex.load(fileWith('["a","b"]')).size).toBe(2);
  expect(() => EmbeddingIndex.load(fileWith('["a"]'))).toThrow(
    'its items must be a JSON array of 2 (one per vector), got 1',
  );
  expect(() => EmbeddingIndex.load(fileWith('["a",'))).toThrow('its items are not UTF-8 JSON');
  expect(() =>
    EmbeddingIndex.load(fileWith('["a","b"]', Float32Array.of(1, 0, 0, Number.NaN, 0, 0))),
  ).toThrow('EmbeddingIndex.load: vector 1 holds NaN');
  expect(() => EmbeddingIndex.load(bytes.subarray(0, 100))).toThrow(/EmbeddingIndex.load/);
});

test('between batches the event loop gets a turn: a model disposed by a timer stops the call, by name', async () => {
  const other = new ClipModel({
    config,
    params: initClipParams(config, { backend, seed: 6 }),
    tokenizer: model.tokenizer,
    backend,
  });
  const before = live();
  setTimeout(() => other.dispose(), 0);
  // Six one-text batches: the timer runs after the first, and the second finds the model gone.
  await expect(other.embedTexts(new Array(6).fill('a red circle'), { batchSize: 1 })).rejects.toThrow(
    'ClipModel: used after dispose()',
  );
  expect(live()).toBeLessThanOrEqual(before);
});
