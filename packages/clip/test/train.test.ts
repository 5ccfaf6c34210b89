// Contrastive training from scratch on a small generated dataset (a coloured square on a grey
// background, captioned with its colour and position): the loss falls and image-to-caption
// retrieval on held-out images rises from chance. Then a linear probe on the frozen embeddings.
// Bad training input is named: linear-probe options, features and rows; a ClipTrainer maxGradNorm
// that is not > 0; a batch whose tensors differ in batch size. A batch with a NaN is skipped, and
// fineTuneClip stopped midway hands back the trained params.
import {
  type Backend,
  type Tensor,
  TrainingInterruptedError,
  cosineWithWarmup,
  createBackend,
  tensor,
  tidy,
} from '@vl/tensor';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ClipModel,
  ClipTokenizer,
  ClipTrainer,
  type ClipConfig,
  defaultTextConfig,
  defaultVisionConfig,
  getImageFeatures,
  getTextFeatures,
  initClipParams,
  l2Normalize,
  linearProbe,
  clipCheckpointFiles,
  fineTuneClip,
  loadClip,
  wordVocabularyFiles,
} from '../src/index.js';

const colors: [string, [number, number, number]][] = [
  ['red', [1, -1, -1]],
  ['green', [-1, 1, -1]],
  ['blue', [-1, -1, 1]],
  ['yellow', [1, 1, -1]],
];
const places = ['left', 'right'];
const captions = colors.flatMap(([c]) => places.map((p) => `a ${c} square on the ${p}`));
const S = 16;

const config: ClipConfig = {
  projection_dim: 16,
  logit_scale_init_value: Math.log(1 / 0.07),
  vision_config: {
    ...defaultVisionConfig,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    image_size: S,
    patch_size: 4,
    projection_dim: 16,
  },
  text_config: {
    ...defaultTextConfig,
    vocab_size: 600,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    max_position_embeddings: 16,
    projection_dim: 16,
  },
};

let backend: Backend;
let tokenizer: ClipTokenizer;
beforeAll(async () => {
  backend = await createBackend('cpu');
  tokenizer = miniTokenizer(captions.join(' ').split(' '));
  expect(tokenizer.vocabSize).toBeLessThanOrEqual(config.text_config.vocab_size);
  config.text_config.bos_token_id = tokenizer.startId;
  config.text_config.eos_token_id = tokenizer.endId;
});
afterAll(() => backend.dispose());

/**
 * Whole-word tokens through the HF-files path of the real tokenizer: a ~560-entry embedding table
 * keeps training fast (the full 49,408-token table would dominate every step's gradient and update).
 */
function miniTokenizer(words: string[]): ClipTokenizer {
  return ClipTokenizer.fromHfFiles(wordVocabularyFiles(words));
}

let seed = 12345;
const rand = () => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
};

/** `n` examples: class ids and normalized pixels [n, 3, S, S]. */
function makeImages(classes: number[]): Tensor {
  const px = new Float32Array(classes.length * 3 * S * S);
  classes.forEach((k, b) => {
    const [, rgb] = colors[Math.floor(k / 2)]!;
    const left = k % 2 === 0;
    const size = 5 + Math.floor(rand() * 3);
    const x0 = (left ? 0 : S / 2) + Math.floor(rand() * (S / 2 - size));
    const y0 = Math.floor(rand() * (S - size));
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          const inside = x >= x0 && x < x0 + size && y >= y0 && y < y0 + size;
          px[((b * 3 + c) * S + y) * S + x] = inside ? rgb[c]! : (rand() - 0.5) * 0.2;
        }
      }
    }
  });
  return tensor(px, [classes.length, 3, S, S], { backend });
}

function encodeCaptions(ids: number[]): { inputIds: Tensor; attentionMask: Tensor } {
  const enc = tokenizer.encodeBatch(
    ids.map((k) => captions[k]!),
    { contextLength: 16 },
  );
  return {
    inputIds: tensor(enc.inputIds, enc.shape, { backend }),
    attentionMask: tensor(enc.attentionMask, enc.shape, { backend }),
  };
}

async function retrievalAccuracy(params: ReadonlyMap<string, Tensor>, classes: number[]): Promise<number> {
  const all = captions.map((_, k) => k);
  const sims = tidy(() => {
    const img = l2Normalize(getImageFeatures(params, makeImages(classes), config)); // [N, P]
    const { inputIds, attentionMask } = encodeCaptions(all);
    const txt = l2Normalize(getTextFeatures(params, inputIds, attentionMask, config)); // [8, P]
    return img.backend === backend ? matmulT(img, txt) : img;
  });
  const s = await sims.read();
  sims.dispose();
  let correct = 0;
  classes.forEach((k, i) => {
    let best = 0;
    for (let j = 1; j < captions.length; j++)
      if (s[i * captions.length + j]! > s[i * captions.length + best]!) best = j;
    if (best === k) correct++;
  });
  return correct / classes.length;
}

import { matmul } from '@vl/tensor';
function matmulT(a: Tensor, b: Tensor): Tensor {
  return matmul(a, b, { transposeB: true });
}

test('initClipParams follows HF _init_weights: stds by role, zero biases, unit LayerNorm gains', async () => {
  const wide: ClipConfig = {
    ...config,
    vision_config: { ...config.vision_config, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 3 },
    text_config: { ...config.text_config, hidden_size: 48, intermediate_size: 96, num_hidden_layers: 2 },
  };
  const params = initClipParams(wide, { backend, seed: 5 });
  // Expected stds written out per tower: d^-0.5 (2L)^-0.5 = 64^-0.5 6^-0.5 for the vision blocks.
  const v = { d: 64, L: 3 };
  const t = { d: 48, L: 2 };
  const expected: [string, number][] = [
    ['vision_model.encoder.layers.1.self_attn.q_proj.weight', v.d ** -0.5 * (2 * v.L) ** -0.5],
    ['vision_model.encoder.layers.1.self_attn.out_proj.weight', v.d ** -0.5],
    ['vision_model.encoder.layers.2.mlp.fc1.weight', (2 * v.d) ** -0.5],
    ['vision_model.encoder.layers.2.mlp.fc2.weight', v.d ** -0.5 * (2 * v.L) ** -0.5],
    ['visual_projection.weight', v.d ** -0.5],
    ['vision_model.embeddings.patch_embedding.weight', 0.02],
    ['text_model.encoder.layers.0.self_attn.k_proj.weight', t.d ** -0.5 * (2 * t.L) ** -0.5],
    ['text_model.encoder.layers.1.mlp.fc1.weight', (2 * t.d) ** -0.5],
    ['text_projection.weight', t.d ** -0.5],
    ['text_model.embeddings.token_embedding.weight', 0.02],
  ];
  for (const [name, std] of expected) {
    const x = await params.get(name)!.read();
    const sample = Math.sqrt(Array.from(x).reduce((a, b) => a + b * b, 0) / x.length);
    expect(sample / std, name).toBeGreaterThan(0.9);
    expect(sample / std, name).toBeLessThan(1.1);
  }
  expect(
    [...(await params.get('vision_model.encoder.layers.0.mlp.fc1.bias')!.read())].every((x) => x === 0),
  ).toBe(true);
  expect([...(await params.get('text_model.final_layer_norm.weight')!.read())].every((x) => x === 1)).toBe(
    true,
  );
  for (const p of params.values()) p.dispose();
});

test('contrastive training lowers the loss and lifts retrieval above chance; a linear probe separates the classes', async () => {
  const params = initClipParams(config, { backend, seed: 3 });
  const heldOut = Array.from({ length: 64 }, (_, i) => i % captions.length);
  const before = await retrievalAccuracy(params, heldOut);
  const trainer = new ClipTrainer(params, config, { lr: 2e-3, weightDecay: 0.01 });
  const losses: number[] = [];
  for (let step = 0; step < 200; step++) {
    // Each batch holds every caption once, so the diagonal is the only match.
    const classes = captions.map((_, k) => k);
    const batch = tidy(() => ({ pixelValues: makeImages(classes), ...encodeCaptions(classes) }));
    losses.push((await trainer.step(batch)).loss);
    for (const t of Object.values(batch)) t.dispose();
  }
  const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10;
  const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
  const after = await retrievalAccuracy(trainer.params, heldOut);
  console.log(
    `loss ${first.toFixed(3)} -> ${last.toFixed(3)}; held-out R@1 ${before.toFixed(2)} -> ${after.toFixed(2)}`,
  );
  expect(last).toBeLessThan(first * 0.5);
  expect(after).toBeGreaterThanOrEqual(0.5); // chance is 0.125
  expect(after).toBeGreaterThan(before + 0.3);

  // Linear probe on frozen image embeddings: colour (4 classes).
  const embed = async (classes: number[]) => {
    const e = tidy(() => l2Normalize(getImageFeatures(trainer.params, makeImages(classes), config)));
    const d = await e.read();
    e.dispose();
    return classes.map((_, i) => d.slice(i * 16, (i + 1) * 16));
  };
  const trainClasses = Array.from({ length: 64 }, (_, i) => i % 8);
  const probe = await linearProbe(
    await embed(trainClasses),
    trainClasses.map((k) => Math.floor(k / 2)),
    4,
    { backend, steps: 200 },
  );
  const testClasses = Array.from({ length: 32 }, (_, i) => (i * 3) % 8);
  const predicted = await probe.predict(await embed(testClasses));
  const probeAcc =
    predicted.filter((p, i) => p === Math.floor(testClasses[i]! / 2)).length / testClasses.length;
  console.log(`linear probe colour accuracy ${probeAcc.toFixed(2)}`);
  expect(probeAcc).toBeGreaterThanOrEqual(0.9);
  probe.dispose();
  trainer.dispose();

  // Saved in the HF layout and loaded back, the model embeds exactly as the trained params do.
  const folder = mkdtempSync(join(tmpdir(), 'vl-clip-trained-'));
  const files = await clipCheckpointFiles(trainer.params, config);
  for (const [name, data] of Object.entries(files)) writeFileSync(join(folder, name), data);
  const loaded = await loadClip(folder, { backend });
  const probeImages = makeImages([0, 5]);
  const fromLoaded = await loaded.embedImages(probeImages);
  const fromTrained = tidy(() => l2Normalize(getImageFeatures(trainer.params, probeImages, config)));
  const direct = await fromTrained.read();
  expect(
    Math.max(...fromLoaded.flatMap((r, i) => [...r].map((v, j) => Math.abs(v - direct[i * 16 + j]!)))),
  ).toBeLessThan(1e-6);
  fromTrained.dispose();
  probeImages.dispose();
  loaded.dispose();
  for (const t of trainer.params.values()) t.dispose();
});

test('fineTuneClip reports progress every step and can be aborted', async () => {
  const params = initClipParams(config, { backend, seed: 4 });
  const model = new ClipModel({ config, params, tokenizer, backend });
  const seen: number[] = [];
  const classes = captions.map((_, k) => k);
  const batch = () => tidy(() => ({ pixelValues: makeImages(classes), ...encodeCaptions(classes) }));
  const trained = await fineTuneClip(model.params, config, batch, {
    steps: 3,
    lr: 1e-3,
    onProgress: (p) => seen.push(p.step),
  });
  expect(seen).toEqual([1, 2, 3]);
  // The model's weights were taken over: it says so, not "gather: input 0 ... was disposed".
  await expect(model.embedTexts([captions[0]!])).rejects.toThrow(
    /^ClipModel: weight [\w.]+ was disposed\. fineTuneClip and ClipTrainer take over the params/,
  );
  const tuned = new ClipModel({ config, params: trained, tokenizer, backend });
  expect((await tuned.embedTexts([captions[0]!]))[0]).toHaveLength(config.projection_dim);
  tuned.dispose();
  const controller = new AbortController();
  controller.abort();
  await expect(
    fineTuneClip(trained, config, batch, { steps: 2, signal: controller.signal }),
  ).rejects.toThrow();
  for (const t of trained.values()) t.dispose();
  expect(backend.stats().liveTensors).toBe(0);
});

test('embedTexts gives the same rows in batches, and names a text that does not fit by its own index', async () => {
  const params = initClipParams(config, { backend, seed: 7 });
  const model = new ClipModel({ config, params, tokenizer, backend });
  const texts = captions.slice(0, 5);
  const whole = await model.embedTexts(texts);
  const inTwos = await model.embedTexts(texts, { batchSize: 2 });
  expect(inTwos.map((r) => [...r])).toEqual(whole.map((r) => [...r]));
  const long = Array.from({ length: 20 }, () => 'red').join(' '); // 22 tokens, the context is 16
  await expect(model.embedTexts([...texts, long], { batchSize: 2 })).rejects.toThrow('text 5 ("red red red');
  const [cut] = await model.embedTexts([long], { truncate: true });
  expect(cut).toHaveLength(config.projection_dim);
  model.dispose();
  for (const t of params.values()) t.dispose();
});

test('linearProbe names options and features it cannot train on, and predict rows of the wrong length', async () => {
  const x = [
    [1, 0],
    [0, 1],
  ];
  const y = [0, 1];
  const before = backend.stats().liveTensors;
  // steps -1 / 2.5 / NaN used to give back the random initial weights, untrained.
  for (const steps of [-1, 0, 2.5, Number.NaN])
    await expect(linearProbe(x, y, 2, { backend, steps })).rejects.toThrow(
      `linearProbe: steps must be an integer >= 1, got ${steps}`,
    );
  await expect(linearProbe(x, y, Number.NaN, { backend, steps: 2 })).rejects.toThrow(
    'linearProbe: classes must be an integer >= 1, got NaN',
  );
  await expect(linearProbe(x, y, 2, { backend, lr: -1 })).rejects.toThrow('linearProbe: lr must be');
  await expect(linearProbe(x, y, 2, {} as never)).rejects.toThrow(
    'linearProbe: backend must be a Backend from createBackend(), got undefined',
  );
  await expect(linearProbe(x, y, 2, { backend, weightDecay: Number.NaN })).rejects.toThrow(
    'linearProbe: weightDecay must be',
  );
  await expect(linearProbe(x, y, 2, { backend, seed: 0.5 })).rejects.toThrow('linearProbe: seed must be');
  // A NaN feature used to train to NaN weights without a word.
  await expect(
    linearProbe(
      [
        [Number.NaN, 0],
        [0, 1],
      ],
      y,
      2,
      { backend, steps: 2 },
    ),
  ).rejects.toThrow('linearProbe: row 0 has NaN at index 0, not a finite float32');
  await expect(linearProbe([[1, 0], [0]], y, 2, { backend })).rejects.toThrow(
    'linearProbe: row 1 has 1 values, row 0 has 2',
  );
  // A hole in a sparse array of rows was skipped by forEach and trained as a row of zeros.
  const holed = new Array<number[]>(2);
  holed[0] = [1, 0];
  await expect(linearProbe(holed, y, 2, { backend, steps: 2 })).rejects.toThrow(
    'linearProbe: row 1 is undefined, not an array of numbers',
  );
  expect(backend.stats().liveTensors).toBe(before);

  const probe = await linearProbe(x, y, 2, { backend, steps: 20 });
  try {
    // A short row was zero-padded and classified; a long one spilled into the next row's slot.
    await expect(probe.predict([[1]])).rejects.toThrow(
      'linearProbe.predict: row 0 has 1 values, the probe was trained on 2',
    );
    await expect(
      probe.predict([
        [1, 0, 5],
        [0, 1],
      ]),
    ).rejects.toThrow('linearProbe.predict: row 0 has 3 values');
    await expect(probe.predict([[0, Number.POSITIVE_INFINITY]])).rejects.toThrow(
      'linearProbe.predict: row 0 has Infinity at index 1',
    );
    expect(await probe.predict(x)).toEqual([0, 1]);
    expect(await probe.predict([])).toEqual([]);
  } finally {
    probe.dispose();
  }
  expect(backend.stats().liveTensors).toBe(before);
});

/** Every param's values, by name. */
async function readAll(params: ReadonlyMap<string, Tensor>): Promise<Map<string, number[]>> {
  return new Map(
    await Promise.all(
      [...params].map(async ([k, t]): Promise<[string, number[]]> => [k, [...(await t.read())]]),
    ),
  );
}

test('a batch with a non-finite loss is skipped: weights and optimizer state untouched, the result says so', async () => {
  const live = backend.stats().liveTensors;
  const classes = captions.map((_, k) => k);
  const clean = tidy(() => ({ pixelValues: makeImages(classes), ...encodeCaptions(classes) }));
  const pixels = makeImages(classes);
  const px = Float32Array.from(await pixels.read());
  pixels.dispose();
  px[7] = Number.NaN; // one bad pixel
  const nan = { pixelValues: tensor(px, pixels.shape, { backend }), ...encodeCaptions(classes) };
  const trainer = new ClipTrainer(initClipParams(config, { backend, seed: 7 }), config, { lr: 1e-3 });
  const twin = new ClipTrainer(initClipParams(config, { backend, seed: 7 }), config, { lr: 1e-3 });
  try {
    const before = await readAll(trainer.params);
    const bad = await trainer.step(nan);
    expect(await readAll(trainer.params)).toEqual(before); // used to be NaN everywhere
    expect(bad.skipped).toBe(true);
    expect(bad.loss).toBeNaN();
    expect(trainer.stepCount).toBe(0);
    // The optimizer state is untouched too: the next clean step equals a fresh trainer's first.
    const good = await trainer.step(clean);
    const ref = await twin.step(clean);
    expect(good).toEqual(ref);
    expect(good.skipped).toBe(false);
    expect(Number.isFinite(good.gradNorm)).toBe(true);
    expect(await readAll(trainer.params)).toEqual(await readAll(twin.params));
  } finally {
    for (const t of [...Object.values(clean), ...Object.values(nan)]) t.dispose();
    for (const tr of [trainer, twin]) {
      tr.dispose();
      for (const t of tr.params.values()) t.dispose();
    }
  }
  expect(backend.stats().liveTensors).toBe(live);
});

test('fineTuneClip stopped after an update hands back the trained params; a bad batch is skipped', async () => {
  const live = backend.stats().liveTensors;
  const classes = captions.map((_, k) => k);
  const batch = () => tidy(() => ({ pixelValues: makeImages(classes), ...encodeCaptions(classes) }));
  const shape = [classes.length, 3, S, S];
  const nanPixels = new Float32Array(classes.length * 3 * S * S).fill(Number.NaN);
  const nanBatch = () =>
    tidy(() => ({ pixelValues: tensor(nanPixels, shape, { backend }), ...encodeCaptions(classes) }));
  // Aborted after step 3 (the NaN batch of step 2 is skipped): the error carries the params.
  const params = initClipParams(config, { backend, seed: 8 });
  const controller = new AbortController();
  const seen: [number, boolean, number][] = [];
  const stopped = await fineTuneClip(params, config, (i) => (i === 1 ? nanBatch() : batch()), {
    steps: 5,
    lr: 1e-3,
    signal: controller.signal,
    onProgress: (p) => {
      seen.push([p.step, p.skipped, p.skippedSteps]);
      if (p.step === 3) controller.abort(new Error('user stop'));
    },
  }).catch((e: unknown) => e);
  expect(stopped).toBeInstanceOf(TrainingInterruptedError);
  const err = stopped as TrainingInterruptedError<Map<string, Tensor>>;
  expect(err.name).toBe('AbortError');
  expect(err.message).toMatch(/fineTuneClip: stopped after 3 steps: user stop/);
  expect((err.cause as Error).message).toBe('user stop');
  expect(err.steps).toBe(3);
  expect([...err.params.keys()]).toEqual([...params.keys()]);
  expect([...err.params.values()].some((t) => t.isDisposed)).toBe(false);
  expect([...params.values()].every((t) => t.isDisposed)).toBe(true); // taken over by the trainer
  expect(seen).toEqual([
    [1, false, 0],
    [2, true, 1],
    [3, false, 1],
  ]);

  // An error from batches() is wrapped the same way, under its own name.
  const noMoreData = () => Promise.reject(new RangeError('no more data'));
  const failed = await fineTuneClip(err.params, config, (i) => (i < 1 ? batch() : noMoreData()), {
    steps: 3,
  }).catch((e: unknown) => e);
  expect(failed).toBeInstanceOf(TrainingInterruptedError);
  const err2 = failed as TrainingInterruptedError<Map<string, Tensor>>;
  expect([err2.name, err2.steps, (err2.cause as Error).message]).toEqual([
    'TrainingInterruptedError',
    1,
    'no more data',
  ]);
  for (const t of err2.params.values()) t.dispose();
  expect(backend.stats().liveTensors).toBe(live); // nothing leaked
});

test('ClipTrainer names a maxGradNorm that is not > 0, and a batch whose tensors differ in batch size', async () => {
  const params = initClipParams(config, { backend, seed: 6 });
  // NaN used to turn clipping off; 0 and -1 failed in clipGradNorm after the forward and backward pass.
  for (const maxGradNorm of [Number.NaN, 0, -1])
    expect(() => new ClipTrainer(params, config, { maxGradNorm })).toThrow(
      `ClipTrainer: maxGradNorm must be a number > 0, got the number ${maxGradNorm}`,
    );
  // A string passed `> 0` and failed in guardedStep, under its name; params not a Map failed in
  // Object.fromEntries ("object is not iterable").
  expect(() => new ClipTrainer(params, config, { maxGradNorm: '5' as never })).toThrow(
    'ClipTrainer: maxGradNorm must be a number > 0, got a string of length 1',
  );
  // Any ReadonlyMap, as the type says, not only a Map.
  const view: ReadonlyMap<string, Tensor> = {
    get: (k) => params.get(k),
    has: (k) => params.has(k),
    get size() {
      return params.size;
    },
    entries: () => params.entries(),
    keys: () => params.keys(),
    values: () => params.values(),
    forEach: (f) => params.forEach(f),
    [Symbol.iterator]: () => params[Symbol.iterator](),
  };
  new ClipTrainer(view, config).dispose();
  expect(() => new ClipTrainer({} as never, config)).toThrow(
    "ClipTrainer: params must be a Map of tensors by checkpoint name (initClipParams, or a model's params), got an object",
  );
  const trainer = new ClipTrainer(params, config);
  const three = encodeCaptions([0, 1, 2]);
  const two = encodeCaptions([0, 1]);
  const pixelValues = makeImages([0, 1]);
  try {
    // More texts than images used to fail in clipLoss ("logits must be square"), after both towers.
    await expect(trainer.step({ pixelValues, inputIds: three.inputIds })).rejects.toThrow(
      "ClipTrainer: the batch's tensors differ in batch size: pixelValues f32[2, 3, 16, 16], inputIds i32[3, 16]",
    );
    await expect(
      trainer.step({ pixelValues, inputIds: two.inputIds, attentionMask: three.attentionMask }),
    ).rejects.toThrow('pixelValues f32[2, 3, 16, 16], attentionMask ');
    expect(trainer.stepCount).toBe(0);
  } finally {
    trainer.dispose();
    for (const t of [pixelValues, ...Object.values(three), ...Object.values(two), ...params.values()])
      t.dispose();
  }
});

test('a ClipTrainer stopped, saved and resumed takes the steps the unbroken run takes, bit for bit', async () => {
  const live = backend.stats().liveTensors;
  const classes = captions.map((_, k) => k);
  const batches = [0, 1, 2, 3].map(() =>
    tidy(() => ({ pixelValues: makeImages(classes), ...encodeCaptions(classes) })),
  );
  const options = { lr: cosineWithWarmup({ lr: 2e-3, warmupSteps: 2, totalSteps: 4 }), weightDecay: 0.01 };
  const straight = new ClipTrainer(initClipParams(config, { backend, seed: 8 }), config, options);
  const first = new ClipTrainer(initClipParams(config, { backend, seed: 8 }), config, options);
  let second: ClipTrainer | undefined;
  try {
    for (const b of batches) await straight.step(b);
    for (const b of batches.slice(0, 2)) await first.step(b);
    const state = await first.saveState();
    first.dispose();
    second = new ClipTrainer(first.params, config, options);
    await second.loadState(state);
    expect(second.stepCount).toBe(2);
    for (const b of batches.slice(2)) await second.step(b);
    expect(await readAll(second.params)).toEqual(await readAll(straight.params));
    // A state of other params is refused, and the trainer keeps its own.
    const other = new ClipTrainer(initClipParams({ ...config, projection_dim: 8 }, { backend, seed: 8 }), {
      ...config,
      projection_dim: 8,
    });
    await expect(other.loadState(state)).rejects.toThrow(/^AdamW\.loadStateDict: state\['.*'\]\.m is f32\[/);
    expect(other.stepCount).toBe(0);
    other.dispose();
    for (const t of other.params.values()) t.dispose();
  } finally {
    for (const b of batches) for (const t of Object.values(b)) t.dispose();
    for (const tr of [straight, second ?? first]) {
      tr.dispose();
      for (const t of tr.params.values()) t.dispose();
    }
  }
  expect(backend.stats().liveTensors).toBe(live);
});

test('fineTuneClip stopped by an abort and resumed from its error ends where the unbroken run ends', async () => {
  const live = backend.stats().liveTensors;
  const classes = captions.map((_, k) => k);
  // Batch i is the same whenever it is asked for (makeImages draws from a shared stream).
  const images = [0, 1, 2, 3].map(() => makeImages(classes));
  const pixels = await Promise.all(images.map((t) => t.read()));
  const shape = images[0]!.shape;
  for (const t of images) t.dispose();
  const asked: number[] = [];
  const batch = (i: number) =>
    tidy(() => ({ pixelValues: tensor(pixels[i]!, shape, { backend }), ...encodeCaptions(classes) }));
  const logged = (i: number) => {
    asked.push(i);
    return batch(i);
  };
  const options = { steps: 4, lr: cosineWithWarmup({ lr: 2e-3, warmupSteps: 1, totalSteps: 4 }) };
  const straight = await fineTuneClip(initClipParams(config, { backend, seed: 9 }), config, batch, options);
  asked.length = 0;
  const controller = new AbortController();
  const stopped = await fineTuneClip(initClipParams(config, { backend, seed: 9 }), config, logged, {
    ...options,
    signal: controller.signal,
    onProgress: ({ step }) => step === 2 && controller.abort(),
  }).catch((e) => e);
  expect(stopped).toBeInstanceOf(TrainingInterruptedError);
  expect([stopped.steps, stopped.state instanceof Uint8Array]).toEqual([2, true]);
  const resumed = await fineTuneClip(stopped.params, config, logged, {
    ...options,
    resumeFrom: stopped,
  });
  expect(asked).toEqual([0, 1, 2, 3]); // the batches of the unbroken run, each once
  expect(await readAll(resumed)).toEqual(await readAll(straight));
  await expect(
    fineTuneClip(resumed, config, batch, { ...options, resumeFrom: { state: undefined, steps: 2 } }),
  ).rejects.toThrow('fineTuneClip: resumeFrom.state is missing');
  await expect(
    fineTuneClip(resumed, config, batch, { ...options, resumeFrom: { state: stopped.state, steps: 5 } }),
  ).rejects.toThrow('fineTuneClip: resumeFrom.steps must be an integer from 0 to steps (4), got 5');
  for (const t of [...straight.values(), ...resumed.values()]) t.dispose();
  expect(backend.stats().liveTensors).toBe(live);
});
