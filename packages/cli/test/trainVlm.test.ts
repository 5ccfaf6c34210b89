// trainVlm end to end at toy sizes: a CLIP folder as `vl train clip` writes it, a few VLM steps,
// a checkpoint folder that loadVlm reads back with the same answers, the held-out evaluation's
// shape, and a CLIP whose image size does not match is refused by name. The CLIP has the shapes
// config's convolutional stem, so this also runs the VLM over a stem tower.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '@vl/tensor';
import { loadVlm } from '@vl/vlm';
import { afterAll, expect, test } from 'vitest';
import { shapesCaptionData } from '../src/train/captionData.js';
import { evaluateVlmOnShapes } from '../src/train/evaluateVlm.js';
import { trainClip } from '../src/train/trainClip.js';
import { writeToyClip } from './toyClip.js';
import { trainVlm } from '../src/train/trainVlm.js';

const backend = await createBackend('cpu');
const dir = await mkdtemp(join(tmpdir(), 'vl-train-vlm-'));
afterAll(async () => {
  backend.dispose();
  await rm(dir, { recursive: true, force: true });
});
let log = '';
const io = { stdout: { write: () => true }, stderr: { write: (s: string) => (log += s) } };

test('trainVlm writes an HF LLaVA folder that loadVlm reads and trainVlm continues; evaluateVlmOnShapes counts by kind', async () => {
  const clipDir = join(dir, 'clip');
  const common = { seed: 0, imageSize: 32, backend, io };
  await writeToyClip(clipDir, backend, io);
  const out = join(dir, 'vlm');
  const losses: number[] = [];
  const model = await trainVlm({
    clip: clipDir,
    out,
    steps: 3,
    batchSize: 2,
    lr: 1e-3,
    ...common,
    questionsPerImage: 2,
    sizes: { hidden: 32, layers: 1, heads: 4, kvHeads: 2 },
    onStep: (_, loss) => losses.push(loss),
  });
  try {
    expect(losses).toHaveLength(3);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(log).toMatch(/training vlm on shapes: done/);
    expect((await readdir(out)).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'preprocessor_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const quality = await evaluateVlmOnShapes(model, { n: 3, size: 32, questionsPerImage: 2 });
    expect(quality.n).toBe(6);
    expect(quality.images).toBe(3);
    const counted = Object.values(quality.byKind).reduce((s, k) => s + k.total, 0);
    expect(counted).toBe(6);
    const loaded = await loadVlm(out, { backend });
    const again = await evaluateVlmOnShapes(loaded, { n: 3, size: 32, questionsPerImage: 2 });
    expect(again).toEqual(quality);
    loaded.dispose();
    // Training further from the folder starts where the first run ended.
    const more = await trainVlm({
      clip: 'unused',
      init: out,
      out: join(dir, 'vlm2'),
      steps: 1,
      batchSize: 2,
      lr: 1e-3,
      ...common,
      seed: 1,
    });
    expect(more.config).toEqual(model.config);
    more.dispose();
  } finally {
    model.dispose();
  }
  await expect(
    trainVlm({ clip: clipDir, out, steps: 1, batchSize: 1, lr: 1e-3, ...common, imageSize: 64 }),
  ).rejects.toThrow(/takes 32px images but --size is 64/);
  // Words first: steps on captions and questions without an image, then the image steps; the
  // projector (which only images reach) comes out of the word stage as it went in.
  const worded: number[] = [];
  const PROJECTOR = 'multi_modal_projector.linear_1.weight';
  const EMBED = 'language_model.model.embed_tokens.weight';
  const start = await loadVlm(out, { backend });
  const projectorBefore = await start.params.get(PROJECTOR)!.read();
  const embedBefore = await start.params.get(EMBED)!.read();
  start.dispose();
  const words = await trainVlm({
    clip: 'unused',
    init: out,
    out: join(dir, 'vlm-words'),
    steps: 1,
    textSteps: 2,
    batchSize: 2,
    lr: 1e-3,
    ...common,
    onStep: (step, loss) => worded.push(step, loss),
  });
  expect(worded.filter((_, i) => i % 2 === 0)).toEqual([1, 2, 3]);
  expect(log).toMatch(/training vlm on words: done/);
  words.dispose();
  const wordsOnly = await trainVlm({
    clip: 'unused',
    init: out,
    out: join(dir, 'vlm-words-only'),
    steps: 1,
    textSteps: 2,
    textLr: 1e-2,
    batchSize: 2,
    lr: 1e-30,
    ...common,
  });
  // lr 1e-30 for the image step: what changed could only be the word stage's doing.
  const projectorAfter = await wordsOnly.params.get(PROJECTOR)!.read();
  const embedAfter = await wordsOnly.params.get(EMBED)!.read();
  expect(embedAfter.some((v, i) => Math.abs(v - embedBefore[i]!) > 1e-4)).toBe(true);
  for (let i = 0; i < projectorBefore.length; i++) expect(projectorAfter[i]).toBe(projectorBefore[i]);
  wordsOnly.dispose();
  // The projector-only stage: after it (image step at lr 1e-30) only the projector has moved.
  const aligned: number[] = [];
  const alignOnly = await trainVlm({
    clip: 'unused',
    init: out,
    out: join(dir, 'vlm-align-only'),
    steps: 1,
    alignSteps: 2,
    alignLr: 1e-2,
    batchSize: 2,
    lr: 1e-30,
    ...common,
    onStep: (step) => aligned.push(step),
  });
  expect(aligned).toEqual([1, 2, 3]);
  expect(log).toMatch(/aligning the projector: done/);
  const projectorAligned = await alignOnly.params.get(PROJECTOR)!.read();
  const embedAligned = await alignOnly.params.get(EMBED)!.read();
  expect(projectorAligned.some((v, i) => Math.abs(v - projectorBefore[i]!) > 1e-4)).toBe(true);
  for (let i = 0; i < embedBefore.length; i++) expect(embedAligned[i]).toBe(embedBefore[i]);
  alignOnly.dispose();
  // Image tokens from two of the tower's hidden states: the folder keeps the list, loadVlm reads it.
  const joined = join(dir, 'vlm-layers');
  const tiny = { hidden: 32, layers: 1, heads: 4, kvHeads: 2 };
  const both = await trainVlm({
    clip: clipDir,
    out: joined,
    steps: 1,
    batchSize: 2,
    lr: 1e-3,
    ...common,
    questionsPerImage: 2,
    sizes: { ...tiny, featureLayer: [0, -2] },
  });
  expect(both.config.vision_feature_layer).toEqual([0, -2]);
  both.dispose();
  const reread = await loadVlm(joined, { backend });
  expect(reread.config.vision_feature_layer).toEqual([0, -2]);
  expect((await evaluateVlmOnShapes(reread, { n: 1, size: 32, questionsPerImage: 1 })).n).toBe(1);
  reread.dispose();
  await expect(
    trainVlm({
      clip: clipDir,
      out: joined,
      steps: 1,
      batchSize: 1,
      lr: 1e-3,
      ...common,
      sizes: { ...tiny, featureLayer: [9] },
    }),
  ).rejects.toThrow(/--feature-layers: .*\[9\] is not a layer of a 3-layer vision tower \(valid: -4\.\.3\)/);
  // The CLIP's convolutional stem halves the image 3 times.
  await expect(
    trainClip({
      data: shapesCaptionData(0, 36),
      out: clipDir,
      steps: 1,
      batchSize: 1,
      lr: 1e-3,
      ...common,
      imageSize: 36,
    }),
  ).rejects.toThrow(/--size 36 must be a multiple of 8/);
}, 120_000);
