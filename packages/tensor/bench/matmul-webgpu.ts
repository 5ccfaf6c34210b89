// f32 matmul on WebGPU: vl's tiled kernel against @tensorflow/tfjs-backend-webgpu on the same Dawn
// GPU in the same process, with an optional sweep over tile configurations.
//
//   cd packages/tensor && node --conditions=source --import tsx bench/matmul-webgpu.ts [options]
//
//   --sizes 1024,2048,4096   square sizes (default; the largest also with b [N, K], nn.Linear's
//                            layout); use 256,512 on a software adapter
//   --sweep                  time every tile configuration in SWEEP at the largest size first
//                            (tuneMatmulWebGpu), then run the comparison with the fastest one (and
//                            the default)
//   --sweep-only 0,13        sweep only these entries of SWEEP (a software adapter compiles slowly)
//   --gemv                   also decode-time products: [1, n] @ [n, n]^T in f32 and with f16 weights,
//                            and with q8/q4 weights at --gemv-sizes (default 4096,8192,16384),
//                            reported as GB/s of weight bytes read
//   --no-tfjs                skip the tfjs baseline
//   --dawn <toggles>         Dawn instance options, comma-separated (default
//                            enable-dawn-features=disable_robustness,disable_workgroup_init; "none" for none)
//   --reps 5                 timed repetitions per case (the median is reported)
//   --target-ms 300          queued work per repetition: enough iterations to fill it
//   --out <file>             default bench/results/matmul-webgpu.json
//
// Each repetition queues many iterations and waits once (backend.sync() for vl, submitQueue() plus
// onSubmittedWorkDone() for tfjs), so the time is the GPU's, not the round trip's. The configs
// compared and tfjs are checked against each other's result once per size, so a fast but wrong
// config is reported; the sweep skips a config whose result differs from the default tile's.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';
import {
  type Backend,
  type Tensor,
  createBackend,
  matmul,
  setMatmulWebGpuConfig,
  tensor,
  tuneMatmulWebGpu,
} from '../src/index.node.js';
import { f32ToF16 } from '../src/dtype.js';
import { quantizeArray } from '../src/kernels/quantize/codec.js';
import {
  DEFAULT_LARGE,
  type GemmTileConfig,
  type GemvConfig,
  gemmConfigKey,
} from '../src/kernels/matmul/config.js';
import type { TfjsCore, TfjsTensor } from '../src/kernel.js';
import { maxRelDiff } from '../src/kernels/matmul/tune.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const SIZES = arg('sizes', '1024,2048,4096').split(',').map(Number);
const GEMV_SIZES = arg('gemv-sizes', '4096,8192,16384').split(',').map(Number);
const REPS = Number(arg('reps', '5'));
const TARGET_MS = Number(arg('target-ms', '300'));
const DAWN = arg('dawn', 'enable-dawn-features=disable_robustness,disable_workgroup_init');
const OUT = arg(
  'out',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'matmul-webgpu.json'),
);

/** GEMV configurations the sweep tries with --gemv. */
const GEMV_SWEEP: Partial<GemvConfig>[] = [
  { lanesPerColumn: 32, columnGroups: 8 },
  { lanesPerColumn: 16, columnGroups: 4 },
  { lanesPerColumn: 64, columnGroups: 16 },
  { lanesPerColumn: 32, columnGroups: 8, subgroups: false },
];

/** Large-tile configurations the sweep tries (those that do not fit the device are skipped). */
const SWEEP: GemmTileConfig[] = [
  DEFAULT_LARGE,
  // Subgroups as interleaved 4 x 8 blocks of threads: half the shared-memory cycles per fragment
  // read on NVIDIA, by the lane-pair rule (config.ts, warpLanes). First, so a cut run has them.
  { ...DEFAULT_LARGE, warpLanes: true },
  { ...DEFAULT_LARGE, bm: 128, bn: 256, tm: 8, tn: 16, warpLanes: true },
  { ...DEFAULT_LARGE, bm: 128, bn: 256, tm: 8, tn: 16, doubleBuffer: false, warpLanes: true },
  { ...DEFAULT_LARGE, bk: 16, warpLanes: true },
  { ...DEFAULT_LARGE, bk: 16 },
  { ...DEFAULT_LARGE, doubleBuffer: false },
  { ...DEFAULT_LARGE, bm: 128, bn: 256, tm: 8, tn: 16 },
  { ...DEFAULT_LARGE, bm: 256, bn: 128, tm: 16, tn: 8 },
  { ...DEFAULT_LARGE, bm: 128, bn: 256, tm: 8, tn: 16, doubleBuffer: false },
  { ...DEFAULT_LARGE, groupM: 4 },
  { ...DEFAULT_LARGE, bk: 32, doubleBuffer: false },
  { ...DEFAULT_LARGE, unroll: false },
  { ...DEFAULT_LARGE, fma: false },
  { ...DEFAULT_LARGE, groupM: 1 },
  { ...DEFAULT_LARGE, groupM: 16 },
  { ...DEFAULT_LARGE, bm: 64, bn: 128, bk: 16, tm: 4, tn: 8 },
  { ...DEFAULT_LARGE, bm: 128, bn: 64, bk: 16, tm: 8, tn: 4 },
  { ...DEFAULT_LARGE, bm: 128, bn: 256, bk: 16, tm: 8, tn: 16 },
  { ...DEFAULT_LARGE, bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
  { ...DEFAULT_LARGE, bm: 64, bn: 64, bk: 16, tm: 8, tn: 8 },
];

interface Case {
  name: string;
  m: number;
  k: number;
  n: number;
  transposeB: boolean;
  bDtype: 'f32' | 'f16' | 'q8' | 'q4';
}

interface Impl {
  name: string;
  /** Uploads the inputs; returns a function queueing `iters` products, a sync and a result reader. */
  setup(
    c: Case,
    a: Float32Array,
    b: Float32Array,
  ): Promise<{
    queue(iters: number): void;
    sync(): Promise<void>;
    result(): Promise<Float32Array>;
    dispose(): void;
  }>;
}

interface Result {
  name: string;
  impl: string;
  medianMs: number;
  gflops: number;
  /** Decode shapes: GB/s of weight bytes read. */
  weightGBs?: number;
  maxRelDiff?: number;
  config?: GemmTileConfig;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function random(size: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: size }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 2 - 1;
  });
}

function vlImpl(backend: Backend, label: string, config?: GemmTileConfig, gemv?: Partial<GemvConfig>): Impl {
  return {
    name: label,
    async setup(c, a, b) {
      setMatmulWebGpuConfig(
        backend,
        config || gemv ? { ...(config ? { large: config, minLargeTiles: 1 } : {}), gemv } : undefined,
      );
      const ta = tensor(a, [c.m, c.k], { backend });
      const bShape = c.transposeB ? [c.n, c.k] : [c.k, c.n];
      const tb =
        c.bDtype === 'f16'
          ? tensor(Uint16Array.from(b, f32ToF16), bShape, { backend, dtype: 'f16' })
          : c.bDtype === 'q8' || c.bDtype === 'q4'
            ? tensor(quantizeArray(b, c.bDtype), bShape, { backend, dtype: c.bDtype })
            : tensor(b, bShape, { backend });
      let last: Tensor | undefined;
      return {
        queue(iters) {
          for (let i = 0; i < iters; i++) {
            last?.dispose();
            last = matmul(ta, tb, { transposeB: c.transposeB });
          }
        },
        sync: () => backend.sync(),
        result: () => last!.read() as Promise<Float32Array>,
        dispose() {
          last?.dispose();
          ta.dispose();
          tb.dispose();
          setMatmulWebGpuConfig(backend, undefined);
        },
      };
    },
  };
}

function tfjsImpl(tf: TfjsCore): Impl {
  // biome-ignore lint/suspicious/noExplicitAny: tfjs-backend-webgpu's backend class is not typed here
  const be = () => tf.backend() as any;
  return {
    name: 'tfjs-backend-webgpu',
    async setup(c, a, b) {
      const ta = tf.tensor2d(a, [c.m, c.k]);
      const tb = tf.tensor2d(b, c.transposeB ? [c.n, c.k] : [c.k, c.n]);
      let last: TfjsTensor | undefined;
      return {
        queue(iters) {
          for (let i = 0; i < iters; i++) {
            last?.dispose();
            last = tf.matMul(ta, tb, false, c.transposeB);
          }
        },
        async sync() {
          be().ensureCommandEncoderReady();
          be().endComputePassEncoder();
          be().submitQueue();
          await be().device.queue.onSubmittedWorkDone();
        },
        result: async () => (await last.data()) as Float32Array,
        dispose() {
          last?.dispose();
          ta.dispose();
          tb.dispose();
        },
      };
    },
  };
}

/** Times one implementation on one case; returns the median ms per product and the last result. */
async function measure(
  impl: Impl,
  c: Case,
  a: Float32Array,
  b: Float32Array,
): Promise<{ ms: number; out: Float32Array }> {
  const run = await impl.setup(c, a, b);
  try {
    run.queue(1);
    const out = await run.result(); // compiles the pipelines and checks the device works
    let t0 = performance.now();
    run.queue(1);
    await run.sync();
    const one = Math.max(performance.now() - t0, 0.01);
    const iters = Math.max(1, Math.min(2000, Math.ceil(TARGET_MS / one)));
    const times: number[] = [];
    for (let r = 0; r < REPS; r++) {
      t0 = performance.now();
      run.queue(iters);
      await run.sync();
      times.push((performance.now() - t0) / iters);
    }
    return { ms: median(times), out };
  } finally {
    run.dispose();
  }
}

async function main(): Promise<void> {
  const gpu = create(DAWN === 'none' ? [] : DAWN.split(' '));
  for (const [key, value] of Object.entries(globals as Record<string, unknown>)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  // tfjs-backend-webgpu registers itself only if navigator.gpu exists when it is imported.
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const backend = await createBackend('webgpu', { webgpu: { gpu } });
  let tf: TfjsCore | undefined;
  if (!flag('no-tfjs')) {
    tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    await tf.setBackend('webgpu');
    await tf.ready();
  }
  const machine = `${backend.name}; Dawn options: ${DAWN}; ${os.cpus()[0]?.model ?? 'cpu'}; node ${process.version}`;
  console.log(machine);

  const cases: Case[] = SIZES.map((n) => ({
    name: `${n}x${n}x${n} f32`,
    m: n,
    k: n,
    n,
    transposeB: false,
    bDtype: 'f32',
  }));
  // The layout of every nn.Linear weight (b [N, K], both operands read along K), at the largest size.
  const top = Math.max(...SIZES);
  cases.push({
    name: `${top}x${top}x${top} f32 (b [N, K])`,
    m: top,
    k: top,
    n: top,
    transposeB: true,
    bDtype: 'f32',
  });
  if (flag('gemv')) {
    for (const n of SIZES) {
      cases.push({ name: `1x${n}x${n} f32 (b [N, K])`, m: 1, k: n, n, transposeB: true, bDtype: 'f32' });
      cases.push({ name: `1x${n}x${n} f16 b (b [N, K])`, m: 1, k: n, n, transposeB: true, bDtype: 'f16' });
    }
    // Quantized weights (the LLM decode case), up to sizes where the weight read dominates the
    // dispatch: GB/s of weight bytes against the GPU's memory bandwidth is the figure of merit.
    for (const n of GEMV_SIZES) {
      for (const bDtype of ['f32', 'q8', 'q4'] as const) {
        if (bDtype === 'f32' && SIZES.includes(n)) continue;
        cases.push({ name: `1x${n}x${n} ${bDtype} b (b [N, K])`, m: 1, k: n, n, transposeB: true, bDtype });
      }
    }
  }
  const inputs = (c: Case) => [random(c.m * c.k, c.m * 31 + c.k), random(c.k * c.n, c.n * 17 + 5)] as const;
  const results: Result[] = [];
  const report = (c: Case, impl: string, ms: number, extra: Partial<Result> = {}) => {
    const gflops = (2 * c.m * c.n * c.k) / (ms * 1e6);
    // Decode shapes: bytes of b read per product (values and scales), as GB/s. tfjs always reads f32.
    const perValue = { f32: 4, f16: 2, q8: 1.125, q4: 0.625 }[impl.startsWith('tfjs') ? 'f32' : c.bDtype];
    const weightGBs = c.m === 1 ? (perValue * c.n * c.k) / (ms * 1e6) : undefined;
    results.push({ name: c.name, impl, medianMs: ms, gflops, ...(weightGBs ? { weightGBs } : {}), ...extra });
    const diff = extra.maxRelDiff !== undefined ? `  max rel diff ${extra.maxRelDiff.toExponential(1)}` : '';
    const rate =
      weightGBs !== undefined
        ? `${weightGBs.toFixed(1)} GB/s`
        : gflops >= 1000
          ? `${(gflops / 1000).toFixed(2)} TFLOP/s`
          : `${gflops.toFixed(1)} GFLOP/s`;
    console.log(
      `${c.name.padEnd(28)} ${impl.padEnd(48)} ${ms.toFixed(3).padStart(10)} ms ${rate.padStart(15)}${diff}`,
    );
  };

  let best: GemmTileConfig | undefined;
  if (flag('sweep')) {
    const n = Math.max(...SIZES);
    const c = cases.find((x) => x.m === n && x.k === n)!;
    console.log(`\nsweep at ${c.name} (tuneMatmulWebGpu: checked against the default tile)`);
    const only = arg('sweep-only', '');
    const candidates = only ? only.split(',').map((i) => SWEEP[Number(i)]!) : SWEEP;
    const tried = await tuneMatmulWebGpu(backend, {
      m: c.m,
      n: c.n,
      k: c.k,
      candidates,
      targetMs: TARGET_MS * 3,
      apply: false,
    });
    for (const { config, ms, skipped } of tried) {
      const label = `vl ${gemmConfigKey(config)}`;
      if (skipped) console.log(`${label}: skipped (${skipped})`);
      else report(c, label, ms, { config });
    }
    best = tried[0]?.skipped ? undefined : tried[0]?.config;
    if (best) console.log(`best: ${gemmConfigKey(best)} (${JSON.stringify(best)})`);
    if (flag('gemv')) {
      for (const g of cases.filter((x) => x.m === 1 && x.k === n)) {
        const [ga, gb] = inputs(g);
        const ref = tf ? (await measure(tfjsImpl(tf), g, ga, gb)).out : undefined;
        for (const gemv of GEMV_SWEEP) {
          const label = `vl gemv ${JSON.stringify(gemv).replace(/"/g, '')}`;
          const { ms, out } = await measure(vlImpl(backend, label, undefined, gemv), g, ga, gb);
          report(g, label, ms, { maxRelDiff: ref ? maxRelDiff(out, ref) : undefined });
        }
      }
    }
  }

  console.log('\ncomparison');
  for (const c of cases) {
    const [a, b] = inputs(c);
    const impls: [Impl, GemmTileConfig | undefined][] = [[vlImpl(backend, 'vl (default config)'), undefined]];
    if (best && c.m > 1) impls.push([vlImpl(backend, `vl ${gemmConfigKey(best)}`, best), best]);
    let reference: Float32Array | undefined;
    let tfjsMs: number | undefined;
    if (tf) {
      const r = await measure(tfjsImpl(tf), c, a, b);
      reference = r.out;
      tfjsMs = r.ms;
      report(c, 'tfjs-backend-webgpu', r.ms);
    }
    for (const [impl, config] of impls) {
      const { ms, out } = await measure(impl, c, a, b);
      const diff = reference ? maxRelDiff(out, reference) : undefined;
      report(c, impl.name, ms, { maxRelDiff: diff, config });
      if (tfjsMs)
        console.log(
          `${''.padEnd(28)} ${'  ratio vs tfjs'.padEnd(48)} ${(tfjsMs / ms).toFixed(2).padStart(10)}x`,
        );
    }
  }

  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify({ machine, best, cases: results }, null, 2)}\n`);
  console.log(`\nwrote ${OUT}`);
  backend.dispose();
  if (tf) tf.engine().reset();
}

await main();
process.exit(0);
