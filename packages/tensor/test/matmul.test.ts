// matmul against its CPU reference on every backend: shapes that are not multiples of any tile,
// batches (folded, broadcast), every transpose, bias with every activation, a fused residual,
// f16/bf16 weights, the GEMV path (M <= 4, K = 1000), WebGPU tile configurations (split-K too),
// errors, and gradients (finite differences through gradCheck, on the reference backend and on
// every backend).
import { describe, expect, test } from 'vitest';
import {
  type DType,
  type Tensor,
  gradCheck,
  linear,
  matmul,
  setMatmulWebGpuConfig,
  tensor,
  tidy,
} from '../src/index.node.js';
import { f16ToF32, f32ToBf16, f32ToF16 } from '../src/dtype.js';
import { DEFAULT_LARGE, DEFAULT_SMALL, DEFAULT_SOFTWARE } from '../src/kernels/matmul/config.js';
import { type MatmulActivation, type MatmulOptions, matmulKernel } from '../src/kernels/matmul.js';
import { suiteBackends } from './util/backends.js';
import { type InputSpec, type KernelCase, checkKernelCase } from './util/checkKernel.js';
import { freshSeed, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

interface Spec {
  /** Logical sizes; a is [...aBatch, M, K] (or [..., K, M]), b is [...bBatch, K, N] (or [..., N, K]). */
  m: number;
  k: number;
  n: number;
  aBatch?: number[];
  bBatch?: number[];
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: boolean;
  activation?: MatmulActivation;
  bDtype?: DType;
  /** A residual of the output's shape, added last. */
  residual?: boolean;
}

const ACTIVATIONS: MatmulActivation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'quick_gelu', 'silu'];

function name(s: Spec): string {
  const batch = (b?: number[]) => (b?.length ? `[${b}]` : '');
  return [
    `${batch(s.aBatch)}${s.m}x${s.k} @ ${batch(s.bBatch)}${s.k}x${s.n}`,
    s.transposeA ? 'tA' : '',
    s.transposeB ? 'tB' : '',
    s.bias ? 'bias' : '',
    s.activation && s.activation !== 'none' ? s.activation : '',
    s.bDtype && s.bDtype !== 'f32' ? s.bDtype : '',
    s.residual ? '+ residual' : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/** f16/bf16 bits of random values (the harness's random generator only makes compute dtypes). */
function halfData(size: number, dtype: DType, seed: number): Uint16Array {
  const next = rng(seed ^ 0x5bd1e995);
  const convert = dtype === 'f16' ? f32ToF16 : f32ToBf16;
  return Uint16Array.from({ length: size }, () => convert(-2 + 4 * next()));
}

/** The output's shape: a's and b's batch dims broadcast, then [M, N]. */
function outShape(s: Spec): number[] {
  const a = s.aBatch ?? [];
  const b = s.bBatch ?? [];
  const rank = Math.max(a.length, b.length);
  const at = (d: number[], i: number) => d[i - (rank - d.length)] ?? 1;
  return [...Array.from({ length: rank }, (_, i) => Math.max(at(a, i), at(b, i))), s.m, s.n];
}

function kernelCase(s: Spec, seed: number): KernelCase {
  const aShape = [...(s.aBatch ?? []), ...(s.transposeA ? [s.k, s.m] : [s.m, s.k])];
  const bShape = [...(s.bBatch ?? []), ...(s.transposeB ? [s.n, s.k] : [s.k, s.n])];
  const bDtype = s.bDtype ?? 'f32';
  const b: InputSpec = { shape: bShape, dtype: bDtype };
  const bSize = bShape.reduce((x, y) => x * y, 1);
  if (bDtype !== 'f32') b.data = halfData(bSize, bDtype, seed);
  const inputs: InputSpec[] = [{ shape: aShape }, b];
  if (s.bias) inputs.push({ shape: [s.n] });
  if (s.residual) inputs.push({ shape: outShape(s) });
  const options = (bias?: Tensor, residual?: Tensor): MatmulOptions => ({
    transposeA: s.transposeA,
    transposeB: s.transposeB,
    activation: s.activation,
    bias,
    residual,
  });
  const run = (x?: Tensor, w?: Tensor, ...rest: Tensor[]) => {
    const [bias, residual] = s.bias ? rest : [undefined, rest[0]];
    return matmul(x!, w!, options(bias, residual));
  };
  // f32 sums of K products of values up to 4 in magnitude: the error grows with K.
  const tol = 1e-5 + 2e-6 * s.k;
  return { name: name(s), inputs, run, atol: tol, rtol: 1e-4 };
}

// On a software adapter each shader variant takes seconds to compile (cold Mesa shader cache), so
// the table reuses a few. GEMM variants differ by transposes, b's dtype and which operands allow
// vec4 access (odd sizes read scalars, multiples of 4 read vec4s): NN and TT, each with both kinds,
// cover every load path; NT and TN run with vec4s. GEMV variants differ by b's layout, M = 1 or
// M = 2..4, vec4 access and b's dtype. The half-precision cases cover both reads of each dtype.
const specs: Spec[] = [];
for (const [m, k, n] of <[number, number, number][]>[
  [1, 1, 1],
  [3, 5, 7],
  [17, 33, 65],
  [64, 64, 64],
  [129, 65, 257],
]) {
  specs.push({ m, k, n });
}
for (const [transposeA, transposeB] of [
  [false, false],
  [true, true],
  [false, true],
  [true, false],
]) {
  const same = transposeA === transposeB;
  if (same) specs.push({ m: 17, k: 33, n: 65, transposeA, transposeB, bias: true });
  if (same) specs.push({ m: 5, k: 7, n: 6, aBatch: [2, 1], bBatch: [3], transposeA, transposeB });
  specs.push({ m: 36, k: 20, n: 44, transposeA, transposeB, bias: !same }); // vec4 access to every operand
  specs.push({ m: 8, k: 12, n: 4, aBatch: [2, 1], bBatch: [3], transposeA, transposeB });
}
specs.push(
  { m: 17, k: 33, n: 65, aBatch: [2, 3] }, // b shared: batch folded into rows
  { m: 5, k: 7, n: 9, aBatch: [2, 1], bBatch: [3] },
  { m: 5, k: 8, n: 12, aBatch: [4], bBatch: [4] },
  { m: 6, k: 9, n: 7, bBatch: [3] }, // a shared by b's items
  { m: 9, k: 12, n: 16, aBatch: [2, 1, 3], bBatch: [1, 2, 1], transposeB: true },
);
for (const activation of ACTIVATIONS) {
  specs.push({ m: 17, k: 33, n: 65, bias: true, activation });
  specs.push({ m: 20, k: 16, n: 36, bias: true, activation, transposeB: true });
}
// A residual added last: the GEMM's stores (vec4 and scalar), after the activation, batched.
specs.push(
  { m: 17, k: 33, n: 65, bias: true, activation: 'gelu', residual: true },
  { m: 36, k: 20, n: 44, transposeB: true, residual: true },
  { m: 5, k: 7, n: 6, aBatch: [2, 1], bBatch: [3], transposeA: true, transposeB: true, residual: true },
);
specs.push(
  { m: 17, k: 33, n: 65, bDtype: 'f16' },
  { m: 36, k: 20, n: 44, bDtype: 'bf16', transposeA: true, transposeB: true, bias: true, activation: 'gelu' },
);
// Decode-time products: the GEMV kernels (b as [N, K] and as [K, N]).
for (const transposeB of [false, true]) {
  specs.push(
    { m: 1, k: 1000, n: 132, transposeB, bias: true },
    { m: 1, k: 999, n: 33, transposeB, activation: 'gelu_tanh' },
    { m: 1, k: 1000, n: 132, aBatch: [3], bBatch: [3], transposeB },
  );
}
specs.push(
  { m: 4, k: 1000, n: 132, transposeB: true, bias: true, activation: 'relu' },
  { m: 3, k: 1000, n: 132, transposeB: true, bDtype: 'f16' },
  { m: 4, k: 1000, n: 1, transposeB: true },
  { m: 2, k: 999, n: 33, bias: true },
  { m: 4, k: 1000, n: 133, activation: 'silu' },
  { m: 1, k: 999, n: 33, bDtype: 'bf16' },
  { m: 1, k: 1000, n: 132, aBatch: [2, 1], bBatch: [3] },
  { m: 1, k: 1, n: 5, aBatch: [2], transposeA: true },
  // The GEMV kernels' stores with a residual: b [N, K] (per column) and [K, N] (vec4 and scalar).
  { m: 1, k: 1000, n: 132, transposeB: true, bias: true, activation: 'silu', residual: true },
  { m: 3, k: 999, n: 132, bias: true, residual: true },
  { m: 2, k: 999, n: 33, aBatch: [2], residual: true },
);

describe('matmul', () => {
  test.each(specs.map((s) => [name(s), s] as const))('%s', async (_, s) => {
    const seed = freshSeed();
    await checkKernelCase(kernelCase(s, seed), reference, others, seed);
  });

  test('linear is x @ weight^T + bias', async () => {
    const seed = freshSeed();
    const c = kernelCase({ m: 6, k: 12, n: 8, aBatch: [2], transposeB: true, bias: true }, seed);
    await checkKernelCase({ ...c, run: (x, w, b) => linear(x!, w!, b) }, reference, others, seed);
  });

  test('the residual is added after the activation (the reference against add)', async () => {
    const x = tensor([1, -2, 3, -4, 5, -6], [2, 3], { backend: reference });
    const w = tensor([0.5, -1, 2, 1, 0, -0.5], [2, 3], { backend: reference });
    const bias = tensor([0.25, -3], [2], { backend: reference });
    const res = tensor([10, 20, 30, 40], [2, 2], { backend: reference });
    const plain = await matmul(x, w, { transposeB: true, bias, activation: 'relu' }).read();
    const fused = await linear(x, w, bias, res).read(); // no activation
    const withAct = await matmul(x, w, { transposeB: true, bias, activation: 'relu', residual: res }).read();
    expect([...withAct]).toEqual([...plain].map((v, i) => v + [10, 20, 30, 40][i]!));
    const product = await linear(x, w, bias).read();
    expect([...fused]).toEqual([...product].map((v, i) => v + [10, 20, 30, 40][i]!));
  });

  test('K = 0 gives act(bias)', async () => {
    const seed = freshSeed();
    const c = kernelCase({ m: 3, k: 0, n: 5, bias: true, activation: 'relu' }, seed);
    await checkKernelCase(c, reference, others, seed);
  });
});

// The tiles real GPUs use (a software adapter defaults to a 32x32 one), forced onto small shapes.
// Their shaders take 10-60 s each to compile on a software adapter, so there they run only with
// VL_MATMUL_ALL_CONFIGS=1 (tooling/device/gpu-all.sh runs them on the GPU).
const allConfigs = !!process.env.VL_MATMUL_ALL_CONFIGS;
const gpuConfigs: [string, Parameters<typeof setMatmulWebGpuConfig>[1], Spec[], boolean][] = [
  [
    'large tile (128x128x8, 8x8 per thread, double buffered)',
    { large: DEFAULT_LARGE, minLargeTiles: 1 },
    [
      { m: 129, k: 68, n: 260, bias: true, activation: 'gelu' },
      { m: 130, k: 33, n: 129, transposeA: true, transposeB: true },
      { m: 129, k: 68, n: 260, transposeB: true, bias: true, residual: true },
    ],
    true,
  ],
  [
    'small tile (64x64, 4x4 per thread, double buffered)',
    { large: DEFAULT_SMALL, minLargeTiles: 1 },
    [
      { m: 68, k: 36, n: 132, transposeA: true, transposeB: true, bias: true },
      { m: 65, k: 17, n: 67, bDtype: 'f16', transposeB: true },
    ],
    true,
  ],
  [
    '32x64 tile, double buffered, not unrolled, mul+add, groups of 3',
    {
      large: {
        bm: 32,
        bn: 64,
        bk: 16,
        tm: 4,
        tn: 4,
        doubleBuffer: true,
        unroll: false,
        fma: false,
        groupM: 3,
      },
      minLargeTiles: 1,
    },
    [{ m: 130, k: 33, n: 200, bias: true, activation: 'quick_gelu' }],
    true,
  ],
  [
    // A 8 x 8 thread grid: two subgroups of 4 x 8 threads, stacked.
    'threads in 4 x 8 blocks (warpLanes), 32x32 tile',
    {
      large: { ...DEFAULT_SOFTWARE, warpLanes: true }, // 32x32x8, 4x4 per thread
      minLargeTiles: 1,
    },
    [
      { m: 70, k: 20, n: 68, bias: true, activation: 'gelu' },
      { m: 33, k: 9, n: 35, transposeA: true, transposeB: true },
    ],
    false,
  ],
  [
    'large tile with threads in 4 x 8 blocks (warpLanes)',
    { large: { ...DEFAULT_LARGE, warpLanes: true }, minLargeTiles: 1 },
    [
      { m: 129, k: 68, n: 260, bias: true, activation: 'relu' },
      { m: 130, k: 33, n: 129, transposeB: true, activation: 'quick_gelu', residual: true },
    ],
    true,
  ],
  [
    // 13 tiles of K (bk 8 on software, 16 on a GPU: 7) in chunks of 2, the last one short; the sum
    // kernel adds the bias and applies the activation (vec4 rows, scalar rows, batch folded or not).
    'split-K: partial tiles summed by a second kernel',
    { minLargeTiles: 1_000_000, splitK: { minK: 16, chunkK: 8, workgroups: 64 } },
    [
      { m: 37, k: 100, n: 44, bias: true, activation: 'gelu' },
      { m: 33, k: 100, n: 45, transposeB: true, bias: true, activation: 'relu' },
      { m: 20, k: 64, n: 12, aBatch: [3], transposeA: true },
      { m: 9, k: 50, n: 16, aBatch: [2], bBatch: [2], bias: true, activation: 'silu' },
      { m: 37, k: 100, n: 44, bias: true, activation: 'relu', residual: true },
      { m: 33, k: 100, n: 45, transposeB: true, residual: true },
    ],
    false,
  ],
  [
    'gemv without subgroups, 8 lanes per column',
    { gemv: { subgroups: false, lanesPerColumn: 8, columnGroups: 4 } },
    [{ m: 2, k: 300, n: 70, transposeB: true, bias: true }],
    false,
  ],
  [
    'gemv up to M = 8, 64 lanes per column',
    { gemv: { maxM: 8, lanesPerColumn: 64, columnGroups: 64 } },
    [{ m: 7, k: 300, n: 300, activation: 'silu' }],
    false,
  ],
];

describe('matmul on WebGPU with other configurations', () => {
  test.for(gpuConfigs)('%s', async ([, config, configSpecs, heavy], ctx) => {
    const gpu = others.find((o) => o.label === 'webgpu');
    if (!gpu) return;
    if (heavy && !allConfigs && /software/.test(gpu.backend.name)) {
      console.warn(`skipped on ${gpu.backend.name}: set VL_MATMUL_ALL_CONFIGS=1 to run it`);
      ctx.skip(`slow to compile on ${gpu.backend.name}; VL_MATMUL_ALL_CONFIGS=1 runs it`);
    }
    setMatmulWebGpuConfig(gpu.backend, config);
    try {
      for (const s of configSpecs) {
        const seed = freshSeed();
        await checkKernelCase(kernelCase(s, seed), reference, [gpu], seed);
      }
    } finally {
      setMatmulWebGpuConfig(gpu.backend, undefined);
    }
  });

  test('a configuration that does not fit is rejected', () => {
    const gpu = others.find((o) => o.label === 'webgpu');
    if (!gpu) return;
    // tn is the device default's: 4 on a software adapter, 8 on a GPU.
    expect(() => setMatmulWebGpuConfig(gpu.backend, { large: { tm: 6 } })).toThrow(
      /tm=6 and tn=\d+ must be multiples of 4/,
    );
    expect(() =>
      setMatmulWebGpuConfig(gpu.backend, { large: { bm: 32, bn: 16, tm: 4, tn: 4, warpLanes: true } }),
    ).toThrow(/warpLanes needs a thread grid of multiples of 4 x 8 \(bm \/ tm = 8, bn \/ tn = 4\)/);
    expect(() => setMatmulWebGpuConfig(gpu.backend, { large: { bm: 256, bn: 256, bk: 64 } })).toThrow(
      /bytes of workgroup memory exceed/,
    );
    expect(() => setMatmulWebGpuConfig(gpu.backend, { splitK: { chunkK: 0 } })).toThrow(
      /splitK .*must be positive integers/,
    );
    expect(() => setMatmulWebGpuConfig(reference, {})).toThrow(/needs a webgpu backend/);
  });
});

describe('matmul errors', () => {
  const t = (shape: number[]) =>
    tensor(new Float32Array(shape.reduce((x, y) => x * y, 1)), shape, { backend: reference });

  test('inner dims mismatch names both shapes and the transposes', () => {
    expect(() => matmul(t([2, 3]), t([4, 5]))).toThrow(
      'matmul: inner dims differ: a [2, 3] (transposeA=false) has K=3 but b [4, 5] (transposeB=false) has K=4',
    );
    expect(() => matmul(t([2, 3]), t([2, 3]), { transposeB: true, transposeA: true })).toThrow(
      'a [2, 3] (transposeA=true) has K=2 but b [2, 3] (transposeB=true) has K=3',
    );
  });

  test('batch dims that do not broadcast are named', () => {
    expect(() => matmul(t([2, 3, 4]), t([3, 4, 5]))).toThrow(
      'matmul: batch dims of a [2, 3, 4] and b [3, 4, 5] cannot be broadcast together ([2] vs [3])',
    );
  });

  test('a residual of the wrong shape or dtype is named', () => {
    expect(() => matmul(t([2, 3]), t([3, 5]), { residual: t([5]) })).toThrow(
      'matmul: residual has shape [5] but the output is [2, 5] (a [2, 3], b [3, 5]); it is added as is, not broadcast',
    );
    const ints = tensor(new Int32Array(10), [2, 5], { backend: reference });
    expect(() => matmul(t([2, 3]), t([3, 5]), { residual: ints })).toThrow(
      'matmul: residual must be f32, got i32[2, 5]',
    );
  });

  test('a bias of the wrong size is named', () => {
    expect(() => matmul(t([2, 3]), t([3, 5]), { bias: t([4]) })).toThrow(
      'matmul: bias has shape [4] but the output has N=5 columns (expected [5]); a [2, 3], b [3, 5]',
    );
  });

  test('bad dtypes, ranks and activations are named', () => {
    const ints = tensor(new Int32Array(6), [2, 3], { backend: reference });
    expect(() => matmul(ints, t([3, 2]))).toThrow('matmul: a must be f32, got i32[2, 3]');
    expect(() => matmul(t([3]), t([3, 2]))).toThrow('matmul: a f32[3] must have at least 2 dims');
    expect(() => matmul(t([2, 3]), t([3, 2]), { activation: 'tanh' as MatmulActivation })).toThrow(
      'matmul: unknown activation "tanh"',
    );
  });
});

describe('matmul gradients', () => {
  const grads: Spec[] = [
    { m: 3, k: 4, n: 5 },
    { m: 3, k: 4, n: 5, transposeA: true },
    { m: 3, k: 4, n: 5, transposeB: true, bias: true },
    { m: 2, k: 3, n: 4, transposeA: true, transposeB: true, bias: true },
    { m: 2, k: 3, n: 4, aBatch: [2], bias: true }, // shared weights: folded db
    { m: 2, k: 3, n: 4, aBatch: [2], transposeB: true },
    { m: 2, k: 3, n: 4, aBatch: [2], transposeA: true },
    { m: 2, k: 3, n: 2, aBatch: [2, 1], bBatch: [3], transposeB: true },
    { m: 3, k: 4, n: 5, transposeB: true, bias: true, activation: 'silu', residual: true },
    { m: 2, k: 3, n: 4, aBatch: [2], residual: true },
    ...ACTIVATIONS.filter((a) => a !== 'none').map((activation) => ({
      m: 2,
      k: 3,
      n: 4,
      bias: true,
      activation,
    })),
  ];
  test.each(grads.map((s) => [name(s), s] as const))('%s', async (_, s) => {
    const seed = freshSeed();
    const next = rng(seed);
    const aShape = [...(s.aBatch ?? []), ...(s.transposeA ? [s.k, s.m] : [s.m, s.k])];
    const bShape = [...(s.bBatch ?? []), ...(s.transposeB ? [s.n, s.k] : [s.k, s.n])];
    // Values away from 0 keep relu's kink out of the finite differences' reach.
    const random = (shape: number[]) => {
      const data = Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => {
        const v = 0.2 + next();
        return next() < 0.5 ? -v : v;
      });
      return tensor(data, shape, { backend: reference });
    };
    const draw = () =>
      tidy(() => [
        random(aShape),
        random(bShape),
        ...(s.bias ? [random([s.n])] : []),
        ...(s.residual ? [random(outShape(s))] : []),
      ]);
    let inputs = draw();
    // relu's kink: also keep every pre-activation at least 0.01 from 0 (a step of eps = 1e-3 in one
    // input moves it by at most ~1.2e-3), drawing again from the same stream until it is.
    for (let tries = 0; s.activation === 'relu' && tries < 100; tries++) {
      const [a, b, bias] = inputs;
      const pre = matmul(a!, b!, { transposeA: s.transposeA, transposeB: s.transposeB, bias });
      const nearKink = Array.from(await pre.read()).some((z) => Math.abs(z) < 0.01);
      pre.dispose();
      if (!nearKink) break;
      for (const x of inputs) x.dispose();
      inputs = draw();
    }
    const r = await gradCheck(
      (a, b, ...rest) =>
        matmul(a!, b!, {
          transposeA: s.transposeA,
          transposeB: s.transposeB,
          activation: s.activation,
          bias: s.bias ? rest[0] : undefined,
          residual: s.residual ? rest[rest.length - 1] : undefined,
        }),
      inputs,
      { eps: 1e-3, rtol: 2e-2, atol: 2e-3 },
    );
    for (const x of inputs) x.dispose();
    expect(r.ok, `${r.message} (seed ${seed})`).toBe(true);
  });

  test('gradients run on every backend', async () => {
    for (const { label, backend } of others) {
      // Shapes whose GEMM variants the table already compiled (NT forward, NN and TN backward).
      const values = (n: number) => Array.from({ length: n }, (_, i) => Math.sin(i + 1));
      const a = tensor(values(20), [5, 4], { backend });
      const b = tensor(values(32), [8, 4], { backend });
      const bias = tensor(values(8), [8], { backend });
      const r = await gradCheck((x, w, c) => linear(x!, w!, c), [a, b, bias], { eps: 1e-2 });
      for (const x of [a, b, bias]) x.dispose();
      expect(r.ok, `${label}: ${r.message}`).toBe(true);
    }
  });

  test('half-precision weights get a gradient of their dtype', async () => {
    const a = tensor([0.5, -1, 2, 0.3, 1.5, -0.7], [3, 2], { backend: reference });
    const w = tensor(Uint16Array.from([1, 0.5, -0.25, 2], f32ToF16), [2, 2], {
      backend: reference,
      dtype: 'f16',
    });
    const w32 = tensor([1, 0.5, -0.25, 2], [2, 2], { backend: reference });
    const r = await gradCheck((x, y) => matmul(x!, y!, { activation: 'silu' }), [a, w], { wrt: [0] });
    expect(r.ok, r.message).toBe(true);
    const attrs = { transposeA: false, transposeB: true, activation: 'silu' as const };
    const [dw, dw32] = tidy(() => {
      const dy = tensor([1, -2, 0.5, 0.25, 3, -1], [3, 2], { backend: reference });
      const grad = (weight: Tensor) =>
        matmulKernel.grad!({ dy: [dy], inputs: [a, weight], outputs: [matmul(a, weight, attrs)], attrs })[1]!;
      return [grad(w), grad(w32)];
    });
    expect(dw!.dtype).toBe('f16');
    expect(Array.from(await dw!.read(), f16ToF32)).toEqual(
      Array.from(await dw32!.read(), (v) => f16ToF32(f32ToF16(v))),
    );
    for (const x of [a, w, w32, dw!, dw32!]) x.dispose();
  });
});
