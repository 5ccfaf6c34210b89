// The grounding stage of the shapes VLM's tower: the per-cell labels agree with the scene they are
// drawn from, and a few steps on a toy tower lower the heads' loss while replacing only the tower's
// tensors the heads' loss reaches (the projector and decoder stay the very same tensors; the heads
// do not leak out).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClip } from '@vl/clip';
import { COLORS, PATTERNS, REGIONS, SHAPES, SIZES, heldOutShapes, shapesVocabulary } from '@vl/shapes';
import { createBackend } from '@vl/tensor';
import {
  VlmTokenizer,
  initLlavaParams,
  visionFeatureLayers,
  visionTowerFromClip,
  wordTokenizerFiles,
} from '@vl/vlm';
import { afterAll, expect, test } from 'vitest';
import { cellLabels, groundVisionTower } from '../src/train/groundTower.js';
import { writeToyClip } from './toyClip.js';
import { shapesVlmConfig } from '../src/train/trainVlm.js';

const backend = await createBackend('cpu');
const dir = await mkdtemp(join(tmpdir(), 'vl-ground-'));
afterAll(async () => {
  backend.dispose();
  await rm(dir, { recursive: true, force: true });
});
const io = { stdout: { write: () => true }, stderr: { write: () => true } };

test('cellLabels: each object at its centre cell, the scene-wide labels everywhere, the cells in their regions', () => {
  const grid = 8;
  for (const { scene } of heldOutShapes(20, { size: 64 })) {
    const l = cellLabels(scene, grid, 64);
    const at = (head: string) => l[head] ?? expect.unreachable(`no ${head} head`);
    const everywhere = (head: string, value: number) =>
      expect(new Set(at(head)), head).toEqual(new Set([value]));
    everywhere('background', PATTERNS.indexOf(scene.background.pattern));
    everywhere('count.objects', scene.objects.length);
    for (const s of SHAPES) everywhere(`count.${s}`, scene.objects.filter((o) => o.shape === s).length);
    for (const c of COLORS) everywhere(`count.${c}`, scene.objects.filter((o) => o.color === c).length);
    const cells = scene.objects.map((o) => Math.floor(o.center.y / 8) * grid + Math.floor(o.center.x / 8));
    expect(at('object').reduce((a, b) => a + b, 0)).toBe(new Set(cells).size);
    scene.objects.forEach((o, j) => {
      if (cells.indexOf(cells[j]!) !== cells.lastIndexOf(cells[j]!)) return; // two centres share the cell
      const i = cells[j]!;
      expect([at('color')[i], at('shape')[i], at('size')[i], at('row')[i], at('column')[i]]).toEqual([
        COLORS.indexOf(o.color),
        SHAPES.indexOf(o.shape),
        SIZES.indexOf(o.size),
        Math.floor(i / grid),
        i % grid,
      ]);
      if (o.region) expect(at('region')[i]).toBe(REGIONS.indexOf(o.region));
    });
    for (let i = 0; i < grid * grid; i++) if (at('object')[i] === 0) expect(at('color')[i]).toBe(-100);
  }
  // On a 3x3 grid (no object centres on it) the cells are the regions themselves.
  const empty = { ...heldOutShapes(1)[0]!.scene, objects: [] };
  expect([...(cellLabels(empty, 3, 64).region ?? [])]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const r8 = cellLabels(empty, 8, 64).region ?? expect.unreachable();
  expect([r8[0], r8[7], r8[56], r8[63], r8[27]]).toEqual([0, 2, 6, 8, 4]);
});

/**
 * A toy CLIP written to `dir/name`, a small VLM's params on its tower, and groundVisionTower's
 * options for that tower (32 px images normalized as its CLIP's); each test adds steps and batch size.
 */
async function toyVlm(name: string) {
  const clipDir = join(dir, name);
  await writeToyClip(clipDir, backend, io);
  const clip = await loadClip(clipDir, { backend });
  const files = wordTokenizerFiles(shapesVocabulary());
  const tokenizer = VlmTokenizer.fromJson(files['tokenizer.json'], files['tokenizer_config.json']);
  const config = shapesVlmConfig(clip.config.vision_config!, tokenizer, { hidden: 32, layers: 1 });
  const params = initLlavaParams(config, { backend, visionTower: visionTowerFromClip(clip.params) });
  const { mean, std } = clip.preprocessOptions;
  const grounding = { lr: 3e-3, seed: 0, imageSize: 32, mean: mean!, std: std!, io };
  return { clip, config, params, grounding };
}

test('groundVisionTower lowers the cell heads loss and replaces only the tower tensors', async () => {
  const { clip, config, params, grounding } = await toyVlm('clip');
  const before = new Map(params);
  const losses: number[] = [];
  const { accuracy } = await groundVisionTower(params, config, backend, {
    ...grounding,
    steps: 40,
    batchSize: 8,
    onStep: (_, loss) => losses.push(loss),
  });
  expect(losses).toHaveLength(40);
  expect(Object.keys(accuracy).sort()).toEqual(
    ['background', 'color', 'column', 'counts', 'object', 'region', 'row', 'shape', 'size'].sort(),
  );
  for (const a of Object.values(accuracy)) expect(a).toBeGreaterThanOrEqual(0);
  // Forty steps on a toy tower: at least where each cell is has been learned beyond chance (1/4).
  expect(accuracy.row).toBeGreaterThan(0.5);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  expect(mean(losses.slice(-5))).toBeLessThan(0.8 * mean(losses.slice(0, 5)));
  expect([...params.keys()]).toEqual([...before.keys()]);
  // The heads read the hidden states at the feature layers: the tower layers after them and the
  // post-layernorm get no gradient, so AdamW leaves them as they are (PyTorch skips grad None).
  const last = Math.max(...visionFeatureLayers(config)); // hidden state i is the output of layer i - 1
  const unreached = (name: string) =>
    name.startsWith('vision_tower.post_layernorm.') ||
    Number(/^vision_tower\.encoder\.layers\.(\d+)\./.exec(name)?.[1] ?? -1) >= last;
  expect([...params.keys()].filter(unreached).length).toBeGreaterThan(0);
  for (const [name, t] of params) {
    if (name.startsWith('vision_tower.') && !unreached(name)) expect(t, name).not.toBe(before.get(name));
    else expect(t, name).toBe(before.get(name));
  }
  clip.dispose();
  for (const t of new Set(params.values())) t.dispose();
}, 120_000);

test('groundVisionTower names a head weight it does not know, or a negative one, before any step', async () => {
  const { clip, config, params, grounding } = await toyVlm('clip-weights');
  const before = new Map(params);
  const run = (headWeights: Record<string, number>) =>
    groundVisionTower(params, config, backend, { ...grounding, steps: 1, batchSize: 2, headWeights });
  await expect(run({ colour: 2 })).rejects.toThrow(/headWeights\.colour names no head .*color/);
  await expect(run({ shape: -1 })).rejects.toThrow(/headWeights\.shape must be a finite number >= 0; got -1/);
  for (const [name, t] of params) expect(t, name).toBe(before.get(name));
  clip.dispose();
  for (const t of new Set(params.values())) t.dispose();
}, 60_000);
