// Extreme inputs on the CPU backend's WebAssembly paths, against the plain TypeScript reference:
// a fused silu / quick_gelu / gelu_tanh epilogue far below zero is 0 (its exp overflows to +Inf,
// not to a large finite number), and a norm row whose f32 sum of squares overflows, or whose
// variance underflows with eps 0, is normalized all the same (in f64) instead of coming out as
// zeros, or as values off by percents or infinite; a row with a large mean keeps its digits; a
// quantized matmul of a few rows of tiny activations keeps its digits too.
import { afterAll, expect, test } from 'vitest';
import { createBackend, layerNorm, matmul, quantizeWeight, rmsNorm, tensor } from '../src/index.node.js';

const fast = await createBackend('cpu');
const reference = await createBackend('cpu', { cpu: { wasm: false } });
afterAll(() => {
  fast.dispose();
  reference.dispose();
});

test('a fused activation of a very negative input is what the reference gives', async () => {
  const x = [Number.NEGATIVE_INFINITY, -3e38, -1e38, -1e37, -100];
  for (const activation of ['silu', 'quick_gelu', 'gelu_tanh'] as const) {
    const out = await Promise.all(
      [fast, reference].map(async (backend) => {
        // [5, 1] @ [1, 1]: each value through the epilogue once.
        const y = matmul(tensor(x, [5, 1], { backend }), tensor([1], [1, 1], { backend }), { activation });
        return Array.from(await y.read());
      }),
    );
    // NaN for -Inf (-Inf * 0), else 0 up to a subnormal (the reference's exp keeps -100's 1e-42).
    out[0]!.forEach((v, i) => {
      const want = out[1]![i]!;
      if (Number.isNaN(want)) expect(v, `${activation} ${x[i]}`).toBeNaN();
      else expect(Math.abs(v - want), `${activation} ${x[i]}: ${v} vs ${want}`).toBeLessThan(1e-30);
    });
  }
});

test('layerNorm and rmsNorm of rows whose sum of squares overflows f32 match the reference', async () => {
  const cols = 4096;
  const x = Float32Array.from({ length: 2 * cols }, (_, i) => 1e18 * (1 + Math.sin(i)));
  const gamma = new Float32Array(cols).fill(1);
  const beta = new Float32Array(cols);
  for (const norm of ['layerNorm', 'rmsNorm'] as const) {
    const [got, want] = await Promise.all(
      [fast, reference].map(async (backend) => {
        const t = tensor(x, [2, cols], { backend });
        const g = tensor(gamma, [cols], { backend });
        const y =
          norm === 'layerNorm'
            ? layerNorm(t, g, tensor(beta, [cols], { backend }), 1e-5)
            : rmsNorm(t, g, 1e-5);
        return y.read();
      }),
    );
    for (const i of [0, 1, 2, cols, 2 * cols - 1]) expect(got![i], `${norm} ${i}`).toBeCloseTo(want![i]!, 3);
  }
});

test('layerNorm and rmsNorm of rows whose variance underflows f32 (eps 0) match the reference', async () => {
  // Squares of |x| ~ 1e-22 are f32 subnormals that have lost most of their digits, and those of
  // |x| ~ 1e-40 are 0 while 1 / sqrt(var) would overflow f32: with eps 0 nothing hides either.
  const cols = 37;
  const gamma = Float32Array.from({ length: cols }, (_, i) => 1 + (i % 3));
  for (const scale of [1e-22, 1e-40]) {
    const x = Float32Array.from({ length: 2 * cols }, (_, i) => scale * (1 + Math.sin(i)));
    for (const norm of ['layerNorm', 'rmsNorm'] as const) {
      const [got, want] = await Promise.all(
        [fast, reference].map(async (backend) => {
          const t = tensor(x, [2, cols], { backend });
          const g = tensor(gamma, [cols], { backend });
          const y = norm === 'layerNorm' ? layerNorm(t, g, undefined, 0) : rmsNorm(t, g, 0);
          return y.read();
        }),
      );
      for (let i = 0; i < 2 * cols; i++) expect(got![i], `${norm} ${scale} ${i}`).toBeCloseTo(want![i]!, 4);
    }
  }
});

test('layerNorm of rows with a large mean and a small spread matches the reference', async () => {
  // The mean 1e4 in f32 is off by up to half an ulp (5e-4), a thousandth of the spread once
  // normalized: the kernel keeps the mean as the f32 sum's mean plus a correction instead.
  const cols = 1000;
  const x = Float32Array.from({ length: 3 * cols }, (_, i) => 1e4 + Math.sin(i) + (i % 7) * 0.01);
  const [got, want] = await Promise.all(
    [fast, reference].map(async (backend) => layerNorm(tensor(x, [3, cols], { backend })).read()),
  );
  for (let i = 0; i < 3 * cols; i++) expect(got![i], `${i}`).toBeCloseTo(want![i]!, 4);
});

test('a q8/q4 matmul of a few rows with tiny activations matches the reference', async () => {
  // [2, 64] @ [16, 64]^T with |a| ~ 1e-37: the GEMV's per-block f32 scale (max|a| / 32767) went
  // subnormal, losing the digits (q8 at 1e-38 gave 0); the dequantized GEMM keeps them.
  const w = Float32Array.from({ length: 16 * 64 }, (_, i) => 0.05 * Math.sin(i * 1.7));
  const a = Float32Array.from({ length: 2 * 64 }, (_, i) => 1e-37 * Math.cos(i * 0.3));
  for (const dtype of ['q8', 'q4'] as const) {
    const [got, want] = await Promise.all(
      [fast, reference].map(async (backend) => {
        const q = quantizeWeight(tensor(w, [16, 64], { backend }), { dtype });
        return Array.from(await matmul(tensor(a, [2, 64], { backend }), q, { transposeB: true }).read());
      }),
    );
    const scale = Math.max(...want!.map(Math.abs));
    for (const [i, v] of got!.entries())
      expect(Math.abs(v - want![i]!) / scale, `${dtype} ${i}`).toBeLessThan(1e-5);
  }
});
