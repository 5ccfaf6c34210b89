// WebGPU results that f32 arithmetic alone would round differently from the reference: quantizeWeight
// on values whose f32 quotient x * (1 / scale) lands on a half step the exact quotient misses (the
// host codec divides in doubles), and softmax / logSoftmax on rows whose max is +Infinity or NaN,
// where a -Infinity logit still counts as masked (z - max would be NaN). Exact values. And sin / cos
// of large arguments, whose reduction by pi/2 must stay exact in f32.
import { expect, test } from 'vitest';
import {
  CpuBackend,
  logSoftmax,
  QUANT_BLOCK,
  quantizeArray,
  quantizeWeight,
  cos,
  sin,
  softmax,
  tensor,
} from '../src/index.node.js';
import { maybeWebGpu } from './util/backends.js';
import { rng } from './util/random.js';

/**
 * A block of 32 values, amax first, holding one value that f32 arithmetic would quantize otherwise
 * than the host codec, q = round(f32(x * f32(1 / scale))) (found on the host: a few in a million).
 */
function halfStepBlock(next: () => number, qmax: number): Float32Array {
  const amax = Math.fround(1 + next());
  const scale = Math.fround(amax / qmax);
  const inv = Math.fround(1 / scale);
  const block = Float32Array.from({ length: QUANT_BLOCK }, (_, i) =>
    i === 0 ? amax : amax * (next() - 0.5),
  );
  for (;;) {
    const x = Math.fround(amax * next());
    if (Math.round(x / scale) !== Math.floor(Math.fround(x * inv) + 0.5)) {
      block[1 + Math.floor(next() * (QUANT_BLOCK - 1))] = next() < 0.5 ? x : -x;
      return block;
    }
  }
}

test('quantizeWeight on WebGPU matches the host codec on values next to a half step', async () => {
  const gpu = await maybeWebGpu();
  if (!gpu) return;
  try {
    for (const [dtype, qmax] of [
      ['q8', 127],
      ['q4', 7],
    ] as const) {
      const next = rng(dtype === 'q8' ? 7 : 8);
      const blocks = 4;
      const w = new Float32Array(blocks * QUANT_BLOCK);
      for (let b = 0; b < blocks; b++) w.set(halfStepBlock(next, qmax), b * QUANT_BLOCK);
      const got = await quantizeWeight(tensor(w, [blocks, QUANT_BLOCK], { backend: gpu }), { dtype }).read();
      expect(Array.from(got), dtype).toEqual(Array.from(quantizeArray(w, dtype)));
    }
  } finally {
    gpu.dispose();
  }
});

test('softmax and logSoftmax on WebGPU: -Infinity logits in rows whose max is +Infinity or NaN', async () => {
  const gpu = await maybeWebGpu();
  if (!gpu) return;
  const reference = new CpuBackend({ description: 'reference' });
  const inf = Number.POSITIVE_INFINITY;
  try {
    // Rows of 4 (an invocation each) and of 40 (a workgroup each), along the last axis and, as
    // strided columns, along axis 0.
    for (const n of [4, 40]) {
      const rows = [
        [-inf, 1, inf, 2],
        [-inf, Number.NaN, 3, -inf],
        [inf, -inf, inf, 0],
      ].map((r) => Array.from({ length: n }, (_, i) => r[i] ?? i / n));
      const columns = rows[0]!.flatMap((_, j) => rows.map((r) => r[j]!)); // [n, 3]
      for (const op of [softmax, logSoftmax]) {
        for (const [values, shape, axis] of [
          [rows.flat(), [3, n], -1],
          [columns, [n, 3], 0],
        ] as const) {
          const want = await op(tensor(values, [...shape], { backend: reference }), axis).read();
          const got = await op(tensor(values, [...shape], { backend: gpu }), axis).read();
          expect(Array.from(got), `${op.name} [${shape}] axis ${axis}`).toEqual(Array.from(want));
        }
      }
    }
  } finally {
    gpu.dispose();
    reference.dispose();
  }
});

test('sin and cos on WebGPU keep f32 accuracy to |x| ~ 2.6e7, and stay in [-1, 1] past it', async () => {
  const gpu = await maybeWebGpu();
  if (!gpu) return;
  try {
    const next = rng(7);
    // Magnitudes where the three-part reduction (exact to |k| = 2048) lost digits: 0.03 at 1e6.
    const xs = [1e3, 1e4, 1e5, 1e6, 1e7, 2.5e7].flatMap((m) =>
      Array.from({ length: 64 }, () => Math.fround(m * (2 * next() - 1))),
    );
    const x = tensor(xs, [xs.length], { backend: gpu });
    const [s, c] = await Promise.all([sin(x).read(), cos(x).read()]);
    for (const [i, v] of xs.entries()) {
      expect(Math.abs(s[i]! - Math.sin(v)), `sin(${v})`).toBeLessThan(3e-7);
      expect(Math.abs(c[i]! - Math.cos(v)), `cos(${v})`).toBeLessThan(3e-7);
    }
    // Past 2^24 pi/2 the driver's own, bounded; non-finite inputs give NaN.
    const far = tensor([1e10, -3e38, 3.4e38, Number.POSITIVE_INFINITY, Number.NaN], [5], { backend: gpu });
    const [fs, fc] = await Promise.all([sin(far).read(), cos(far).read()]);
    for (const v of [...fs.slice(0, 3), ...fc.slice(0, 3)]) expect(Math.abs(v)).toBeLessThanOrEqual(1);
    expect([...fs.slice(3), ...fc.slice(3)].every(Number.isNaN)).toBe(true);
  } finally {
    gpu.dispose();
  }
});
