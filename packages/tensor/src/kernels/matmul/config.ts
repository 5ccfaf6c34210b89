// Tile configurations of the WebGPU matmul, the defaults, and per-backend overrides (for the
// benchmark's sweep, or an app tuning for its GPU).
import type { GpuContext } from '../../backends/webgpu/context.js';

/**
 * A tiled GEMM configuration: each workgroup computes a `bm x bn` output tile with
 * `(bm / tm) * (bn / tn)` threads, each owning a `tm x tn` register tile, stepping through K in
 * shared-memory slices of `bk`.
 */
export interface GemmTileConfig {
  /** Output tile rows and columns per workgroup. */
  readonly bm: number;
  readonly bn: number;
  /** K slice staged in workgroup memory per step. */
  readonly bk: number;
  /** Rows and columns each thread accumulates (multiples of 4). */
  readonly tm: number;
  readonly tn: number;
  /** Two shared-memory buffers: the next slice is stored while the current one is read (one barrier per step). */
  readonly doubleBuffer: boolean;
  /** Tile rows per group in the workgroup order, so neighbours reuse b's columns from L2 (1 = row-major order). */
  readonly groupM: number;
  /** Use `fma()` in the inner loop (else `a * b + c`, which most drivers contract anyway). */
  readonly fma: boolean;
  /** Unroll the BK steps of a slice in the WGSL (else a loop the driver may unroll). */
  readonly unroll: boolean;
  /**
   * Arrange each 32 consecutive threads as a 4 x 8 block of the thread grid, lanes interleaved so
   * that neighbouring pairs share their fragments of a or of b (CUTLASS's SGEMM warp layout),
   * instead of whole rows of it: on NVIDIA GPUs a subgroup's vec4 reads of the staged slices then
   * take half the shared-memory cycles (row-major lanes share a's only). Needs a grid
   * (`bm / tm` x `bn / tn` threads) of multiples of 4 x 8. Default false.
   */
  readonly warpLanes?: boolean;
}

/** The small-M (decode) kernels' configuration. */
export interface GemvConfig {
  /** Largest (folded) M that takes the GEMV path. */
  readonly maxM: number;
  /** b stored `[N, K]`: threads cooperating on one output column (power of 2, divides 256). */
  readonly lanesPerColumn: number;
  /** b stored `[K, N]`: 4-column groups per workgroup; the rest of the 256 threads split K. */
  readonly columnGroups: number;
  /** Use subgroup shuffles for the reduction when the device has them. */
  readonly subgroups: boolean;
}

/**
 * Split-K for products with few output tiles and a long K (a ViT's second MLP product: [1600, 3072]
 * x [3072, 768] has 78 large tiles): the large tile's workgroups each take a chunk of K, writing
 * partial tiles that a second kernel sums (with the bias and activation). On an NVIDIA H200 it took
 * that product from 1.29 to 0.34 ms.
 *
 * @example
 * ```ts
 * setMatmulWebGpuConfig(gpu, { splitK: { minK: 2 ** 30 } }); // never split
 * ```
 */
export interface SplitKConfig {
  /** Split only when K is at least this long (and the large tiles are fewer than minLargeTiles). */
  readonly minK: number;
  /** The shortest chunk of K a workgroup takes. */
  readonly chunkK: number;
  /** Split into enough chunks for about this many workgroups. */
  readonly workgroups: number;
}

/**
 * The tile and K split chosen for one product shape, overriding the size rules: what
 * {@link tuneMatmulShapesWebGpu} found fastest on this GPU (and what an app may save and restore).
 *
 * @example
 * ```ts
 * const choice: MatmulShapeChoice = {
 *   tile: { bm: 128, bn: 64, bk: 16, tm: 8, tn: 4, doubleBuffer: true, groupM: 8, fma: true, unroll: true },
 *   kSplit: 4,
 * };
 * ```
 */
export interface MatmulShapeChoice {
  readonly tile: GemmTileConfig;
  /** Chunks of K, each a workgroup's, summed by a second kernel (1: no split). */
  readonly kSplit: number;
}

/** Everything the WebGPU matmul chooses from. */
export interface MatmulWebGpuConfig {
  /** The tile for large problems. */
  readonly large: GemmTileConfig;
  /** The tile for problems with fewer than `minLargeTiles` large tiles (fills more of the GPU). */
  readonly small: GemmTileConfig;
  readonly minLargeTiles: number;
  readonly gemv: GemvConfig;
  readonly splitK: SplitKConfig;
  /**
   * Choices for particular product shapes, keyed `"<batches>x<M>x<N>x<K>:<ta><tb>:<b dtype>"` (M
   * after folding a shared b's batch into the rows; `ta`/`tb` `n` or `t`), e.g.
   * `"1x1600x768x3072:nt:f32"`: the keys {@link tuneMatmulShapesWebGpu} reports. Products with M
   * up to `gemv.maxM` run the GEMV kernels and do not read them.
   */
  readonly shapes: Readonly<Record<string, MatmulShapeChoice>>;
}

// bk 8 over 16: 33 against 27 TFLOP/s at 4096^3 on an NVIDIA H200 (bench/results/matmul-webgpu.json).
export const DEFAULT_LARGE: GemmTileConfig = {
  bm: 128,
  bn: 128,
  bk: 8,
  tm: 8,
  tn: 8,
  doubleBuffer: true,
  groupM: 8,
  fma: true,
  unroll: true,
};

export const DEFAULT_SMALL: GemmTileConfig = {
  bm: 64,
  bn: 64,
  bk: 16,
  tm: 4,
  tn: 4,
  doubleBuffer: true,
  groupM: 8,
  fma: true,
  unroll: true,
};

/**
 * The tile for software adapters (Mesa lavapipe, SwiftShader), where shader compilation dominates:
 * compile time grows with the register tile and the unrolled slice, so a small tile keeps a cold
 * test run fast.
 */
export const DEFAULT_SOFTWARE: GemmTileConfig = {
  bm: 32,
  bn: 32,
  bk: 8,
  tm: 4,
  tn: 4,
  doubleBuffer: false,
  groupM: 8,
  fma: true,
  unroll: true,
};

const DEFAULT_GEMV: GemvConfig = { maxM: 4, lanesPerColumn: 32, columnGroups: 8, subgroups: true };

const DEFAULT_SPLIT_K: SplitKConfig = { minK: 1024, chunkK: 256, workgroups: 384 };

/** Threads of a tile configuration's workgroup. */
export function gemmThreads(c: GemmTileConfig): number {
  return (c.bm / c.tm) * (c.bn / c.tn);
}

/**
 * Workgroup memory a tile configuration needs, in bytes (a variant adds one vec4 per k-row of the
 * slice it skews against bank conflicts, where the device has room).
 */
export function gemmSharedBytes(c: GemmTileConfig): number {
  return (c.bm + c.bn) * c.bk * 4 * (c.doubleBuffer ? 2 : 1);
}

/** Throws unless `c` can be compiled for a device with `limits`; the message names the field. */
export function validateGemmConfig(
  c: GemmTileConfig,
  limits: GPUSupportedLimits,
  what = 'matmul tile config',
): void {
  const problems: string[] = [];
  for (const key of ['bm', 'bn', 'bk', 'tm', 'tn', 'groupM'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) problems.push(`${key}=${c[key]} is not a positive integer`);
  }
  if (c.tm % 4 || c.tn % 4) problems.push(`tm=${c.tm} and tn=${c.tn} must be multiples of 4`);
  if (c.bm % c.tm || c.bn % c.tn) problems.push(`bm=${c.bm} and bn=${c.bn} must be multiples of tm and tn`);
  if (c.bk % 4) problems.push(`bk=${c.bk} must be a multiple of 4`);
  if (c.warpLanes && ((c.bm / c.tm) % 4 || (c.bn / c.tn) % 8)) {
    problems.push(
      `warpLanes needs a thread grid of multiples of 4 x 8 (bm / tm = ${c.bm / c.tm}, bn / tn = ${c.bn / c.tn})`,
    );
  }
  const threads = gemmThreads(c);
  if (threads > limits.maxComputeInvocationsPerWorkgroup || threads > limits.maxComputeWorkgroupSizeX) {
    problems.push(
      `${threads} threads exceed the device's ${limits.maxComputeInvocationsPerWorkgroup} per workgroup`,
    );
  }
  // Each thread fills whole vec4s of both slices.
  if (((c.bm * c.bk) / 4) % threads || ((c.bn * c.bk) / 4) % threads) {
    problems.push(
      `the ${c.bm}x${c.bk} and ${c.bk}x${c.bn} slices must split evenly into vec4 loads over ${threads} threads`,
    );
  }
  const bytes = gemmSharedBytes(c);
  if (bytes > limits.maxComputeWorkgroupStorageSize) {
    problems.push(
      `${bytes} bytes of workgroup memory exceed the device's ${limits.maxComputeWorkgroupStorageSize}`,
    );
  }
  if (problems.length > 0) throw new RangeError(`${what} ${JSON.stringify(c)}: ${problems.join('; ')}`);
}

function validateGemv(c: GemvConfig): void {
  const pow2 = (x: number) => Number.isInteger(x) && x > 0 && (x & (x - 1)) === 0 && x <= 256;
  if (
    !pow2(c.lanesPerColumn) ||
    !pow2(c.columnGroups) ||
    !Number.isInteger(c.maxM) ||
    c.maxM < 0 ||
    c.maxM > 8
  ) {
    throw new RangeError(
      `matmul gemv config ${JSON.stringify(c)}: lanesPerColumn and columnGroups must be powers of 2 up to 256, maxM 0..8`,
    );
  }
}

const overrides = new WeakMap<object, MatmulWebGpuConfig>();
const defaults = new WeakMap<object, MatmulWebGpuConfig>();

/** Software adapters describe themselves in the backend's name (`webgpu (llvmpipe ..., software)`). */
function isSoftware(ctx: GpuContext): boolean {
  const name = (ctx as { name?: unknown }).name;
  return typeof name === 'string' && /software|llvmpipe|lavapipe|swiftshader/i.test(name);
}

/** The default configuration for a device: double buffering only where workgroup memory allows it. */
function defaultConfig(ctx: GpuContext): MatmulWebGpuConfig {
  if (isSoftware(ctx)) {
    return {
      large: DEFAULT_SOFTWARE,
      small: DEFAULT_SOFTWARE,
      minLargeTiles: 1,
      gemv: DEFAULT_GEMV,
      splitK: DEFAULT_SPLIT_K,
      shapes: {},
    };
  }
  const fitMemory = (c: GemmTileConfig): GemmTileConfig => {
    if (gemmSharedBytes(c) <= ctx.limits.maxComputeWorkgroupStorageSize) return c;
    return { ...c, doubleBuffer: false };
  };
  return {
    large: fitMemory(DEFAULT_LARGE),
    small: fitMemory(DEFAULT_SMALL),
    minLargeTiles: 96,
    gemv: DEFAULT_GEMV,
    splitK: DEFAULT_SPLIT_K,
    shapes: {},
  };
}

/** The configuration the matmul uses on `ctx` (an override, else the device's default). */
export function matmulConfigFor(ctx: GpuContext): MatmulWebGpuConfig {
  const o = overrides.get(ctx);
  if (o) return o;
  let d = defaults.get(ctx);
  if (!d) defaults.set(ctx, (d = defaultConfig(ctx)));
  return d;
}

/**
 * Overrides the WebGPU matmul's tile configuration on one backend (fields left out keep their
 * defaults: `shapes` left out means none, so pass the tuned ones again when changing another
 * field); `undefined` restores the defaults. A shape's tile may be partial (over `large`); the
 * choices are copied. Throws when a tile does not fit the device.
 *
 * @example
 * ```ts
 * setMatmulWebGpuConfig(gpu, { large: { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8, doubleBuffer: true } });
 * ```
 */
export function setMatmulWebGpuConfig(
  backend: { readonly kind: string },
  config:
    | {
        large?: Partial<GemmTileConfig>;
        small?: Partial<GemmTileConfig>;
        minLargeTiles?: number;
        gemv?: Partial<GemvConfig>;
        splitK?: Partial<SplitKConfig>;
        shapes?: Readonly<
          Record<string, { readonly tile: Partial<GemmTileConfig>; readonly kSplit: number }>
        >;
      }
    | undefined,
): void {
  if (backend.kind !== 'webgpu')
    throw new TypeError(`setMatmulWebGpuConfig(): needs a webgpu backend, got ${backend.kind}`);
  const ctx = backend as unknown as GpuContext;
  if (!config) {
    overrides.delete(ctx);
    return;
  }
  const base = defaultConfig(ctx);
  const large = { ...base.large, ...config.large };
  const shapes: Record<string, MatmulShapeChoice> = {};
  for (const [key, choice] of Object.entries(config.shapes ?? {})) {
    shapes[key] = shapeChoice(key, choice, large, ctx.limits);
  }
  const merged: MatmulWebGpuConfig = {
    large,
    small: { ...base.small, ...config.small },
    minLargeTiles: config.minLargeTiles ?? base.minLargeTiles,
    gemv: { ...base.gemv, ...config.gemv },
    splitK: { ...base.splitK, ...config.splitK },
    shapes,
  };
  validateGemmConfig(merged.large, ctx.limits, 'setMatmulWebGpuConfig(): large');
  const { minK, chunkK, workgroups } = merged.splitK;
  if (![minK, chunkK, workgroups].every((x) => Number.isInteger(x) && x >= 1)) {
    throw new RangeError(
      `setMatmulWebGpuConfig(): splitK ${JSON.stringify(merged.splitK)}: minK, chunkK and workgroups must be positive integers`,
    );
  }
  validateGemmConfig(merged.small, ctx.limits, 'setMatmulWebGpuConfig(): small');
  validateGemv(merged.gemv);
  overrides.set(ctx, merged);
}

const SHAPE_KEY = /^\d+x\d+x\d+x\d+:[nt][nt]:(f32|f16|bf16|q8|q4)$/;

/** A copy of a shape's choice, its tile over the large one; throws naming the key and the field. */
function shapeChoice(
  key: string,
  choice: unknown,
  large: GemmTileConfig,
  limits: GPUSupportedLimits,
): MatmulShapeChoice {
  const what = `setMatmulWebGpuConfig(): shapes[${JSON.stringify(key)}]`;
  if (!SHAPE_KEY.test(key)) {
    throw new RangeError(
      `${what}: the key must read "<batches>x<M>x<N>x<K>:<ta><tb>:<b dtype>", e.g. "1x1600x768x3072:nt:f32"`,
    );
  }
  const c = choice as { tile?: unknown; kSplit?: unknown } | null;
  if (typeof c !== 'object' || c === null || typeof c.tile !== 'object' || c.tile === null) {
    throw new TypeError(`${what}: needs { tile, kSplit }, got ${JSON.stringify(choice)}`);
  }
  if (!Number.isInteger(c.kSplit) || (c.kSplit as number) < 1) {
    throw new RangeError(`${what}: kSplit must be a positive integer, got ${JSON.stringify(c.kSplit)}`);
  }
  const tile = { ...large, ...(c.tile as Partial<GemmTileConfig>) };
  validateGemmConfig(tile, limits, `${what}.tile`);
  return { tile, kSplit: c.kSplit as number };
}

/** A short string of every field of a tile config, for pipeline keys and benchmark labels. */
export function gemmConfigKey(c: GemmTileConfig): string {
  return `${c.bm}x${c.bn}x${c.bk}-t${c.tm}x${c.tn}${c.doubleBuffer ? '-db' : ''}-g${c.groupM}${c.fma ? '-fma' : ''}${c.unroll ? '-unroll' : ''}${c.warpLanes ? '-warp' : ''}`;
}
