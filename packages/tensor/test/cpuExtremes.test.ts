// Extreme inputs on the CPU backend's WebAssembly paths, against the plain TypeScript reference:
// a fused silu / quick_gelu / gelu_tanh epilogue far below zero is 0 (its exp overflows to +Inf,
// not to a large finite number), and a norm row whose f32 sum of squares overflows is normalized
// all the same (summed again in f64) instead of coming out as zeros.
import { afterAll, expect, test } from 'vitest';
import { createBackend, layerNorm, matmul, rmsNorm, tensor } from '../src/index.node.js';

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
