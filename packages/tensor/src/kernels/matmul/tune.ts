// Picks the WebGPU matmul's large tile for the GPU at hand by timing candidates on it: the fastest
// configuration differs between GPUs (an NVIDIA H200 preferred 128x128 tiles with 8 values of K
// per stage; others may not), and a page or a server can afford a few seconds of tuning once.
import type { Backend } from '../../backend.js';
import type { GpuContext } from '../../backends/webgpu/context.js';
import type { Tensor } from '../../tensor.js';
import { matmul } from '../matmul.js';
import { randomUniform } from '../random.js';
import { type GemmTileConfig, matmulConfigFor, setMatmulWebGpuConfig, validateGemmConfig } from './config.js';

/** The tiles {@link tuneMatmulWebGpu} tries by default (the defaults' neighbourhood). */
export const TUNE_CANDIDATES: readonly Partial<GemmTileConfig>[] = [
  {},
  { warpLanes: true },
  { bm: 128, bn: 256, tm: 8, tn: 16 },
  { bm: 128, bn: 256, tm: 8, tn: 16, warpLanes: true },
  { bm: 128, bn: 256, tm: 8, tn: 16, doubleBuffer: false },
  { bk: 16 },
  { bm: 64, bn: 128, bk: 16, tm: 4, tn: 8 },
  { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
];

/** Options for {@link tuneMatmulWebGpu}. */
export interface MatmulTuneOptions {
  /** The product timed, `[m, k] x [k, n]` (default 2048 each): the size the application runs most. */
  m?: number;
  n?: number;
  k?: number;
  /** Tiles to try, each over the device's default large tile (default {@link TUNE_CANDIDATES}). */
  candidates?: readonly Partial<GemmTileConfig>[];
  /** GPU time to spend timing each candidate, in ms (default 100; compiling comes on top). */
  targetMs?: number;
  /** Make the fastest the backend's large tile (default true); false leaves the configuration as it was. */
  apply?: boolean;
}

/** One candidate's outcome. */
export interface MatmulTuneResult {
  readonly config: GemmTileConfig;
  /** Median time of one product, ms (Infinity when skipped). */
  readonly ms: number;
  readonly tflops: number;
  /** Why it was not timed: it does not fit the device, or its result differed from the default tile's. */
  readonly skipped?: string;
}

/**
 * Times the WebGPU matmul's large tile candidates on `backend`'s GPU for one product size and
 * (by default) keeps the fastest, as {@link setMatmulWebGpuConfig} would. A candidate whose result
 * differs from the first candidate's (the default tile's, with the default candidates; relative
 * error over 1e-3) is skipped as broken on this driver. Returns every candidate, fastest first.
 *
 * @example
 * ```ts
 * const gpu = await createBackend('webgpu');
 * const [best] = await tuneMatmulWebGpu(gpu, { m: 1600, n: 3072, k: 768 }); // CLIP ViT-B/32 at batch 32
 * console.log(best?.config, best?.tflops);
 * ```
 */
export async function tuneMatmulWebGpu(
  backend: Backend,
  options: MatmulTuneOptions = {},
): Promise<MatmulTuneResult[]> {
  if (backend.kind !== 'webgpu')
    throw new TypeError(`tuneMatmulWebGpu(): needs a webgpu backend, got ${backend.kind}`);
  const { m = 2048, n = 2048, k = 2048, targetMs = 100, apply = true } = options;
  for (const [name, v] of [
    ['m', m],
    ['n', n],
    ['k', k],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`tuneMatmulWebGpu(): ${name} must be a positive integer, got ${v}`);
  }
  if (!(targetMs > 0)) throw new RangeError(`tuneMatmulWebGpu(): targetMs must be positive, got ${targetMs}`);
  const ctx = backend as unknown as GpuContext;
  const base = matmulConfigFor(ctx).large;
  const before = matmulConfigFor(ctx);
  const results: MatmulTuneResult[] = [];
  let reference: Float32Array | undefined;
  let a: Tensor | undefined;
  let b: Tensor | undefined;
  try {
    a = randomUniform([m, k], { backend, seed: 1 }); // [m, k]
    b = randomUniform([k, n], { backend, seed: 2 }); // [k, n]
    const [x, w] = [a, b];
    for (const candidate of options.candidates ?? TUNE_CANDIDATES) {
      const config: GemmTileConfig = { ...base, ...candidate };
      const install = () => setMatmulWebGpuConfig(backend, { large: config, minLargeTiles: 1 });
      const against = reference && { values: reference, against: "the first candidate's" };
      const r = await timeCandidate(backend, config, install, () => matmul(x, w), against, targetMs);
      if ('skipped' in r) {
        results.push({ config, ms: Number.POSITIVE_INFINITY, tflops: 0, skipped: r.skipped });
        continue;
      }
      reference ??= r.out;
      results.push({ config, ms: r.ms, tflops: (2 * m * n * k) / (r.ms * 1e9) });
    }
  } finally {
    a?.dispose();
    b?.dispose();
    // Back to what it was: the defaults (the same object again), or the override in place before.
    setMatmulWebGpuConfig(backend, undefined);
    if (matmulConfigFor(ctx) !== before) setMatmulWebGpuConfig(backend, restoreOf(before));
  }
  results.sort((x, y) => (x.ms === y.ms ? 0 : x.ms < y.ms ? -1 : 1));
  const best = results[0];
  if (apply && best && Number.isFinite(best.ms))
    setMatmulWebGpuConfig(backend, { ...restoreOf(before), large: best.config });
  return results;
}

/** @internal The configuration as setMatmulWebGpuConfig takes it. */
export function restoreOf(
  c: ReturnType<typeof matmulConfigFor>,
): Parameters<typeof setMatmulWebGpuConfig>[1] {
  const { large, small, minLargeTiles, gemv, splitK, shapes } = c;
  return { large, small, minLargeTiles, gemv, splitK, shapes };
}

/** @internal The values of `product()`'s result (which it disposes). */
export async function readOnce(product: () => Tensor): Promise<Float32Array> {
  const y = product();
  try {
    return (await y.read()) as Float32Array;
  } finally {
    y.dispose();
  }
}

/** @internal Median ms of one `product()` over three rounds of queued products, each round ~targetMs / 3. */
export async function timeProducts(
  backend: Backend,
  product: () => Tensor,
  targetMs: number,
): Promise<number> {
  const round = async (reps: number) => {
    await backend.sync();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) product().dispose(); // its buffer reused by the next
    await backend.sync();
    return (performance.now() - t0) / reps;
  };
  const first = await round(1);
  const reps = Math.max(1, Math.min(1000, Math.round(targetMs / 3 / Math.max(first, 1e-3))));
  const times = [await round(reps), await round(reps), await round(reps)].sort((x, y) => x - y);
  return times[1]!;
}

/** @internal The largest difference relative to y's largest magnitude (Infinity for other lengths or NaN). */
export function maxRelDiff(x: Float32Array, y: Float32Array): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < x.length; i++) {
    scale = Math.max(scale, Math.abs(y[i]!));
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
  }
  if (x.length !== y.length || Number.isNaN(diff)) return Number.POSITIVE_INFINITY;
  return diff / Math.max(scale, 1e-30);
}

/**
 * @internal One tuning candidate: checks that `tile` fits the device, installs the candidate
 * (`install`), runs `product` once (compiling its pipeline) and compares the result with
 * `reference` (relative error at most 1e-3; `against` names the reference in the reason), then
 * times it. Returns the time and the result, or why it was skipped: it does not fit, did not
 * compile or run on this driver, or computes something else.
 */
export async function timeCandidate(
  backend: Backend,
  tile: GemmTileConfig,
  install: () => void,
  product: () => Tensor,
  reference: { values: Float32Array; against: string } | undefined,
  targetMs: number,
): Promise<{ ms: number; out: Float32Array } | { skipped: string }> {
  let out: Float32Array;
  try {
    validateGemmConfig(tile, (backend as unknown as GpuContext).limits);
    install();
    out = await readOnce(product);
  } catch (e) {
    return { skipped: (e as Error).message };
  }
  if (reference) {
    const diff = maxRelDiff(out, reference.values);
    if (!(diff <= 1e-3)) return { skipped: `result differs from ${reference.against} by ${diff}` };
  }
  return { ms: await timeProducts(backend, product, targetMs), out };
}
