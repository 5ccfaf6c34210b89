// Per-shape tuning of the WebGPU matmul, as cuDNN's benchmark mode: run a piece of work once,
// recording the GEMM shapes it dispatches, then time tile and K-split candidates on each shape and
// keep the fastest as that shape's choice (config.ts `shapes`). The size rules pick well for large
// squares, less so for a model's actual products: at batch 32 a ViT-B/32's [1600, 768] outputs
// are 78 large tiles for an H200's 132 SMs, and its MLP's [1600, 3072] ones 312, and the best tile
// and split of each differ between GPUs.
import type { Backend } from '../../backend.js';
import type { GpuContext } from '../../backends/webgpu/context.js';
import { tidyAsync } from '../../engine.js';
import type { Tensor } from '../../tensor.js';
import { cast } from '../cast.js';
import { matmul } from '../matmul.js';
import { quantizeWeight } from '../quantize.js';
import { randomUniform } from '../random.js';
import {
  type GemmTileConfig,
  type MatmulShapeChoice,
  matmulConfigFor,
  setMatmulWebGpuConfig,
} from './config.js';
import { type MatmulCall, startRecording, stopRecording } from './shapeKey.js';
import { readOnce, restoreOf, timeCandidate, timeProducts } from './tune.js';

/**
 * The tiles {@link tuneMatmulShapesWebGpu} tries by default, each over the device's large tile.
 *
 * @example
 * ```ts
 * await tuneMatmulShapesWebGpu(gpu, forward, { tiles: [...SHAPE_TUNE_TILES, { bm: 256, bn: 64, tm: 16, tn: 4 }] });
 * ```
 */
export const SHAPE_TUNE_TILES: readonly Partial<GemmTileConfig>[] = [
  {},
  { warpLanes: true },
  { bm: 128, bn: 64, bk: 16, tm: 8, tn: 4 },
  { bm: 64, bn: 128, bk: 16, tm: 4, tn: 8 },
  { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
];

/**
 * The K splits {@link tuneMatmulShapesWebGpu} tries by default with each tile.
 *
 * @example
 * ```ts
 * await tuneMatmulShapesWebGpu(gpu, forward, { kSplits: [...SHAPE_TUNE_SPLITS, 16] });
 * ```
 */
export const SHAPE_TUNE_SPLITS: readonly number[] = [1, 2, 4, 8];

/**
 * Options for {@link tuneMatmulShapesWebGpu}.
 *
 * @example
 * ```ts
 * const options: MatmulShapeTuneOptions = { kSplits: [1, 4], targetMs: 50, apply: false };
 * ```
 */
export interface MatmulShapeTuneOptions {
  /** Tiles to try, each over the device's large tile (default {@link SHAPE_TUNE_TILES}). */
  tiles?: readonly Partial<GemmTileConfig>[];
  /** Chunks of K to try with each tile (default {@link SHAPE_TUNE_SPLITS}); 1 is no split. */
  kSplits?: readonly number[];
  /** GPU time to spend timing each candidate, in ms (default 30; compiling comes on top). */
  targetMs?: number;
  /** Keep a choice only when it beats the size rules by this fraction (default 0.03: noise). */
  minGain?: number;
  /** Install the choices on the backend (default true); false leaves the configuration as it was. */
  apply?: boolean;
}

/**
 * One candidate of a shape: its time, or why it was not timed.
 *
 * @example
 * ```ts
 * for (const c of result.candidates) console.log(c.choice.kSplit, c.ms, c.skipped ?? '');
 * ```
 */
export interface MatmulShapeCandidate {
  readonly choice: MatmulShapeChoice;
  /** Median time of one product, ms (Infinity when skipped). */
  readonly ms: number;
  /** It does not fit the device, did not compile, or its result differed from the size rules'. */
  readonly skipped?: string;
}

/**
 * What {@link tuneMatmulShapesWebGpu} found for one product shape.
 *
 * @example
 * ```ts
 * const [first] = await tuneMatmulShapesWebGpu(gpu, forward);
 * console.log(first?.key, first?.defaultMs, '->', first?.ms);
 * ```
 */
export interface MatmulShapeTuneResult {
  /** The shape's key in {@link MatmulWebGpuConfig.shapes}. */
  readonly key: string;
  /** The product as the work called it. */
  readonly call: MatmulCall;
  /** Time of one product with the size rules (no choice), ms. */
  readonly defaultMs: number;
  /** Time with the choice kept (with the size rules when none is), ms. */
  readonly ms: number;
  readonly tflops: number;
  /** The choice kept; undefined where the size rules were as fast (within `minGain`). */
  readonly choice?: MatmulShapeChoice;
  /** Every candidate, fastest first. */
  readonly candidates: readonly MatmulShapeCandidate[];
}

/**
 * Tunes the WebGPU matmul for the products `work` runs: runs it once (inside {@link tidyAsync}, so
 * the tensors it makes are freed), recording each distinct GEMM shape, then times every tile of
 * `tiles` with every split of `kSplits` on each shape and, by default, installs the fastest as
 * that shape's choice (see {@link MatmulWebGpuConfig.shapes}; the choices already installed for
 * other shapes stay). A candidate whose result differs from the size rules' (relative error over
 * 1e-3) is skipped as broken on this driver. GEMV products (M up to `gemv.maxM`, 4 by default)
 * are not tuned. A choice installed before for a shape is timed beside the candidates, and
 * removed unless one of them beats the size rules by `minGain`.
 *
 * Save the results' choices to skip tuning next time:
 * `setMatmulWebGpuConfig(gpu, { shapes: Object.fromEntries(results.filter((r) => r.choice).map((r) => [r.key, r.choice])) })`.
 *
 * @example
 * ```ts
 * const gpu = await createBackend('webgpu');
 * const clip = await loadClip('./clip-vit-base-patch32', { backend: gpu });
 * const pixels = randomUniform([32, 3, 224, 224], { backend: gpu, seed: 0 });
 * const results = await tuneMatmulShapesWebGpu(gpu, () => clip.encodeImage(pixels));
 * for (const r of results) console.log(r.key, r.defaultMs, '->', r.ms, r.choice);
 * ```
 */
export async function tuneMatmulShapesWebGpu(
  backend: Backend,
  work: () => unknown,
  options: MatmulShapeTuneOptions = {},
): Promise<MatmulShapeTuneResult[]> {
  const op = 'tuneMatmulShapesWebGpu()';
  if (backend?.kind !== 'webgpu') throw new TypeError(`${op}: needs a webgpu backend, got ${backend?.kind}`);
  if (typeof work !== 'function') throw new TypeError(`${op}: work must be a function running the products`);
  const { tiles = SHAPE_TUNE_TILES, kSplits = SHAPE_TUNE_SPLITS } = options;
  const { targetMs = 30, minGain = 0.03, apply = true } = options;
  if (!(targetMs > 0)) throw new RangeError(`${op}: targetMs must be positive, got ${targetMs}`);
  if (!(minGain >= 0 && minGain < 1))
    throw new RangeError(`${op}: minGain must be in [0, 1), got ${minGain}`);
  if (!Array.isArray(tiles) || tiles.length === 0)
    throw new RangeError(`${op}: tiles must be a non-empty array`);
  if (!Array.isArray(kSplits) || !kSplits.every((s) => Number.isInteger(s) && s >= 1))
    throw new RangeError(`${op}: kSplits must be positive integers, got ${JSON.stringify(kSplits)}`);
  const ctx = backend as unknown as GpuContext;

  const calls = startRecording(ctx);
  try {
    await tidyAsync(async () => {
      await work();
      return undefined;
    });
  } finally {
    stopRecording(ctx);
  }

  const before = matmulConfigFor(ctx);
  const shapes = { ...before.shapes };
  const results: MatmulShapeTuneResult[] = [];
  let changed = false;
  try {
    for (const [key, call] of calls) {
      const result = await tuneShape(backend, key, call, before, { tiles, kSplits, targetMs, minGain });
      results.push(result);
      changed ||= result.choice !== undefined || key in shapes;
      if (result.choice) shapes[key] = result.choice;
      else delete shapes[key]; // the size rules beat every candidate, a choice made before included
    }
  } finally {
    // Back to what it was: the defaults (the same object again), or the override in place before.
    setMatmulWebGpuConfig(backend, undefined);
    if (matmulConfigFor(ctx) !== before) setMatmulWebGpuConfig(backend, restoreOf(before));
  }
  if (apply && changed) setMatmulWebGpuConfig(backend, { ...restoreOf(before), shapes });
  return results;
}

interface ShapeOptions {
  tiles: readonly Partial<GemmTileConfig>[];
  kSplits: readonly number[];
  targetMs: number;
  minGain: number;
}

async function tuneShape(
  backend: Backend,
  key: string,
  call: MatmulCall,
  before: ReturnType<typeof matmulConfigFor>,
  o: ShapeOptions,
): Promise<MatmulShapeTuneResult> {
  const [batches, m, n, k] = key.split(':')[0]!.split('x').map(Number) as [number, number, number, number];
  const flops = 2 * batches * m * n * k;
  const { [key]: previous, ...others } = before.shapes;
  const install = (choice?: MatmulShapeChoice) =>
    setMatmulWebGpuConfig(backend, {
      ...restoreOf(before),
      shapes: choice ? { ...others, [key]: choice } : others,
    });
  // A choice installed before for this shape is a candidate too, first.
  const tried: MatmulShapeChoice[] = previous ? [previous] : [];
  for (const partial of o.tiles) {
    for (const kSplit of o.kSplits) tried.push({ tile: { ...before.large, ...partial }, kSplit });
  }
  let a: Tensor | undefined;
  let b: Tensor | undefined;
  try {
    const x = (a = randomUniform(call.aShape, { backend, low: -1, high: 1, seed: 1 }));
    const w = (b = weightOf(randomUniform(call.bShape, { backend, low: -1, high: 1, seed: 2 }), call));
    const product = () => matmul(x, w, { transposeA: call.transposeA, transposeB: call.transposeB });
    install(undefined);
    const reference = await readOnce(product);
    const defaultMs = await timeProducts(backend, product, o.targetMs);
    const candidates: MatmulShapeCandidate[] = [];
    const against = { values: reference, against: "the size rules'" };
    for (const choice of tried) {
      const skip = (why: string) => candidates.push({ choice, ms: Number.POSITIVE_INFINITY, skipped: why });
      // Each chunk at least two slices of K: shorter ones only add partial blocks to sum.
      if (choice.kSplit > 1 && k < 2 * choice.kSplit * choice.tile.bk) {
        skip(`K = ${k} is too short for ${choice.kSplit} chunks of this tile`);
        continue;
      }
      const r = await timeCandidate(
        backend,
        choice.tile,
        () => install(choice),
        product,
        against,
        o.targetMs,
      );
      if ('skipped' in r) skip(r.skipped);
      else candidates.push({ choice, ms: r.ms });
    }
    candidates.sort((p, q) => p.ms - q.ms || 0);
    const best = candidates[0];
    const wins = best !== undefined && best.ms < defaultMs * (1 - o.minGain);
    const ms = wins ? best.ms : defaultMs;
    return {
      key,
      call,
      defaultMs,
      ms,
      tflops: flops / (ms * 1e9),
      ...(wins ? { choice: best.choice } : {}),
      candidates,
    };
  } finally {
    a?.dispose();
    b?.dispose();
  }
}

/** A random f32 `b` in the dtype the work's product read it in (disposing the f32 one). */
function weightOf(b: Tensor, call: MatmulCall): Tensor {
  if (call.bDtype === 'f32') return b;
  try {
    return call.bDtype === 'q8' || call.bDtype === 'q4'
      ? quantizeWeight(b, { dtype: call.bDtype })
      : cast(b, call.bDtype);
  } finally {
    b.dispose();
  }
}
