// NaN and division-by-zero semantics, the same on every backend (PyTorch's): max/min reductions,
// maximum/minimum, relu, clamp and logSumExp propagate NaN; an additive NaN attention mask makes
// its row NaN; clipGradNorm with a NaN gradient gives a NaN norm and NaN gradients; integer
// division by zero gives 0; argmax takes NaN as the largest value (the first NaN wins); softmax,
// logSoftmax, layerNorm and rmsNorm make a row holding a NaN all NaN and leave the other rows
// alone; maxPool2d propagates a NaN into every window holding it; mean and variance over an empty
// axis are NaN. Exact values, no tolerance.
import { describe, expect, test } from 'vitest';
import {
  argmax,
  attention,
  attentionProbs,
  clamp,
  clipGradNorm,
  compare,
  div,
  logSumExp,
  max,
  maximum,
  mean,
  min,
  layerNorm,
  logSoftmax,
  maxPool2d,
  minimum,
  relu,
  rmsNorm,
  softmax,
  type Tensor,
  tensor,
  variance,
} from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';

const { reference, others } = await suiteBackends({ withoutSubgroups: true });
const all = [{ label: 'reference', backend: reference }, ...others];

const nan = Number.NaN;

/** The values of `t` as plain numbers (NaN compares equal to NaN in toEqual). */
async function values(t: Tensor): Promise<number[]> {
  return [...(await t.read())].map(Number);
}

/** `n` values `fill(i)`, with `at` overriding some positions. */
function row(n: number, fill: (i: number) => number, at: Record<number, number> = {}): number[] {
  return Array.from({ length: n }, (_, i) => at[i] ?? fill(i));
}

describe('NaN semantics on every backend', () => {
  test('comparisons with NaN are false (notEqual true), as IEEE 754 says', async () => {
    for (const { label, backend } of all) {
      const a = tensor([nan, 1, nan, 2], [4], { backend });
      const b = tensor([1, nan, nan, 2], [4], { backend });
      const ops = ['equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual'] as const;
      const got = await Promise.all(ops.map(async (op) => values(compare(op, a, b))));
      expect(got, label).toEqual([
        [0, 0, 0, 1],
        [1, 1, 1, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 1],
        [0, 0, 0, 0],
        [0, 0, 0, 1],
      ]);
    }
  });

  test('max, min and logSumExp reductions return NaN when the row holds a NaN', async () => {
    // Rows of 100 (one workgroup per row), columns (one invocation per output), and a row of 20000
    // (split into pieces reduced twice), each with the NaN away from the first element.
    const rows = [...row(100, (i) => i % 7, { 70: nan }), ...row(100, (i) => (i * 13) % 17)];
    const cols = row(200, (i) => i % 5, { 131: nan }); // [100, 2]: column 1 holds the NaN
    const big = row(20000, (i) => (i % 11) - 5, { 12345: nan });
    for (const { label, backend } of all) {
      const x = tensor([1, nan, 3], [3], { backend });
      expect(await values(max(x)), label).toEqual([nan]);
      expect(await values(min(x)), label).toEqual([nan]);
      expect(await values(logSumExp(x)), label).toEqual([nan]);
      const r = tensor(rows, [2, 100], { backend });
      expect(await values(max(r, -1)), label).toEqual([nan, 16]);
      expect(await values(min(r, -1)), label).toEqual([nan, 0]);
      const c = tensor(cols, [100, 2], { backend });
      expect(await values(max(c, 0)), label).toEqual([4, nan]);
      expect(await values(min(c, 0)), label).toEqual([0, nan]);
      const b = tensor(big, [20000], { backend });
      expect(await values(max(b)), label).toEqual([nan]);
      expect(await values(min(b)), label).toEqual([nan]);
      expect(await values(logSumExp(b)), label).toEqual([nan]);
    }
  });

  test('maximum and minimum return NaN when either operand is NaN', async () => {
    for (const { label, backend } of all) {
      const a = tensor([nan, 1, nan, 2, -Infinity], [5], { backend });
      const b = tensor([1, nan, nan, 1, nan], [5], { backend });
      expect(await values(maximum(a, b)), label).toEqual([nan, nan, nan, 2, nan]);
      expect(await values(minimum(a, b)), label).toEqual([nan, nan, nan, 1, nan]);
    }
  });

  test('relu and clamp keep NaN', async () => {
    for (const { label, backend } of all) {
      const x = tensor([nan, -2, 0.5, 9], [4], { backend });
      expect(await values(relu(x)), label).toEqual([nan, 0, 0.5, 9]);
      expect(await values(clamp(x, -1, 1)), label).toEqual([nan, -1, 0.5, 1]);
    }
  });

  test('an additive NaN mask entry makes its query row NaN (decode, flash and probabilities)', async () => {
    for (const { label, backend } of all) {
      // [B=1, H=1, T=3, D=2]: row 0 sees [NaN, 0] (NaN), row 1 [NaN, -inf] (NaN, though
      // no other key is visible), row 2 [0, 0] (finite).
      const q = tensor([1, 0, 0, 1, 1, 1], [1, 1, 3, 2], { backend });
      const k = tensor([1, 0, 0, 1], [1, 1, 2, 2], { backend });
      const v = tensor([1, 2, 3, 4], [1, 1, 2, 2], { backend });
      const mask = tensor([nan, 0, nan, -Infinity, 0, 0], [1, 1, 3, 2], { backend });
      const out = await values(attention(q, k, v, { mask }));
      expect(out.slice(0, 4), `${label} flash`).toEqual([nan, nan, nan, nan]);
      expect(out.slice(4).every(Number.isFinite), `${label} flash`).toBe(true);
      const probs = await values(attentionProbs(q, k, v, { mask }));
      expect(probs.slice(0, 4), `${label} probs`).toEqual([nan, nan, nan, nan]);
      expect(probs.slice(4), `${label} probs`).toEqual([0.5, 0.5]);
      // Decode (one query row): 130 keys, the NaN on key 100 (not the first lane's).
      const tk = 130;
      const k1 = tensor(
        row(tk * 2, (i) => (i % 3) - 1),
        [1, 1, tk, 2],
        { backend },
      );
      const v1 = tensor(
        row(tk * 2, (i) => i % 5),
        [1, 1, tk, 2],
        { backend },
      );
      const q1 = tensor([0.5, -0.5], [1, 1, 1, 2], { backend });
      const m1 = tensor(
        row(tk, () => 0, { 100: nan }),
        [1, 1, 1, tk],
        { backend },
      );
      expect(await values(attention(q1, k1, v1, { mask: m1 })), `${label} decode`).toEqual([nan, nan]);
    }
  });

  test('softmax, logSoftmax, layerNorm and rmsNorm: a row holding a NaN is all NaN, others finite', async () => {
    // Rows of 9 (one invocation each on some kernels) and of 300 (a workgroup per row, reduced in
    // shared memory and subgroups), the NaN away from the first element and from lane 0.
    for (const n of [9, 300]) {
      const data = [...row(n, (i) => Math.sin(i)), ...row(n, (i) => Math.cos(i), { [n - 2]: nan })];
      for (const { label, backend } of all) {
        const x = tensor(data, [2, n], { backend });
        const outs = {
          softmax: softmax(x),
          logSoftmax: logSoftmax(x),
          layerNorm: layerNorm(x),
          rmsNorm: rmsNorm(x),
        };
        for (const [op, t] of Object.entries(outs)) {
          const got = await values(t);
          expect(got.slice(0, n).every(Number.isFinite), `${label} ${op} [2, ${n}] row 0`).toBe(true);
          expect(got.slice(n).every(Number.isNaN), `${label} ${op} [2, ${n}] row 1`).toBe(true);
        }
      }
    }
  });

  test('softmax and logSoftmax: a -Infinity logit stays masked (0, -Infinity) in a row whose max is +Infinity or NaN', async () => {
    // Every backend as the reference: the other entries of such a row are NaN, a masked one is not.
    const data = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1, nan, Number.NEGATIVE_INFINITY, 1];
    for (const { label, backend } of all) {
      const x = tensor(data, [2, 3], { backend });
      const p = await values(softmax(x));
      const lp = await values(logSoftmax(x));
      for (const r of [0, 3]) {
        expect([p[r], p[r + 1], p[r + 2]].map(String), `${label} softmax row ${r / 3}`).toEqual([
          'NaN',
          '0',
          'NaN',
        ]);
        expect([lp[r], lp[r + 1], lp[r + 2]].map(String), `${label} logSoftmax row ${r / 3}`).toEqual([
          'NaN',
          '-Infinity',
          'NaN',
        ]);
      }
    }
  });

  test('maxPool2d: every window holding a NaN gives NaN', async () => {
    for (const { label, backend } of all) {
      // [1, 1, 4, 4], 2x2 windows stride 2: the NaN at (1, 2) lies in window (0, 1) only; with 3x3
      // windows stride 1 it lies in all four.
      const x = tensor(
        row(16, (i) => i - 8, { 6: nan }),
        [1, 1, 4, 4],
        { backend },
      );
      expect(await values(maxPool2d(x, 2, 2)), `${label} 2x2/2`).toEqual([-3, nan, 5, 7]);
      expect(await values(maxPool2d(x, 3, 1)), `${label} 3x3/1`).toEqual([nan, nan, nan, nan]);
    }
  });

  test('clipGradNorm with a NaN gradient: NaN norm and NaN gradients', async () => {
    for (const { label, backend } of all) {
      const grads = { a: tensor([nan, 1], [2], { backend }), b: tensor([3, 4], [2], { backend }) };
      const norm = clipGradNorm(grads, 1);
      expect(await values(norm), label).toEqual([nan]);
      expect(await values(grads.a), label).toEqual([nan, nan]);
      expect(await values(grads.b), label).toEqual([nan, nan]);
    }
  });

  test('integer division by zero gives 0', async () => {
    for (const { label, backend } of all) {
      const a = tensor(new Int32Array([7, -7, 0, 7, -7]), [5], { backend, dtype: 'i32' });
      const b = tensor(new Int32Array([0, 0, 0, 2, 2]), [5], { backend, dtype: 'i32' });
      expect(await values(div(a, b)), label).toEqual([0, 0, 0, 3, -3]);
    }
  });

  test('mean and variance over an empty axis are NaN', async () => {
    for (const { label, backend } of all) {
      const x = tensor([], [2, 0], { backend });
      expect(await values(mean(x, 1)), label).toEqual([nan, nan]);
      expect(await values(variance(x, 1)), label).toEqual([nan, nan]);
      expect(await values(mean(x)), label).toEqual([nan]);
      expect(await values(variance(x)), label).toEqual([nan]);
    }
  });

  test('argmax: NaN is the largest value and the first NaN wins (as PyTorch)', async () => {
    for (const { label, backend } of all) {
      const short = tensor([nan, 1, 2, 1, nan, 2, Infinity, 3, nan], [3, 3], { backend });
      expect(await values(argmax(short, -1)), label).toEqual([0, 1, 2]);
      // Columns (one invocation per output): the NaNs are in rows 0, 1 and 2.
      expect(await values(argmax(short, 0)), label).toEqual([0, 1, 2]);
      // Rows of 100 (a workgroup per row): a NaN first; a NaN after the max, a second NaN after it,
      // and an infinity before it, spread over lanes and subgroups.
      const long = [
        ...row(100, (i) => i % 7, { 0: nan }),
        ...row(100, (i) => i % 7, { 3: Infinity, 37: nan, 69: 50, 90: nan }),
        ...row(100, (i) => i % 7, { 69: 50 }),
      ];
      expect(await values(argmax(tensor(long, [3, 100], { backend }), -1)), label).toEqual([0, 37, 69]);
    }
  });
});
