// Block-quantized weights (q8, q4): the codec's round trip, quantizeWeight/dequantize on every
// backend, matmul/linear with quantized weights against the f32 matmul of the dequantized weights
// on every backend (GEMV and GEMM paths, shapes that are not multiples of any tile, bias and every
// activation), gradients through them, and the errors.
import { describe, expect, test } from 'vitest';
import {
  add,
  dequantize,
  dequantizeArray,
  full,
  kvCacheWriteKernel,
  grad,
  linear,
  matmul,
  mul,
  sum,
  type QuantizedDType,
  quantizeArray,
  quantizeWeight,
  reshape,
  runKernel,
  saveSafetensors,
  tensor,
  tidy,
  zeros,
} from '../src/index.node.js';
import { type MatmulActivation, matmulKernel } from '../src/kernels/matmul.js';
import { WasmArena } from '../src/backends/cpu/wasm/WasmArena.js';
import { suiteBackends } from './util/backends.js';
import { type KernelCase, checkKernelCase } from './util/checkKernel.js';
import { freshSeed, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

const DTYPES: QuantizedDType[] = ['q8', 'q4'];
const QMAX = { q8: 127, q4: 7 };

function randomWeights(size: number, seed: number): Float32Array {
  const next = rng(seed);
  // Blocks of very different magnitudes, and an all-zero block, so the per-block scales matter.
  return Float32Array.from({ length: size }, (_, i) => {
    const block = i >> 5;
    if (block === 3) return 0;
    return (next() * 2 - 1) * (block % 3 === 0 ? 0.01 : block % 3 === 1 ? 1 : 30);
  });
}

/** Half a quantization step of each block: the largest error round to nearest may make. */
function halfSteps(w: Float32Array, dtype: QuantizedDType): Float32Array {
  const out = new Float32Array(w.length);
  for (let b = 0; b < w.length / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(w[b * 32 + i]!));
    out.fill(amax / QMAX[dtype] / 2, b * 32, b * 32 + 32);
  }
  return out;
}

function expectWithinSteps(got: Float32Array, w: Float32Array, dtype: QuantizedDType, where: string): void {
  const bound = halfSteps(w, dtype);
  for (let i = 0; i < w.length; i++) {
    const err = Math.abs(got[i]! - w[i]!);
    if (!(err <= bound[i]! * (1 + 1e-5) + 1e-12)) {
      throw new Error(`${where}: element ${i}: ${got[i]} vs ${w[i]} (error ${err} > half step ${bound[i]})`);
    }
  }
}

describe('quantize codec', () => {
  test.each(DTYPES)('%s round trip is within half a step per block', (dtype) => {
    const seed = freshSeed();
    const w = randomWeights(7 * 64, seed);
    const words = quantizeArray(w, dtype);
    expect(words.length).toBe(dtype === 'q8' ? 7 * 64 * (1 / 4 + 1 / 32) : 7 * 64 * (1 / 8 + 1 / 32));
    const back = dequantizeArray(words, dtype, w.length);
    expectWithinSteps(back, w, dtype, `${dtype} (seed ${seed})`);
    // The extremes of each block are exact multiples of the scale: +-qmax steps.
    expect(Array.from(back.subarray(96, 128)).every((v) => v === 0)).toBe(true);
  });

  test('layouts: q8 bytes and q4 nibbles in order, scales after the values', () => {
    const w = Float32Array.from({ length: 32 }, (_, i) => i - 16); // amax 16
    const q8 = quantizeArray(w, 'q8');
    expect(new Float32Array(q8.buffer, 32, 1)[0]).toBeCloseTo(16 / 127, 7);
    expect(new Int8Array(q8.buffer, 0, 32)[0]).toBe(-127);
    expect(new Int8Array(q8.buffer, 0, 32)[16]).toBe(0);
    const q4 = quantizeArray(w, 'q4');
    expect(q4.length).toBe(5);
    expect(new Float32Array(q4.buffer, 16, 1)[0]).toBeCloseTo(16 / 7, 6);
    expect(q4[0]! & 15).toBe(1); // -16 -> q = -7 -> nibble 1
    expect((q4[2]! >>> 0) & 15).toBe(8); // element 16 is 0 -> nibble 8
  });

  test('bad input is named', () => {
    expect(() => quantizeArray(new Float32Array(33), 'q4')).toThrow('33 values are not whole blocks of 32');
    expect(() => quantizeArray(Float32Array.of(...new Array(31).fill(0), Number.NaN), 'q8')).toThrow(
      'value NaN at index 31 cannot be quantized',
    );
    expect(() => dequantizeArray(new Uint32Array(3), 'q4', 32)).toThrow(
      '3 words do not hold 32 q4 values (5 words)',
    );
  });
});

describe('quantizeWeight and dequantize', () => {
  test.each(DTYPES)('%s on every backend', async (dtype) => {
    const seed = freshSeed();
    const shape = [5, 96];
    const w = randomWeights(5 * 96, seed);
    for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
      const [wq, back] = tidy(() => {
        const q = quantizeWeight(tensor(w, shape, { backend }), { dtype });
        return [q, dequantize(q)];
      });
      expect(wq!.dtype).toBe(dtype);
      expect(wq!.shape).toEqual(shape);
      const where = `${dtype} on ${label} (seed ${seed})`;
      expectWithinSteps((await back!.read()) as Float32Array, w, dtype, where);
      // The stored words decode on the host to what the backend's dequantize gave.
      const words = (await wq!.read()) as Uint32Array;
      expect(Array.from(dequantizeArray(words, dtype, w.length)), where).toEqual(
        Array.from(await back!.read()),
      );
      wq!.dispose();
      back!.dispose();
    }
  });
});

interface Spec {
  m: number;
  k: number;
  n: number;
  dtype: QuantizedDType;
  aBatch?: number[];
  bias?: boolean;
  activation?: MatmulActivation;
  transposeA?: boolean;
}

function caseOf(s: Spec, seed: number): KernelCase {
  const words = quantizeArray(randomWeights(s.n * s.k, seed ^ 0x9e3779b9), s.dtype);
  const aShape = [...(s.aBatch ?? []), ...(s.transposeA ? [s.k, s.m] : [s.m, s.k])];
  return {
    name: `${s.aBatch ? `[${s.aBatch}]` : ''}${s.m}x${s.k} @ ${s.dtype}[${s.n}, ${s.k}]^T${s.bias ? ' bias' : ''}${s.activation ? ` ${s.activation}` : ''}${s.transposeA ? ' tA' : ''}`,
    inputs: [
      { shape: aShape },
      { shape: [s.n, s.k], dtype: s.dtype, data: words },
      ...(s.bias ? [{ shape: [s.n] }] : []),
    ],
    run: (x, w, b) =>
      s.transposeA
        ? matmul(x!, w!, { transposeA: true, transposeB: true, bias: b, activation: s.activation })
        : s.activation
          ? matmul(x!, w!, { transposeB: true, bias: b, activation: s.activation })
          : linear(x!, w!, b),
    // Weights up to 30 in magnitude: the f32 sums' rounding grows with K and the magnitudes.
    atol: 1e-4 * s.k,
    rtol: 1e-4,
  };
}

// GEMV (M <= 4) and GEMM (M = 17) paths, K a few blocks, N not a multiple of any tile.
const specs: Spec[] = [];
for (const dtype of DTYPES) {
  specs.push(
    { m: 1, k: 64, n: 5, dtype },
    { m: 1, k: 160, n: 130, dtype, bias: true },
    { m: 3, k: 96, n: 33, dtype },
    { m: 17, k: 96, n: 70, dtype, bias: true },
    { m: 17, k: 160, n: 5, dtype },
    { m: 1, k: 64, n: 9, dtype, aBatch: [3] }, // batch folded into rows: M = 3
  );
}
specs.push(
  { m: 1, k: 96, n: 40, dtype: 'q4', bias: true, activation: 'silu' },
  { m: 3, k: 64, n: 66, dtype: 'q8', bias: true, activation: 'gelu' },
  { m: 17, k: 64, n: 20, dtype: 'q4', bias: true, activation: 'gelu_tanh' },
  { m: 3, k: 64, n: 12, dtype: 'q8', transposeA: true },
  { m: 6, k: 64, n: 12, dtype: 'q4', transposeA: true },
);

describe('matmul with quantized weights', () => {
  test.each(specs.map((s) => [caseOf(s, 0).name, s] as const))('%s', async (_, s) => {
    const seed = freshSeed();
    await checkKernelCase(caseOf(s, seed), reference, others, seed);
  });

  test('equals the f32 matmul of the dequantized weight, bit for bit on the reference', async () => {
    const w = randomWeights(8 * 64, 7);
    const x = Float32Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i));
    for (const dtype of DTYPES) {
      const words = quantizeArray(w, dtype);
      const [y, y32] = tidy(() => {
        const a = tensor(x, [2, 64], { backend: reference });
        const wq = tensor(words, [8, 64], { backend: reference, dtype });
        return [
          linear(a, wq),
          linear(a, tensor(dequantizeArray(words, dtype, w.length), [8, 64], { backend: reference })),
        ];
      });
      expect(Array.from(await y!.read())).toEqual(Array.from(await y32!.read()));
      y!.dispose();
      y32!.dispose();
    }
  });

  test('the gradient flows to the input through a quantized weight', async () => {
    for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
      const w = randomWeights(6 * 32, 3);
      const x = tensor(
        Float32Array.from({ length: 2 * 32 }, (_, i) => Math.cos(i)),
        [2, 32],
        { backend },
      );
      const wq = tensor(quantizeArray(w, 'q8'), [6, 32], { backend, dtype: 'q8' });
      const w32 = tidy(() => dequantize(wq));
      const { x: dx } = grad(() => sum(mul(linear(x, wq), linear(x, wq))), { x });
      const { x: dx32 } = grad(() => sum(mul(linear(x, w32), linear(x, w32))), { x });
      const got = await dx!.read();
      const want = await dx32!.read();
      const scale = Math.max(...Array.from(want, Math.abs));
      for (let i = 0; i < got.length; i++) {
        expect(Math.abs(got[i]! - want[i]!), `${label} dx[${i}]`).toBeLessThanOrEqual(
          5e-5 * scale + 5e-4 /* the CPU GEMV rounds x to int16 per block */,
        );
      }
      for (const t of [x, wq, w32, dx!, dx32!]) t.dispose();
    }
  });
});

describe('quantized weight errors', () => {
  const f32 = (shape: number[]) =>
    tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, { backend: reference });
  const q = (shape: number[], dtype: QuantizedDType = 'q4') =>
    tensor(quantizeArray(new Float32Array(shape.reduce((a, b) => a * b, 1)), dtype), shape, {
      backend: reference,
      dtype,
    });

  test('K not a multiple of 32 names the shape', () => {
    expect(() => quantizeWeight(f32([4, 100]), { dtype: 'q4' })).toThrow(
      'quantizeWeight: q4 quantizes blocks of 32 values along the last dim, but x has shape [4, 100] (100 is not a multiple of 32)',
    );
    expect(() => quantizeWeight(f32([4, 64]), { dtype: 'int8' as QuantizedDType })).toThrow(
      `options.dtype must be 'q8' or 'q4', got "int8"`,
    );
    expect(() => tensor(new Uint32Array(5), [1, 40], { backend: reference, dtype: 'q4' })).toThrow(
      'a q4 tensor needs a last dim that is a multiple of 32, got shape [1, 40]',
    );
    expect(() => tensor(new Uint32Array(4), [1, 32], { backend: reference, dtype: 'q4' })).toThrow(
      '4 words do not hold a q4[1, 32] tensor (5 words of values and scales)',
    );
  });

  test('quantized b must be a 2-D weight used transposed', () => {
    expect(() => matmul(f32([2, 32]), q([32, 32]))).toThrow(
      'matmul: a quantized b (q4[32, 32]) is a 2-D [N, K] weight read as b^T: pass transposeB: true',
    );
    expect(() => linear(f32([2, 64]), q([4, 32]))).toThrow('linear: inner dims differ');
    expect(() => linear(q([4, 32]), q([4, 32]))).toThrow('linear: x must be f32, got q4[4, 32]');
  });

  test('other ops reject quantized inputs', () => {
    expect(() => add(q([2, 32]), q([2, 32]))).toThrow(
      /is a block-quantized weight, which only matmul\/linear \(with transposeB\) and dequantize\(\) read/,
    );
    expect(() => dequantize(f32([2, 32]))).toThrow('dequantize: w must be q8 or q4, got f32[2, 32]');
  });

  test('no gradient into a quantized weight', () => {
    const x = f32([2, 32]);
    const wq = q([3, 32], 'q8');
    expect(() => grad(() => sum(linear(x, wq)), { wq })).toThrow(
      "param 'wq' is q8[3, 32]; gradients need f32 params (no gradient flows into a quantized weight",
    );
    // Traced some other way (a tracked input reaching the weight), the matmul rule refuses too.
    const kernelGrad = () =>
      matmulKernel.grad!({
        dy: [f32([2, 3])],
        inputs: [x, Object.assign(wq, { tracked: true })],
        outputs: [],
        attrs: { transposeA: false, transposeB: true, activation: 'none' },
      });
    expect(kernelGrad).toThrow('matmul: no gradient flows into a quantized weight (q8[3, 32])');
    // Quantized inside the loss, the weight is not dropped silently (unlike integer results, which
    // are constants for autograd, a quantized weight stays tracked so that matmul can name it).
    const w = f32([3, 32]);
    expect(() => grad(() => sum(linear(x, quantizeWeight(w, { dtype: 'q8' }))), { w })).toThrow(
      'matmul: no gradient flows into a quantized weight (q8[3, 32])',
    );
  });

  test('safetensors does not store quantized weights', async () => {
    await expect(saveSafetensors({ w: q([2, 32]) })).rejects.toThrow(
      'saveSafetensors(): tensor "w" is a block-quantized weight (q4[2, 32])',
    );
  });
});

describe('cpu: quantized weights stay resident in WebAssembly memory', () => {
  test('the arena allocator reuses and merges freed blocks', () => {
    const arena = new WasmArena({
      heapBase: 1024,
      threads: 1,
      workspaceBytes: 64,
      descBytes: 64,
      shared: false,
    });
    const [p1, p2, p3] = [arena.allocResident(1000)!, arena.allocResident(2000)!, arena.allocResident(500)!];
    expect(p1 < p2 && p2 < p3).toBe(true);
    const dynamic = arena.layout([16])![0]!;
    expect(dynamic).toBeGreaterThan(p3);
    arena.freeResident(p2);
    expect(arena.allocResident(1500)).toBe(p2); // first fit in the hole
    arena.freeResident(p2);
    arena.freeResident(p1);
    expect(arena.allocResident(2900)).toBe(p1); // the merged hole
    arena.freeResident(p1);
    arena.freeResident(p3);
    expect(arena.residentBytes).toBe(0);
    expect(arena.layout([16])![0]).toBe(p1); // the region shrank back
  });

  test('results stay right across weights created, used and disposed', async () => {
    const cpu = others.find((o) => o.label === 'cpu')!.backend;
    const x = tensor(
      Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)),
      [1, 64],
      { backend: cpu },
    );
    for (let round = 0; round < 6; round++) {
      const dtype: QuantizedDType = round % 2 ? 'q4' : 'q8';
      const w = randomWeights(40 * 64, round);
      const words = quantizeArray(w, dtype);
      const wq = tensor(words, [40, 64], { backend: cpu, dtype });
      const want = tidy(() =>
        linear(
          tensor(
            Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)),
            [1, 64],
            { backend: reference },
          ),
          tensor(words, [40, 64], { backend: reference, dtype }),
        ),
      );
      for (let i = 0; i < 2; i++) {
        const y = linear(x, wq);
        const got = await y.read();
        const ref = await want.read();
        const tol = 5e-5 * Math.max(...Array.from(ref, Math.abs)); // x rounded to int16 per block
        for (let j = 0; j < 40; j++)
          expect(Math.abs(got[j]! - ref[j]!), `round ${round} y[${j}]`).toBeLessThan(tol);
        y.dispose();
      }
      wq.dispose();
      want.dispose();
    }
    x.dispose();
  });
});

describe('cpu: f32 weights stay resident from their second use', () => {
  test('a buffer written in place (a KV cache) is never served stale', async () => {
    const cpu = others.find((o) => o.label === 'cpu')!.backend;
    const cache = zeros([1, 1, 8, 32], { backend: cpu });
    const keys = reshape(cache, [8, 32]); // a view: matmul reads the cache's own array
    const q = tensor(
      Float32Array.from({ length: 32 }, (_, i) => i / 32),
      [1, 32],
      { backend: cpu },
    );
    for (let step = 0; step < 4; step++) {
      // Twice per step: the second read would hit a resident copy if one were kept.
      for (let i = 0; i < 2; i++) {
        const scores = matmul(q, keys, { transposeB: true }); // [1, 8]
        const got = Array.from(await scores.read());
        const want = Array.from({ length: 8 }, (_, row) =>
          row < step ? Array.from({ length: 32 }, (_, c) => (c / 32) * (row + 1)).reduce((x, y) => x + y) : 0,
        );
        for (let j = 0; j < 8; j++) expect(got[j], `step ${step} score ${j}`).toBeCloseTo(want[j]!, 4);
        scores.dispose();
      }
      const rows = full([1, 1, 1, 32], step + 1, { backend: cpu });
      runKernel(kvCacheWriteKernel, [cache, rows], { offset: step });
      rows.dispose();
    }
    for (const t of [q, keys, cache]) t.dispose();
  });

  test('weights give the same results before and after they become resident', async () => {
    const cpu = others.find((o) => o.label === 'cpu')!.backend;
    const w = tensor(randomWeights(70 * 96, 11), [70, 96], { backend: cpu });
    const x = tensor(
      Float32Array.from({ length: 5 * 96 }, (_, i) => Math.cos(i)),
      [5, 96],
      { backend: cpu },
    );
    const first = await linear(x, w).read();
    for (let i = 0; i < 3; i++) {
      const y = linear(x, w);
      expect(Array.from(await y.read())).toEqual(Array.from(first));
      y.dispose();
    }
    w.dispose();
    x.dispose();
  });
});
