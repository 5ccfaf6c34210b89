// A grounding stage for the shapes VLM's vision tower, before the VLM's own steps: every image token
// (one per cell of the tower's patch grid) learns, through linear heads that are then thrown away,
// what the scene has at its cell: whether an object's centre lies there and, if so, its colour,
// shape, size and region; the cell's row, column and region; and, the same at every cell, the
// background pattern and the counts of objects, of each shape and of each colour. A contrastive
// CLIP tower pools what tells captions apart into its class token; the decoder reads the patch
// tokens one by one, so this puts each object's identity, the background and the counts in the
// tokens where the decoder can find them.
import { type ImageInput, preprocessToTensor } from '@vl/clip';
import {
  COLORS,
  PATTERNS,
  REGIONS,
  SHAPES,
  MAX_OBJECTS,
  SIZES,
  type Scene,
  generateShapes,
  hashSeed,
  heldOutShapes,
  trainingSeed,
} from '@vl/shapes';
import {
  AdamW,
  type Backend,
  argmax,
  keep,
  type Tensor,
  add,
  cosineWithWarmup,
  crossEntropy,
  isBiasOrNorm,
  linear,
  scale,
  randomNormal,
  reshape,
  tensor,
  tidy,
  valueAndGrad,
  zeros,
  yieldToEventLoop,
} from '@vl/tensor';
import { type LlavaConfig, llavaVisionFeatures, visionFeatureLayers } from '@vl/vlm';
import { ProgressBar } from '../progress.js';
import type { TrainRunOptions } from './trainRunOptions.js';

/**
 * The heads and their class counts on a `grid` x `grid` patch grid. Local, at the cell: whether an
 * object's centre lies there and, for those cells only, its colour, shape and size; the cell's row,
 * column and 3x3 region (the object's own region where its centre is, as the position answers
 * say it). Global, the same at every cell: the background pattern, how many objects, and how many
 * of each shape and each colour (what counting and existence questions ask). The tower's attention
 * gathers the global ones; the decoder then reads them from whichever tokens it attends to.
 */
function cellHeads(grid: number): Record<string, number> {
  const counts = MAX_OBJECTS + 1;
  return {
    object: 2,
    color: COLORS.length,
    shape: SHAPES.length,
    size: SIZES.length,
    row: grid,
    column: grid,
    region: REGIONS.length,
    background: PATTERNS.length,
    'count.objects': counts,
    ...Object.fromEntries(SHAPES.map((s) => [`count.${s}`, counts])),
    ...Object.fromEntries(COLORS.map((c) => [`count.${c}`, counts])),
  };
}

/** Cells whose label a head ignores (crossEntropy's default ignore index). */
const IGNORE = -100;

/** The 3x3 region index of a point (`x`, `y` in 0..1), as REGIONS orders them. */
function regionOf(x: number, y: number): number {
  return Math.min(2, Math.floor(3 * y)) * 3 + Math.min(2, Math.floor(3 * x));
}

/**
 * Labels of one scene's cells on a `grid` x `grid` patch grid over an `imageSize` image, row-major
 * as the tower's patch tokens: per head of `cellHeads(grid)`, one class id per cell ({@link IGNORE}
 * where not counted). Two centres in one cell: the later object's.
 *
 * @example
 * ```ts
 * const labels = cellLabels(generateShapes(1).scene, 8, 64); // labels.color[27] === 0 if a red object's centre is at cell (3, 3)
 * ```
 */
export function cellLabels(scene: Scene, grid: number, imageSize: number): Record<string, Int32Array> {
  const cells = grid * grid;
  const labels = Object.fromEntries(
    Object.keys(cellHeads(grid)).map((h) => [h, new Int32Array(cells).fill(IGNORE)]),
  );
  const global: Record<string, number> = {
    background: PATTERNS.indexOf(scene.background.pattern),
    'count.objects': scene.objects.length,
  };
  for (const s of SHAPES) global[`count.${s}`] = scene.objects.filter((o) => o.shape === s).length;
  for (const c of COLORS) global[`count.${c}`] = scene.objects.filter((o) => o.color === c).length;
  for (let r = 0; r < grid; r++) {
    for (let c = 0; c < grid; c++) {
      const i = r * grid + c;
      labels.object![i] = 0;
      labels.row![i] = r;
      labels.column![i] = c;
      labels.region![i] = regionOf((c + 0.5) / grid, (r + 0.5) / grid);
      for (const [h, v] of Object.entries(global)) labels[h]![i] = v;
    }
  }
  const cell = imageSize / grid;
  for (const o of scene.objects) {
    const c = Math.min(grid - 1, Math.max(0, Math.floor(o.center.x / cell)));
    const r = Math.min(grid - 1, Math.max(0, Math.floor(o.center.y / cell)));
    const i = r * grid + c;
    labels.object![i] = 1;
    labels.color![i] = COLORS.indexOf(o.color);
    labels.shape![i] = SHAPES.indexOf(o.shape);
    labels.size![i] = SIZES.indexOf(o.size);
    if (o.region) labels.region![i] = REGIONS.indexOf(o.region);
  }
  return labels;
}

/** Options of {@link groundVisionTower}. */
export interface GroundTowerOptions
  extends Pick<TrainRunOptions, 'batchSize' | 'imageSize' | 'io' | 'signal'> {
  /** Steps of the stage. */
  steps: number;
  /** Peak learning rate (cosine schedule with a short warmup). */
  lr: number;
  /** Seed of the heads' init and of the scenes (a stream apart from the VLM steps'). */
  seed: number;
  /** Normalization of the pixels, the tower's. */
  mean: readonly number[];
  std: readonly number[];
  /**
   * Weights of the heads' cross-entropies by head name (`object`, `color`, `shape`, `size`, `row`,
   * `column`, `region`, `background`), with `counts` for each of the 15 count heads. Unnamed heads
   * take {@link DEFAULT_HEAD_WEIGHTS}, else 1.
   */
  headWeights?: Readonly<Record<string, number>>;
  /** Called after every step with its loss (as {@link GroundTowerResult.loss}). */
  onStep?: (step: number, loss: number) => void;
}

/** What {@link groundVisionTower} reached. */
export interface GroundTowerResult {
  /** The last step's loss (the heads' cross-entropies, weighted as `headWeights` says, summed). */
  loss: number;
  /**
   * Share of held-out cells each head labels right, the count heads together as `counts` (on the
   * first {@link CHECK_IMAGES} held-out scenes; object attributes only at object centres).
   */
  accuracy: Record<string, number>;
}

/**
 * Default weights of the heads' cross-entropies: 1 for each head, and 1/15 for each of the 15 count
 * heads (together they weigh as much as one other head). Counts at 1/2 let a fresh decoder learn
 * "how many objects are there?" in 100 steps, and with shape at 4 and background at 2 (800 steps)
 * held-out cells are labelled better (counts 96.7%, shape 98.6%), but the full VLM recipe on that
 * tower measured 73.0% where the same recipe on this one measured 78.5%
 * (packages/shapes/models/README.md), so these stay the defaults.
 */
const DEFAULT_HEAD_WEIGHTS: Readonly<Record<string, number>> = {
  counts: 1 / (1 + SHAPES.length + COLORS.length),
};

/** Held-out scenes the heads are checked on after the last step. */
const CHECK_IMAGES = 64;

/** Salt of the grounding stage's scene stream, apart from the VLM steps' scenes. */
const GROUND_STREAM = 0x6e0d;

/**
 * Trains the `vision_tower.*` tensors of `params` (in place in the map: each is replaced by its
 * trained tensor, the old one disposed) so that the image tokens the VLM reads (the hidden states
 * `config.vision_feature_layer` names, class token dropped) carry each cell's labels
 * ({@link cellLabels}) linearly. The heads are checked on held-out scenes, then freed.
 *
 * @example
 * ```ts
 * await groundVisionTower(params, config, backend, { steps: 400, batchSize: 32, lr: 3e-3, seed: 0,
 *   imageSize: 64, mean, std, io });
 * ```
 */
export async function groundVisionTower(
  params: Map<string, Tensor>,
  config: LlavaConfig,
  backend: Backend,
  options: GroundTowerOptions,
): Promise<GroundTowerResult> {
  const { steps, batchSize, lr, seed, imageSize, mean, std, io, signal } = options;
  if (config.vision_feature_select_strategy !== 'default')
    throw new Error(
      `groundVisionTower: labels are per patch cell, so vision_feature_select_strategy must be 'default', not '${config.vision_feature_select_strategy}'`,
    );
  const vision = config.vision_config;
  const layers = visionFeatureLayers(config);
  const grid = imageSize / vision.patch_size / 2 ** (vision.conv_stem_channels?.length ?? 0);
  const cells = grid * grid;
  const width = vision.hidden_size * layers.length;
  const tree: Record<string, Tensor> = {};
  for (const [name, t] of params) if (name.startsWith('vision_tower.')) tree[name] = t;
  const heads = Object.entries(cellHeads(grid));
  const headWeights = { ...DEFAULT_HEAD_WEIGHTS, ...options.headWeights };
  const named = new Set(['counts', ...heads.map(([h]) => h).filter((h) => !h.startsWith('count.'))]);
  for (const [h, w] of Object.entries(headWeights)) {
    if (!named.has(h))
      throw new Error(
        `groundVisionTower: headWeights.${h} names no head (expected one of ${[...named].join(', ')})`,
      );
    if (!Number.isFinite(w) || w < 0)
      throw new Error(`groundVisionTower: headWeights.${h} must be a finite number >= 0; got ${w}`);
  }
  const weights = heads.map(([h]) => headWeights[h.startsWith('count.') ? 'counts' : h] ?? 1);
  heads.forEach(([h, k], i) => {
    tree[`head.${h}.weight`] = randomNormal([k, width], { backend, seed: hashSeed(seed, i), std: 0.02 });
    tree[`head.${h}.bias`] = zeros([k], { backend });
  });
  const opt = new AdamW({
    lr: cosineWithWarmup({ lr, warmupSteps: Math.min(20, steps), totalSteps: steps, minLr: lr / 20 }),
    weightDecay: 0.01,
    groups: [{ match: isBiasOrNorm, weightDecay: 0 }],
  });
  const towerParams = () => new Map(Object.entries(tree));
  const logitsOf = (pixels: Tensor): Tensor[] => {
    const B = pixels.shape[0]!;
    const features = llavaVisionFeatures(towerParams(), pixels, config); // [B, P, W]
    const tokens = reshape(features, [B * cells, width]); // [B * P, W]
    return heads.map(([h]) => linear(tokens, tree[`head.${h}.weight`]!, tree[`head.${h}.bias`]!)); // each [B * P, classes]
  };
  const lossOf = (pixels: Tensor, targets: Record<string, Tensor>): Tensor =>
    logitsOf(pixels)
      .map((logits, i) => scale(crossEntropy(logits, targets[heads[i]![0]]!), weights[i]!))
      .reduce((a, b) => add(a, b)); // []
  const pixelsOf = (images: readonly ImageInput[]): Tensor =>
    preprocessToTensor(images, backend, { size: imageSize, crop: imageSize, mean, std }); // [B, 3, S, S]
  const bar = new ProgressBar(io, 'grounding the vision tower', { quietMs: 0 });
  let last = Number.NaN;
  let accuracy: Record<string, number> = {};
  try {
    for (let step = 0; step < steps; step++) {
      await yieldToEventLoop(); // Ctrl-C gets a turn between steps
      signal?.throwIfAborted();
      const samples = Array.from({ length: batchSize }, (_, i) =>
        generateShapes(trainingSeed(hashSeed(seed, GROUND_STREAM), step * batchSize + i), {
          size: imageSize,
        }),
      );
      const pixels = pixelsOf(samples.map((s) => s.image));
      const perScene = samples.map((s) => cellLabels(s.scene, grid, imageSize));
      const targets = Object.fromEntries(
        heads.map(([h]) => {
          const all = new Int32Array(batchSize * cells);
          for (const [b, l] of perScene.entries()) all.set(l[h]!, b * cells);
          return [h, tensor(all, [all.length], { dtype: 'i32', backend })];
        }),
      ) as Record<string, Tensor>;
      try {
        const loss = tidy(() => {
          const { value, grads } = valueAndGrad(() => lossOf(pixels, targets), tree);
          opt.step(tree, grads);
          return value;
        });
        last = await loss.item();
        loss.dispose();
        options.onStep?.(step + 1, last);
      } finally {
        pixels.dispose();
        for (const t of Object.values(targets)) t.dispose();
      }
      bar.update(step + 1, steps, `loss ${last.toFixed(3)}`);
    }
    bar.finish();
    const right = new Map<string, { right: number; total: number }>();
    const check = heldOutShapes(CHECK_IMAGES, { size: imageSize });
    for (let i = 0; i < CHECK_IMAGES; i += batchSize) {
      const samples = check.slice(i, i + batchSize);
      const pixels = pixelsOf(samples.map((s) => s.image));
      const kept = tidy(() => logitsOf(pixels).map((l) => keep(argmax(l, 1))));
      pixels.dispose();
      const predicted = await Promise.all(kept.map((t) => t.read()));
      for (const t of kept) t.dispose();
      const perScene = samples.map((s) => cellLabels(s.scene, grid, imageSize));
      heads.forEach(([h], k) => {
        const group = h.startsWith('count.') ? 'counts' : h;
        const tally = right.get(group) ?? { right: 0, total: 0 };
        for (const [b, labels] of perScene.entries()) {
          labels[h]!.forEach((label, cell) => {
            if (label === IGNORE) return;
            tally.total++;
            if (predicted[k]![b * cells + cell] === label) tally.right++;
          });
        }
        right.set(group, tally);
      });
    }
    accuracy = Object.fromEntries([...right].map(([g, { right: r, total }]) => [g, r / total]));
  } finally {
    opt.dispose();
    for (const [name, t] of Object.entries(tree)) {
      if (name.startsWith('head.')) t.dispose();
      else params.set(name, t);
    }
  }
  return { loss: last, accuracy };
}
