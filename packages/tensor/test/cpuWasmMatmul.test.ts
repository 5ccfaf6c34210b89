// The WebAssembly matmul of the CPU backend against a plain JS reference (f64 accumulation, exact
// activations): shapes that are not multiples of the 4x8 tile or the cache blocks, every transpose
// combination, broadcast batches, bias and every activation, on one and on two threads.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TensorInfo } from '../src/backend.js';
import type { HostTensor } from '../src/kernel.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../src/dtype.js';
import type { CpuAccelerated } from '../src/backends/cpu/CpuBackend.js';
import {
  type CpuAcceleration,
  createCpuAcceleration,
} from '../src/backends/cpu/wasm/createCpuAcceleration.js';
import type { MatmulActivation } from '../src/backends/cpu/wasm/matmulPlan.js';

// erfc in double precision, relatively accurate in the tail (GELU's negative side is x * erfc/2):
// the Maclaurin series of erf below 2.5, a continued fraction above.
function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2) / sqrt(pi) / (x + 1/2 / (x + 1 / (x + 3/2 / (x + ...)))), from the inside out
  let f = x;
  for (let n = 80; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const ACTIVATIONS: Record<MatmulActivation, (x: number) => number> = {
  none: (x) => x,
  relu: (x) => Math.max(x, 0),
  gelu: (x) => 0.5 * x * erfc(-x / Math.SQRT2),
  // 0.5x(1 + tanh(u)) written as x * sigmoid(2u): equal, but without the cancellation for u << 0
  gelu_tanh: (x) => x * sigmoid(2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)),
  quick_gelu: (x) => x * sigmoid(1.702 * x),
  silu: (x) => x * sigmoid(x),
};

interface Case {
  a: number[]; // shape of a as stored (already transposed where transA)
  b: number[];
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  activation?: MatmulActivation;
}

function random(size: number): Float32Array {
  return Float32Array.from({ length: size }, () => Math.random() * 2 - 1);
}

const product = (dims: readonly number[]): number => dims.reduce((x, y) => x * y, 1);

/** The reference: broadcast batches, transposes, f64 sums, bias, activation. */
function reference(
  c: Case,
  a: Float32Array,
  b: Float32Array,
  bias: Float32Array | undefined,
): { shape: number[]; data: Float32Array } {
  const [a0, a1] = c.a.slice(-2) as [number, number];
  const [b0, b1] = c.b.slice(-2) as [number, number];
  const [M, K] = c.transA ? [a1, a0] : [a0, a1];
  const N = c.transB ? b0 : b1;
  const aBatch = c.a.slice(0, -2);
  const bBatch = c.b.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const pa = pad(aBatch);
  const pb = pad(bBatch);
  const batch = pa.map((d, i) => Math.max(d, pb[i]!));
  const out = new Float32Array(product(batch) * M * N);
  const act = ACTIVATIONS[c.activation ?? 'none'];
  for (let item = 0; item < product(batch); item++) {
    // unravel item, then ravel into a's and b's (broadcast) batch indices
    let rest = item;
    let ai = 0;
    let bi = 0;
    let aMul = 1;
    let bMul = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const idx = rest % batch[d]!;
      rest = Math.floor(rest / batch[d]!);
      ai += (pa[d] === 1 ? 0 : idx) * aMul;
      bi += (pb[d] === 1 ? 0 : idx) * bMul;
      aMul *= pa[d]!;
      bMul *= pb[d]!;
    }
    const ao = ai * M * K;
    const bo = bi * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const av = a[ao + (c.transA ? k * M + m : m * K + k)]!;
          const bv = b[bo + (c.transB ? n * K + k : k * N + n)]!;
          sum += av * bv;
        }
        out[item * M * N + m * N + n] = act(sum + (bias ? bias[n]! : 0));
      }
    }
  }
  return { shape: [...batch, M, N], data: out };
}

/** Checks one call against the reference; `b` defaults to fresh random values. */
function check(matmul: CpuAccelerated, c: Case, b = random(product(c.b))): void {
  const a = random(product(c.a));
  const K = c.transA ? c.a[c.a.length - 2]! : c.a[c.a.length - 1]!;
  const N = c.transB ? c.b[c.b.length - 2]! : c.b[c.b.length - 1]!;
  const bias = c.bias ? random(N) : undefined;
  const expected = reference(c, a, b, bias);
  const inputs: HostTensor[] = [
    { data: a, shape: c.a, dtype: 'f32' },
    { data: b, shape: c.b, dtype: 'f32' },
  ];
  if (bias) inputs.push({ data: bias, shape: [N], dtype: 'f32' });
  const outputs: TensorInfo[] = [{ shape: expected.shape, dtype: 'f32' }];
  const attrs = {
    transposeA: c.transA ?? false,
    transposeB: c.transB ?? false,
    activation: c.activation ?? 'none',
  };
  const result = matmul(inputs, attrs, outputs);
  expect(result, JSON.stringify(c)).toBeDefined();
  const actual = result![0]!;
  expect(actual).toBeInstanceOf(Float32Array);
  expect(actual.length).toBe(expected.data.length);
  let maxErr = 0;
  for (let i = 0; i < actual.length; i++) maxErr = Math.max(maxErr, Math.abs(actual[i]! - expected.data[i]!));
  // f32 sums of K products of values in [-1, 1] err by ~3e-8 * K here; 1e-5 * K would be too loose
  // to tell gelu from gelu_tanh (they differ by up to ~5e-4). NaN fails this comparison too.
  const tolerance = 2e-7 * K + 1e-6;
  expect(maxErr <= tolerance, `${JSON.stringify(c)}: max abs error ${maxErr} > ${tolerance}`).toBe(true);
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [17, 33, 65],
  [64, 64, 64],
  [130, 257, 129],
  [257, 130, 300], // rows split across threads; K over one cache block
  [1, 300, 70], // a single row: B read in place, no packing
  [3, 1000, 33],
  [5, 11, 520],
];

function shapeCase(M: number, N: number, K: number, transA: boolean, transB: boolean): Case {
  return { a: transA ? [K, M] : [M, K], b: transB ? [N, K] : [K, N], transA, transB };
}

// Node 20 validates relaxed SIMD only behind a V8 flag, which createCpuAcceleration turns on; the
// flag is process-wide, so the plain builds are requested explicitly (relaxedSimd: false).

for (const [threads, relaxedSimd] of [
  [1, false],
  [2, false],
  [2, true],
] as const) {
  describe(`wasm matmul, ${threads} thread(s)${relaxedSimd ? ', relaxed SIMD' : ''}`, () => {
    let acceleration: CpuAcceleration;
    let matmul: CpuAccelerated;
    beforeAll(async () => {
      acceleration = await createCpuAcceleration({ threads, relaxedSimd });
      matmul = acceleration.accelerated.get('matmul')!;
    });
    afterAll(() => acceleration.dispose());

    test('describes itself', () => {
      const flavor = relaxedSimd ? 'relaxed-simd' : 'simd';
      expect(acceleration.description).toBe(`wasm-${flavor}, ${threads} thread${threads === 1 ? '' : 's'}`);
    });

    test('2-D shapes off the tile sizes, every transpose combination', () => {
      for (const [M, N, K] of SHAPES) {
        for (const transA of [false, true])
          for (const transB of [false, true]) check(matmul, shapeCase(M, N, K, transA, transB));
      }
    });

    test('broadcast batches', () => {
      const cases: Case[] = [
        { a: [5, 7, 9], b: [9, 11] }, // folded into one [35, 9] @ [9, 11]
        { a: [7, 9], b: [4, 9, 11] },
        { a: [2, 3, 13, 9], b: [3, 9, 20] },
        { a: [2, 1, 13, 9], b: [1, 3, 9, 20] },
        { a: [4, 9, 13], b: [4, 20, 9], transA: true, transB: true },
        { a: [3, 70, 65], b: [65, 90] }, // folded, split over threads
        { a: [6, 40, 64], b: [6, 40, 64], transB: true }, // attention scores q @ k^T
        { a: [6, 40, 40], b: [6, 40, 64] }, // attention weights @ v
        { a: [2, 1, 1, 33], b: [33, 17] }, // M = 1 rows, folded
      ];
      for (const c of cases) check(matmul, c);
    });

    test('bias and every activation', () => {
      for (const activation of Object.keys(ACTIVATIONS) as MatmulActivation[]) {
        for (const [M, N, K] of [
          [17, 33, 65],
          [67, 130, 129],
          [2, 37, 16],
        ] as const) {
          check(matmul, { ...shapeCase(M, N, K, false, true), bias: true, activation });
          check(matmul, { ...shapeCase(M, N, K, true, false), activation });
        }
        check(matmul, { a: [3, 20, 30], b: [30, 50], bias: true, activation });
      }
    });

    test('large outputs and inputs of gelu stay accurate', () => {
      // Outputs of |x| up to ~30 probe the exp/erf range reduction and saturation.
      const M = 8;
      const N = 64;
      const K = 900;
      for (const activation of ['gelu', 'gelu_tanh', 'quick_gelu', 'silu'] as const)
        check(matmul, { a: [M, K], b: [K, N], activation });
    });

    test('a long K splits the columns into several packed panels', () => {
      // K * N exceeds one thread's packed-B workspace (1M floats): several column tasks.
      check(matmul, shapeCase(8, 300, 3600, false, true));
      check(matmul, shapeCase(8, 300, 3600, true, false));
      check(matmul, { ...shapeCase(3, 300, 3600, false, false), bias: true, activation: 'relu' }); // B read in place
    });

    test('activations stay relatively accurate far into their tails', () => {
      // [1, 1] @ [1, N] = the inputs themselves, exactly: this isolates the epilogue.
      const xs = [...Array.from({ length: 241 }, (_, i) => -12 + i / 10), -100, -50, -20, 20, 50, 100];
      const b = Float32Array.from(xs);
      const one: HostTensor = { data: Float32Array.of(1), shape: [1, 1], dtype: 'f32' };
      for (const activation of Object.keys(ACTIVATIONS) as MatmulActivation[]) {
        const attrs = { transposeA: false, transposeB: false, activation };
        const y = matmul([one, { data: b, shape: [1, b.length], dtype: 'f32' }], attrs, [
          { shape: [1, b.length], dtype: 'f32' },
        ])![0]!;
        b.forEach((x, i) => {
          const want = ACTIVATIONS[activation](x);
          const got = y[i]!;
          // relative where the value is a normal f32 far from underflow, absolute below that
          const ok =
            Math.abs(want) > 1e-30 ? Math.abs(got - want) <= 2e-5 * Math.abs(want) : Math.abs(got) <= 1e-30;
          expect(ok, `${activation}(${x}) = ${got}, expected ${want}`).toBe(true);
        });
      }
    });

    test('a weight used again is packed once, then read packed by every row count', () => {
      // From its second use a B that is a whole matrix (a weight) stays in the memory packed;
      // later calls skip packing and cut their tasks differently. Row counts from a single row to
      // several MC blocks, both layouts, bias and activation, with the same weights each time.
      for (const transB of [false, true]) {
        const [N, K] = [83, 300];
        const b = random(N * K);
        for (const M of [7, 7, 1, 4, 50, 130, 300]) {
          const c: Case = { ...shapeCase(M, N, K, false, transB), bias: true, activation: 'gelu' };
          check(matmul, c, b);
        }
      }
    });

    test('back-to-back jobs give identical results (no job overlaps another)', () => {
      // Each output element is summed by one thread in a fixed order, so results are bitwise
      // deterministic whichever thread (or how many) computed it. Shapes around the threshold
      // where jobs start going to the worker exercise its take/withdraw handshake.
      const shapes: [number, number, number][] = [
        [100, 100, 100],
        [40, 130, 200],
        [96, 96, 96],
      ];
      const jobs = shapes.map(([M, N, K]) => {
        const inputs: HostTensor[] = [
          { data: random(M * K), shape: [M, K], dtype: 'f32' },
          { data: random(N * K), shape: [N, K], dtype: 'f32' },
          { data: random(N), shape: [N], dtype: 'f32' },
        ];
        const attrs = { transposeA: false, transposeB: true, activation: 'silu' };
        const outputs: TensorInfo[] = [{ shape: [M, N], dtype: 'f32' }];
        return { inputs, attrs, outputs, first: matmul(inputs, attrs, outputs)![0]! };
      });
      for (let i = 0; i < 300; i++) {
        const job = jobs[i % jobs.length]!;
        const y = matmul(job.inputs, job.attrs, job.outputs)![0]!;
        expect(y.every((v, j) => v === job.first[j])).toBe(true);
      }
    });

    test('f16 and bf16 weights: every bit pattern widens exactly, and they multiply as their values', () => {
      const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
      const one: HostTensor = { data: Float32Array.of(1), shape: [1, 1], dtype: 'f32' };
      const attrs = { transposeA: false, transposeB: false, activation: 'none' };
      for (const [dtype, widen] of [
        ['f16', f16ToF32],
        ['bf16', bf16ToF32],
      ] as const) {
        const y = matmul([one, { data: all, shape: [1, 65536], dtype }], attrs, [
          { shape: [1, 65536], dtype: 'f32' },
        ]);
        expect(y, dtype).toBeDefined();
        const got = y![0]!;
        let wrong = 0;
        for (let i = 0; i < 65536; i++) {
          const want = widen(i); // 1 * x is x, except that 0 + -0 is +0 in the sum
          if (!(Object.is(got[i], want) || (want === 0 && got[i] === 0))) wrong++;
        }
        expect(wrong, `${dtype}: patterns widened wrongly`).toBe(0);
        // A linear layer's [N, K] weight, and a [K, N] one with bias, against the widened f32 values.
        for (const c of [
          { a: [37, 70], b: [33, 70], transB: true },
          { a: [2, 5, 70], b: [70, 33], bias: true },
        ] as Case[]) {
          const bits = Uint16Array.from(random(product(c.b)), dtype === 'f16' ? f32ToF16 : f32ToBf16);
          const widened = Float32Array.from(bits, widen);
          const a = random(product(c.a));
          const bias = c.bias ? random(33) : undefined;
          const expected = reference(c, a, widened, bias);
          const inputs: HostTensor[] = [
            { data: a, shape: c.a, dtype: 'f32' },
            { data: bits, shape: c.b, dtype },
            ...(bias ? [{ data: bias, shape: [33], dtype: 'f32' as const }] : []),
          ];
          const out = matmul(inputs, { ...attrs, transposeB: c.transB ?? false }, [
            { shape: expected.shape, dtype: 'f32' },
          ])![0]!;
          let maxErr = 0;
          for (let i = 0; i < out.length; i++)
            maxErr = Math.max(maxErr, Math.abs(out[i]! - expected.data[i]!));
          expect(maxErr, `${dtype} ${JSON.stringify(c)}`).toBeLessThan(2e-7 * 70 + 1e-6);
        }
      }
    });

    test('falls back (undefined) on what it does not handle', () => {
      const f32 = (shape: number[]): HostTensor => ({
        data: new Float32Array(product(shape)),
        shape,
        dtype: 'f32',
      });
      const attrs = { transposeA: false, transposeB: false, activation: 'none' };
      expect(matmul([f32([2, 3]), f32([4, 4])], attrs, [{ shape: [2, 4], dtype: 'f32' }])).toBeUndefined();
      expect(matmul([f32([2, 0]), f32([0, 4])], attrs, [{ shape: [2, 4], dtype: 'f32' }])).toBeUndefined();
      expect(
        matmul([f32([2, 3]), f32([3, 4])], { ...attrs, activation: 'tanh' }, [
          { shape: [2, 4], dtype: 'f32' },
        ]),
      ).toBeUndefined();
    });
  });
}

test('more threads than cores still compute the right thing', async () => {
  const acceleration = await createCpuAcceleration({ threads: 3, relaxedSimd: false });
  try {
    const matmul = acceleration.accelerated.get('matmul')!;
    check(matmul, shapeCase(200, 150, 100, false, true));
    check(matmul, shapeCase(40, 400, 100, true, false));
  } finally {
    acceleration.dispose();
  }
});

/** Runs an ES module script in a fresh Node process (tsx for the .ts imports); resolves to its stdout. */
async function runModuleScript(script: string): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 30_000 },
      (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
    );
  });
}

test("a Node process exits without dispose() (the workers are unref'd)", async () => {
  const module = new URL('../src/backends/cpu/wasm/createCpuAcceleration.ts', import.meta.url).href;
  const script = `
    const { createCpuAcceleration } = await import(${JSON.stringify(module)});
    const { accelerated } = await createCpuAcceleration({ threads: 2 });
    const x = { data: new Float32Array(200 * 200).fill(1), shape: [200, 200], dtype: 'f32' };
    const [y] = accelerated.get('matmul')([x, x], { transposeA: false, transposeB: false, activation: 'none' }, [{ shape: [200, 200], dtype: 'f32' }]);
    console.log(y[0]);`;
  const stdout = await runModuleScript(script);
  expect(stdout.trim()).toBe('200');
});

test('a fresh Node process runs the relaxed-SIMD build by default (Node 20: its V8 flag is turned on)', async () => {
  const module = new URL('../src/backends/cpu/wasm/createCpuAcceleration.ts', import.meta.url).href;
  const script = `
    const { createCpuAcceleration } = await import(${JSON.stringify(module)});
    const plain = await createCpuAcceleration({ threads: 1, relaxedSimd: false });
    const relaxed = await createCpuAcceleration({ threads: 1 });
    console.log(plain.description + ';' + relaxed.description);
    plain.dispose();
    relaxed.dispose();`;
  const stdout = await runModuleScript(script);
  // Shared memory is there in Node, so the default is the threaded relaxed build (one thread asked).
  expect(stdout.trim()).toBe('wasm-simd, 1 thread;wasm-relaxed-simd, 1 thread');
});

test('after dispose the reference takes over', async () => {
  const acceleration = await createCpuAcceleration({ threads: 2 });
  acceleration.dispose();
  acceleration.dispose(); // idempotent
  const x: HostTensor = { data: new Float32Array(4), shape: [2, 2], dtype: 'f32' };
  const attrs = { transposeA: false, transposeB: false, activation: 'none' };
  expect(
    acceleration.accelerated.get('matmul')!([x, x], attrs, [{ shape: [2, 2], dtype: 'f32' }]),
  ).toBeUndefined();
});
