// Training a LLaVA: gradients of the training forward (token embeddings, image features put in
// place of the placeholders, the masked next-token loss) against finite differences; the loss
// counts the answer tokens only (labels that are not token ids are named); a tiny LLaVA with a frozen random tower learns a toy visual task
// (loss falls, greedy answers on new images become right); and the saved HF folder loads with
// loadVlm and gives the same logits and answers. Params the loss does not reach are not decayed,
// and a batch with a NaN is skipped. CPU only: the math is backend-independent and the
// kernels are checked on every backend by @vl/tensor's suite.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Tensor, createBackend, gradCheck, randomNormal, tensor } from '@vl/tensor';
import { afterAll, describe, expect, test } from 'vitest';
import {
  IGNORE_INDEX,
  type LlavaConfig,
  VlmModel,
  VlmTokenizer,
  VlmTrainer,
  initLlavaParams,
  llavaForward,
  llavaInputEmbeddings,
  loadVlm,
  packVlmExamples,
  parseLlavaConfig,
  vlmCheckpointFiles,
  vlmLoss,
  wordTokenizerFiles,
} from '../src/index.js';

const backend = await createBackend('cpu');
afterAll(() => backend.dispose());

const COLORS: Record<string, [number, number, number]> = {
  red: [1, 0, 0],
  green: [0, 1, 0],
  blue: [0, 0, 1],
  yellow: [1, 1, 0],
};
const NAMES = Object.keys(COLORS);
const files = wordTokenizerFiles(['what', 'color', 'is', 'it', '?', ...NAMES, 'yes', 'no']);
const tokenizer = VlmTokenizer.fromJson(files['tokenizer.json'], files['tokenizer_config.json']);

test('a word tokenizer reads other spellings as its words, whole words only', () => {
  const words = ['what', 'color', 'is', 'it', 'colorless', '?'];
  const spelled = wordTokenizerFiles(words, { spellings: { colour: 'color' } });
  const t = VlmTokenizer.fromJson(spelled['tokenizer.json'], spelled['tokenizer_config.json']);
  const plain = VlmTokenizer.fromJson(...(Object.values(wordTokenizerFiles(words)) as [string, string]));
  expect(t.encode('What COLOUR is it?')).toEqual(plain.encode('what color is it?'));
  expect(t.encode('colourless')).toEqual(plain.encode('colourless')); // not a whole-word match: <unk>
  expect(wordTokenizerFiles(words)['tokenizer.json']).toContain('"normalizer": {\n    "type": "Lowercase"');
  expect(() => wordTokenizerFiles(words, { spellings: { 'col our': 'color' } })).toThrow(
    'wordTokenizerFiles: spelling "col our" -> "color" must map one word to one word, lowercase',
  );
});
const eos = tokenizer.tokenToId('</s>')!;
const pad = tokenizer.tokenToId('<pad>')!;

function tinyConfig(): LlavaConfig {
  return parseLlavaConfig({
    image_token_index: tokenizer.tokenToId('<image>'),
    projector_hidden_act: 'gelu',
    vision_config: {
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      image_size: 16,
      patch_size: 8,
      projection_dim: 32,
    },
    text_config: {
      vocab_size: 20,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 64,
      bos_token_id: 1,
      eos_token_id: eos,
      pad_token_id: pad,
    },
  });
}
const config = tinyConfig();

/** A 16x16 image of one color with a darker quadrant at a random place, normalized to [-1, 1]. */
function image(color: string, random: () => number): Float32Array {
  const rgb = COLORS[color]!;
  const out = new Float32Array(3 * 16 * 16);
  const qx = random() < 0.5 ? 0 : 8;
  const qy = random() < 0.5 ? 0 : 8;
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++) {
        const dark = x >= qx && x < qx + 8 && y >= qy && y < qy + 8 ? 0.6 : 1;
        out[(c * 16 + y) * 16 + x] = 2 * rgb[c]! * dark - 1 + 0.1 * (random() - 0.5);
      }
  return out;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A toy task: the image's color, or whether it is a given color. */
function sample(random: () => number): { pixels: Float32Array; question: string; answer: string } {
  const color = NAMES[Math.floor(random() * NAMES.length)]!;
  const pixels = image(color, random);
  if (random() < 0.5) return { pixels, question: 'what color is it?', answer: color };
  const asked = random() < 0.5 ? color : NAMES[Math.floor(random() * NAMES.length)]!;
  return { pixels, question: `is it ${asked}?`, answer: asked === color ? 'yes' : 'no' };
}

function promptIds(question: string): number[] {
  return tokenizer.encodeChat(
    tokenizer.applyChatTemplate([
      { role: 'user', content: [{ type: 'image' }, { type: 'text', text: question }] },
    ]),
  );
}

function batchOf(samples: ReturnType<typeof sample>[]) {
  const { inputIds, labels } = packVlmExamples(
    samples.map((s) => [
      { ids: promptIds(s.question) },
      { ids: [...tokenizer.encode(s.answer, { addSpecialTokens: false }), eos], learn: true },
    ]),
    config,
    { padTokenId: pad },
  );
  const flat = new Float32Array(samples.length * 3 * 16 * 16);
  for (const [i, s] of samples.entries()) flat.set(s.pixels, i * s.pixels.length);
  const pixelValues = tensor(flat, [samples.length, 3, 16, 16], { backend }); // [B, 3, 16, 16]
  return { inputIds, labels, pixelValues };
}

describe('gradients of the training forward', () => {
  test('token embeddings and image features put in place of the placeholders', async () => {
    const C = config.text_config.hidden_size;
    const table = randomNormal([config.text_config.vocab_size, C], { backend, seed: 3 }); // [V, C]
    const features = randomNormal([2, 4, C], { backend, seed: 4 }); // [N, P, C]
    const img = config.image_token_index;
    const ids = [
      [1, 5, img, img, img, img, 8, 9],
      [1, img, img, img, img, 6, 10, 11],
    ];
    const r = await gradCheck(
      (t, f) =>
        llavaInputEmbeddings(new Map([['language_model.model.embed_tokens.weight', t]]), ids, f, config),
      [table, features],
      { rtol: 2e-2, atol: 2e-3 },
    );
    expect(r.ok, r.message).toBe(true);
    // Rows of the table that no text token reads get no gradient (the placeholders' slots included).
    const g = r.inputs[0]!.analytic;
    for (const unused of [0, 2, 3, 4, 7])
      expect(Math.max(...g.subarray(unused * C, (unused + 1) * C).map(Math.abs))).toBe(0);
    table.dispose();
    features.dispose();
  });

  test('the masked loss reaches the projector, the decoder, and the tower when it is trained', async () => {
    const params = initLlavaParams(config, { backend, seed: 5, std: 0.2 });
    const random = lcg(7);
    const batch = batchOf([sample(random), sample(random)]);
    const names = [
      'multi_modal_projector.linear_1.bias',
      'language_model.model.layers.0.input_layernorm.weight',
      'language_model.model.norm.weight',
      'vision_tower.post_layernorm.bias', // unused at vision_feature_layer -2: a zero gradient
      'vision_tower.encoder.layers.0.layer_norm1.bias',
    ];
    const r = await gradCheck(
      (...xs) => {
        const p = new Map(params);
        for (const [i, n] of names.entries()) p.set(n, xs[i]!);
        return vlmLoss(p, batch, config);
      },
      names.map((n) => params.get(n)!),
      { eps: 1e-2, rtol: 5e-2, atol: 1e-3 },
    );
    expect(r.ok, r.message).toBe(true);
    expect(Math.max(...r.inputs[0]!.analytic.map(Math.abs))).toBeGreaterThan(1e-4);
    expect(Math.max(...r.inputs[3]!.analytic.map(Math.abs))).toBe(0);
    expect(Math.max(...r.inputs[4]!.analytic.map(Math.abs))).toBeGreaterThan(1e-5);
    batch.pixelValues.dispose();
    for (const t of params.values()) t.dispose();
  });
});

test('freeze holds the params it names: a projector-only step changes the projector alone', async () => {
  const params = initLlavaParams(config, { backend, seed: 3 });
  const before = new Map<string, Float32Array>();
  for (const [n, t] of params) before.set(n, (await t.read()) as Float32Array);
  const t = new VlmTrainer(params, config, {
    lr: 1e-2,
    freeze: (name) => !name.startsWith('multi_modal_projector.'),
  });
  expect(t.trainedNames.length).toBeGreaterThan(0);
  expect(t.trainedNames.every((n) => n.startsWith('multi_modal_projector.'))).toBe(true);
  const batch = batchOf(Array.from({ length: 4 }, () => sample(lcg(11))));
  await t.step(batch);
  batch.pixelValues.dispose();
  for (const [n, p] of t.params) {
    const now = (await p.read()) as Float32Array;
    if (n.startsWith('multi_modal_projector.') && n.endsWith('weight'))
      expect(now, n).not.toEqual(before.get(n));
    else if (!n.startsWith('multi_modal_projector.')) expect(now, n).toEqual(before.get(n));
  }
  t.dispose();
  for (const p of new Set(t.params.values())) p.dispose();
});

/** The values of the named params. */
async function valuesOf(params: ReadonlyMap<string, Tensor>, names: string[]): Promise<number[][]> {
  return Promise.all(names.map(async (n) => [...(await params.get(n)!.read())]));
}

test('with the tower trained, its params the loss does not reach are left alone (no weight decay)', async () => {
  // vision_feature_layer -2: the last tower layer and post_layernorm get no gradient.
  const params = initLlavaParams(config, { backend, seed: 5 });
  const trainer = new VlmTrainer(params, config, { lr: 1e-2, weightDecay: 0.1, freezeVisionTower: false });
  const unreached = trainer.trainedNames.filter(
    (n) => n.startsWith('vision_tower.encoder.layers.1.') || n.startsWith('vision_tower.post_layernorm.'),
  );
  const reached = trainer.trainedNames.filter((n) => n.startsWith('vision_tower.encoder.layers.0.'));
  expect([unreached.length, reached.length]).toEqual([16 + 2, 16]);
  const before = await valuesOf(trainer.params, [...unreached, ...reached]);
  const random = lcg(21);
  for (let step = 0; step < 2; step++) {
    const batch = batchOf(Array.from({ length: 4 }, () => sample(random)));
    expect((await trainer.step(batch)).skipped).toBe(false);
    batch.pixelValues.dispose();
  }
  const after = await valuesOf(trainer.params, [...unreached, ...reached]);
  // Weight decay alone used to shrink the unreached ones.
  for (const [i, n] of unreached.entries()) expect(after[i], n).toEqual(before[i]);
  const k = unreached.length;
  for (const [i, n] of reached.entries()) expect(after[k + i], n).not.toEqual(before[k + i]);
  trainer.dispose();
  for (const t of new Set(trainer.params.values())) t.dispose();
});

test('a batch with a non-finite loss is skipped: no update, and the result says so', async () => {
  const params = initLlavaParams(config, { backend, seed: 6 });
  const trainer = new VlmTrainer(params, config, { lr: 1e-2 });
  const random = lcg(31);
  const good = batchOf(Array.from({ length: 4 }, () => sample(random)));
  const bad = batchOf(Array.from({ length: 4 }, () => sample(random)));
  const pixels = Float32Array.from(await bad.pixelValues.read());
  pixels[5] = Number.NaN; // one bad pixel
  bad.pixelValues.dispose();
  bad.pixelValues = tensor(pixels, [4, 3, 16, 16], { backend });
  try {
    await trainer.step(good);
    const names = trainer.trainedNames;
    const before = await valuesOf(trainer.params, names);
    const r = await trainer.step(bad);
    expect(await valuesOf(trainer.params, names)).toEqual(before); // used to be NaN everywhere
    expect([r.skipped, r.step, trainer.stepCount]).toEqual([true, 1, 1]);
    expect(r.loss).toBeNaN();
    const next = await trainer.step(good);
    expect([next.skipped, next.step, Number.isFinite(next.loss)]).toEqual([false, 2, true]);
  } finally {
    good.pixelValues.dispose();
    bad.pixelValues.dispose();
    trainer.dispose();
    for (const t of new Set(trainer.params.values())) t.dispose();
  }
});

test('a VlmTrainer stopped, saved and resumed takes the steps the unbroken run takes, bit for bit', async () => {
  const random = lcg(41);
  const batches = [0, 1, 2, 3].map(() => batchOf(Array.from({ length: 4 }, () => sample(random))));
  const options = { lr: (step: number) => 1e-2 / (1 + step), weightDecay: 0.1 };
  const straight = new VlmTrainer(initLlavaParams(config, { backend, seed: 7 }), config, options);
  const first = new VlmTrainer(initLlavaParams(config, { backend, seed: 7 }), config, options);
  let resumed: VlmTrainer | undefined;
  try {
    for (const b of batches) await straight.step(b);
    for (const b of batches.slice(0, 2)) await first.step(b);
    const state = await first.saveState();
    resumed = new VlmTrainer(first.params, config, options);
    await resumed.loadState(state);
    expect(resumed.lr).toBe(options.lr(2)); // the schedule goes on, no restart
    for (const b of batches.slice(2)) await resumed.step(b);
    const names = straight.trainedNames;
    expect(await valuesOf(resumed.params, names)).toEqual(await valuesOf(straight.params, names));
  } finally {
    for (const b of batches) b.pixelValues.dispose();
    for (const tr of [straight, first, resumed]) tr?.dispose();
    const all = [straight, first, resumed].flatMap((tr) => (tr ? [...tr.params.values()] : []));
    for (const t of new Set(all)) t.dispose();
  }
});

test('maxGradNorm must be > 0 (NaN would turn clipping off)', () => {
  const params = initLlavaParams(config, { backend, seed: 4 });
  for (const maxGradNorm of [Number.NaN, 0, -1])
    expect(() => new VlmTrainer(params, config, { maxGradNorm })).toThrow(
      `VlmTrainer: maxGradNorm must be > 0, got ${maxGradNorm}`,
    );
  for (const t of params.values()) t.dispose();
});

test('the loss is the mean cross-entropy of the answer tokens and the end token only', async () => {
  const params = initLlavaParams(config, { backend, seed: 2, std: 0.2 });
  const random = lcg(11);
  const batch = batchOf([sample(random), sample(random), sample(random)]);
  const loss = vlmLoss(params, batch, config);
  const logits = llavaForward(params, batch.inputIds, batch.pixelValues, config); // [B, T, V]
  const z = (await logits.read()) as Float32Array;
  const V = config.text_config.vocab_size;
  const T = batch.inputIds[0]!.length;
  let sum = 0;
  let n = 0;
  batch.labels.forEach((row, b) => {
    for (let t = 0; t + 1 < T; t++) {
      const y = row[t + 1]!;
      if (y === IGNORE_INDEX) continue;
      const base = (b * T + t) * V;
      let m = Number.NEGATIVE_INFINITY;
      for (let v = 0; v < V; v++) m = Math.max(m, z[base + v]!);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp(z[base + v]! - m);
      sum += m + Math.log(s) - z[base + y]!;
      n++;
    }
  });
  // One or two answer words plus the end token per example.
  expect(n).toBeGreaterThanOrEqual(6);
  expect(n).toBeLessThanOrEqual(9);
  expect(await loss.item()).toBeCloseTo(sum / n, 4);
  // Labels that count nothing are an error, not a NaN.
  const none = batch.labels.map((r) => r.map(() => IGNORE_INDEX));
  expect(() => vlmLoss(params, { ...batch, labels: none }, config)).toThrow(/no label counts/);
  // A label at position 0 alone counts nothing either (no logit predicts it): the message says so.
  const first = none.map((r) => Array.from(r));
  first[0]![0] = 1;
  expect(() => vlmLoss(params, { ...batch, labels: first }, config)).toThrow(/position 0 is never predicted/);
  // Rows of ids of different lengths are named as such, not blamed on the labels.
  const ragged = batch.inputIds.map((r, b) => (b === 0 ? Array.from(r).slice(0, -1) : Array.from(r)));
  expect(() => vlmLoss(params, { ...batch, inputIds: ragged }, config)).toThrow(
    /vlmLoss: inputIds row 1 has \d+ ids, row 0 has \d+; pad the rows to one length/,
  );
  // A label that is not a token id is named, not truncated (1.5 was read as token 1).
  for (const [y, shown] of [
    [1.5, '1.5'],
    [20, '20'],
    [-1, '-1'],
  ] as const) {
    const odd = batch.labels.map((r) => Array.from(r));
    odd[1]![2] = y;
    expect(() => vlmLoss(params, { ...batch, labels: odd }, config)).toThrow(
      `vlmLoss: labels[1][2] is ${shown}, not a token id in [0, 20) or IGNORE_INDEX (-100)`,
    );
  }
  for (const t of [loss, logits, batch.pixelValues, ...params.values()]) t.dispose();
});

describe('a tiny LLaVA learns a toy visual task', () => {
  let trainer: VlmTrainer;
  let model: VlmModel;
  const towerBefore = new Map<string, Float32Array>();
  const test16 = Array.from({ length: 24 }, (_, i) => sample(lcg(1000 + i)));

  async function accuracy(vlm: VlmModel): Promise<{ right: number; answers: string[] }> {
    const answers = await vlm.generateText(
      test16.map((s) => [
        {
          role: 'user' as const,
          content: [
            { type: 'image' as const, image: tensor(s.pixels, [3, 16, 16], { backend }) as Tensor },
            { type: 'text' as const, text: s.question },
          ],
        },
      ]),
      { maxNewTokens: 4 },
    );
    const right = answers.filter((a, i) => a.trim() === test16[i]!.answer).length;
    return { right, answers };
  }

  test('loss falls and greedy answers on new images become right', async () => {
    const params = initLlavaParams(config, { backend, seed: 1 });
    for (const [n, t] of params)
      if (n.startsWith('vision_tower.')) towerBefore.set(n, (await t.read()) as Float32Array);
    trainer = new VlmTrainer(params, config, { lr: 3e-3 });
    expect(trainer.trainedNames.some((n) => n.startsWith('vision_tower.'))).toBe(false);
    const random = lcg(42);
    const losses: number[] = [];
    for (let step = 0; step < 150; step++) {
      const batch = batchOf(Array.from({ length: 16 }, () => sample(random)));
      losses.push((await trainer.step(batch)).loss);
      batch.pixelValues.dispose();
    }
    const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10;
    const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
    expect(first).toBeGreaterThan(2); // ~ln(20) at the start
    expect(last).toBeLessThan(0.2);
    model = new VlmModel({ config, params: trainer.params, backend, tokenizer });
    const { right, answers } = await accuracy(model);
    expect(right, answers.join(', ')).toBeGreaterThanOrEqual(22);
  }, 120_000);

  test('the frozen vision tower did not change', async () => {
    for (const [n, before] of towerBefore) {
      const now = (await trainer.params.get(n)!.read()) as Float32Array;
      expect(now, n).toEqual(before);
    }
  });

  test('the saved HF folder loads with loadVlm: same logits, same answers, the chat template', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vlm-train-'));
    try {
      const saved = await vlmCheckpointFiles(trainer.params, config, files);
      for (const [name, data] of Object.entries(saved)) await writeFile(join(dir, name), data);
      const loaded = await loadVlm(dir, { backend });
      expect(loaded.config).toEqual(config);
      const batch = batchOf(test16.slice(0, 3));
      const [a, b] = await Promise.all([
        model.forward(batch.inputIds, batch.pixelValues),
        loaded.forward(batch.inputIds, batch.pixelValues),
      ]);
      expect((await b.read()) as Float32Array).toEqual((await a.read()) as Float32Array);
      expect((await accuracy(loaded)).answers).toEqual((await accuracy(model)).answers);
      expect(loaded.tokenizer!.chatTemplate).toBe(tokenizer.chatTemplate);
      for (const t of [a, b, batch.pixelValues]) t.dispose();
      loaded.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
      trainer.dispose();
      model.dispose();
    }
  });
});
