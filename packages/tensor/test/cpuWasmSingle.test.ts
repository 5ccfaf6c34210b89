// Without shared memory (a web page that is not cross-origin isolated) the CPU backend runs one
// thread on an ordinary memory; it gets the relaxed-SIMD build there too (it used to fall back to
// plain SIMD, ~20% slower), and the product matches the reference.
import { expect, test } from 'vitest';
import { matmulReference } from '../src/kernels/matmul/reference.js';
import { standaloneMatmul } from './util/standaloneMatmul.js';

test('the single-thread module uses relaxed SIMD where the engine has it, and multiplies right', async () => {
  for (const relaxed of [true, false]) {
    const { matmul, flavor, shared } = await standaloneMatmul({ shared: false, relaxed });
    expect([flavor, shared]).toEqual([relaxed ? 'relaxed-simd' : 'simd', false]);
    const [M, N, K] = [9, 13, 70];
    const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.3));
    const b = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i * 0.2));
    const attrs = { transposeA: false, transposeB: false, activation: 'none' } as const;
    const inputs = [
      { data: a, shape: [M, K], dtype: 'f32' as const },
      { data: b, shape: [K, N], dtype: 'f32' as const },
    ];
    const want = matmulReference(inputs, attrs as never);
    const [got] = matmul(inputs as never, attrs as never, [
      { shape: [M, N], dtype: 'f32' },
    ]) as Float32Array[];
    for (let i = 0; i < M * N; i++) expect(got![i], `${flavor} ${i}`).toBeCloseTo(want[i]!, 4);
  }
});
