// Edge cases where the backends used to disagree with each other or with PyTorch, checked on every
// backend (the reference, the accelerated CPU, WebGPU and tfjs): layerNorm of constant rows,
// softmax / attention with a large finite additive mask, gelu and sign at infinities and NaN, f32
// NaN in logicalAnd / logicalOr, and variance's `correction`.

import { describe, expect, test } from 'vitest';
import {
  attention,
  type Backend,
  compare,
  full,
  gelu,
  geluTanh,
  layerNorm,
  logSoftmax,
  quickGelu,
  sign,
  silu,
  softmax,
  type Tensor,
  tensor,
  tidy,
  valueAndGrad,
  variance,
} from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { checkKernelCase } from './util/checkKernel.js';
import { freshSeed } from './util/random.js';

const { reference, others } = await suiteBackends({ withoutSubgroups: true });
const all: { label: string; backend: Backend }[] = [{ label: 'reference', backend: reference }, ...others];

/** Runs `f` on each backend and returns the read values, labeled. */
async function onEach(f: (b: Backend) => Tensor): Promise<[string, number[]][]> {
  const out: [string, number[]][] = [];
  for (const { label, backend } of all) {
    const t = tidy(() => f(backend));
    out.push([label, Array.from(await t.read(), Number)]);
    t.dispose();
  }
  return out;
}

const f32 = (b: Backend, data: number[], shape: number[]) => tensor(data, shape, { backend: b });

describe('layerNorm of constant rows', () => {
  // The true output is exactly 0 (PyTorch gives 0). The old error was the f32 mean's rounding
  // (about one ulp of |c|) divided by sqrt(eps) = 3.2e-3: 4e-3 to 0.15 here. A bound of 1e-6
  // allows a mean error of only 3e-9, below one ulp of every value tested (the smallest, ulp(7.25),
  // is 4.8e-7), so it holds only when the mean's rounding error cancels.
  const widths = [5, 768, 4096];
  const values = [100.1, 1000.3, -7.25];
  for (const n of widths) {
    test(`width ${n}: values ${values.join(', ')} give |y| <= 1e-6`, async () => {
      for (const [label, y] of await onEach((b) =>
        layerNorm(
          tensor(
            values.flatMap((v) => new Array<number>(n).fill(v)),
            [values.length, n],
            { backend: b },
          ),
        ),
      )) {
        const worst = Math.max(...y.map(Math.abs));
        expect(worst, `${label}, width ${n}`).toBeLessThanOrEqual(1e-6);
      }
    });
  }

  test('with gamma and beta a constant row gives beta', async () => {
    const n = 768;
    for (const [label, y] of await onEach((b) =>
      layerNorm(
        full([2, n], 1000.3, { backend: b }),
        full([n], 3, { backend: b }),
        full([n], 0.5, { backend: b }),
      ),
    )) {
      expect(Math.max(...y.map((v) => Math.abs(v - 0.5))), label).toBeLessThanOrEqual(1e-6);
    }
  });

  test('random rows (also with a large mean) still match the reference', async () => {
    for (const [shape, range] of [
      [
        [3, 5],
        [-2, 2],
      ],
      [
        [4, 768],
        [-2, 2],
      ],
      [
        [2, 4096],
        [999, 1001],
      ],
      [
        [3, 40],
        [-100.5, -99.5],
      ],
    ] as [number[], [number, number]][]) {
      await checkKernelCase(
        {
          name: `layerNorm ${JSON.stringify(shape)} in ${JSON.stringify(range)}`,
          inputs: [{ shape, range }],
          run: (x) => layerNorm(x!),
          // Near a mean of 1000, each input carries 6e-5 of rounding: relative to a unit-sized
          // deviation, y agrees to about that much across summation orders.
          atol: range[0] > 100 || range[1] < -50 ? 5e-4 : 2e-5,
          rtol: 1e-4,
        },
        reference,
        others,
        freshSeed(),
      );
    }
  });
});

describe('an f32 additive mask is added in f32', () => {
  test('softmax and logSoftmax with a mask of -1e9 on every position are uniform', async () => {
    const mask = (b: Backend) => f32(b, [-1e9, -1e9, -1e9], [1, 3]);
    for (const [label, y] of await onEach((b) => softmax(f32(b, [1, 2, 3], [1, 3]), -1, mask(b)))) {
      for (const v of y) expect(v, label).toBeCloseTo(1 / 3, 6);
    }
    for (const [label, y] of await onEach((b) => logSoftmax(f32(b, [1, 2, 3], [1, 3]), -1, mask(b)))) {
      for (const v of y) expect(v, label).toBeCloseTo(-Math.log(3), 5);
    }
  });

  test('attention with a mask of -1e9 on every key averages v', async () => {
    // Scores q.k = 1, 2, 3 (distinct), all far below f32's resolution at 1e9 once masked.
    const run = (b: Backend) =>
      attention(
        f32(b, [1, 0, 0, 0], [1, 1, 1, 4]),
        f32(b, [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0], [1, 1, 3, 4]),
        f32(b, [0, 3, 6, 9, 12, 15], [1, 1, 3, 2]),
        { mask: f32(b, [-1e9, -1e9, -1e9], [1, 1, 1, 3]), scale: 1 },
      );
    for (const [label, y] of await onEach(run)) {
      expect(y[0], label).toBeCloseTo(6, 4);
      expect(y[1], label).toBeCloseTo(9, 4);
    }
  });
});

describe('activations and sign at infinities and NaN', () => {
  const x = [Number.POSITIVE_INFINITY, Number.NaN, 1e30, -1e30, -3];
  test('gelu(+inf) = +inf, gelu(NaN) = NaN, large negative inputs give 0', async () => {
    for (const [label, y] of await onEach((b) => gelu(f32(b, x, [5])))) {
      expect(y[0], label).toBe(Number.POSITIVE_INFINITY);
      expect(y[1], label).toBeNaN();
      expect(y[2], label).toBeCloseTo(1e30, -24);
      expect(Math.abs(y[3]!), label).toBe(0);
      expect(y[4], label).toBeCloseTo(-0.00404969, 6);
    }
  });

  test('gelu(-inf) agrees with the reference on every backend', async () => {
    const results = await onEach((b) => gelu(f32(b, [Number.NEGATIVE_INFINITY], [1])));
    for (const [label, y] of results) expect(y, label).toEqual(results[0]![1]);
  });

  test('geluTanh, quickGelu and silu of +inf are +inf; of NaN, NaN', async () => {
    for (const [name, op] of [
      ['geluTanh', geluTanh],
      ['quickGelu', quickGelu],
      ['silu', silu],
    ] as const) {
      for (const [label, y] of await onEach((b) => op(f32(b, [Number.POSITIVE_INFINITY, Number.NaN], [2])))) {
        expect(y[0], `${name} on ${label}`).toBe(Number.POSITIVE_INFINITY);
        expect(y[1], `${name} on ${label}`).toBeNaN();
      }
    }
  });

  test('sign(NaN) is NaN (and i32 sign is unchanged)', async () => {
    for (const [label, y] of await onEach((b) =>
      sign(f32(b, [Number.NaN, -2, 0, 3, Number.NEGATIVE_INFINITY], [5])),
    )) {
      expect(y[0], label).toBeNaN();
      expect(y.slice(1), label).toEqual([-1, 0, 1, -1]);
    }
    for (const [label, y] of await onEach((b) =>
      sign(tensor([-5, 0, 7], [3], { backend: b, dtype: 'i32' })),
    )) {
      expect(y, label).toEqual([-1, 0, 1]);
    }
  });
});

describe('f32 truthiness in logicalAnd / logicalOr', () => {
  test('NaN is true, -0 and 0 are false', async () => {
    const a = [Number.NaN, Number.NaN, 0, -0, 2, Number.NEGATIVE_INFINITY];
    const b = [1, 0, 1, 1, Number.NaN, 1];
    for (const [label, y] of await onEach((be) => compare('logicalAnd', f32(be, a, [6]), f32(be, b, [6])))) {
      expect(y, `logicalAnd on ${label}`).toEqual([1, 0, 0, 0, 1, 1]);
    }
    const zeros = [0, 0, 0, 0, 0, -0];
    for (const [label, y] of await onEach((be) =>
      compare('logicalOr', f32(be, a, [6]), f32(be, zeros, [6])),
    )) {
      expect(y, `logicalOr on ${label}`).toEqual([1, 1, 0, 0, 1, 1]);
    }
  });
});

describe('variance correction', () => {
  const rows = [1, 2, 3, 4, 2, 2, 2, 2];
  test('correction 0 (default) is the population variance, 1 the sample variance (torch.var)', async () => {
    for (const [label, y] of await onEach((b) => variance(f32(b, rows, [2, 4]), -1))) {
      expect(y, label).toEqual([1.25, 0]);
    }
    for (const [label, y] of await onEach((b) =>
      variance(f32(b, rows, [2, 4]), -1, false, { correction: 1 }),
    )) {
      expect(y[0], label).toBeCloseTo(5 / 3, 6);
      expect(y[1], label).toBe(0);
    }
    for (const [label, y] of await onEach((b) =>
      variance(f32(b, rows, [2, 4]), 0, true, { correction: 1 }),
    )) {
      expect(y, label).toEqual([0.5, 0, 0.5, 2]);
    }
  });

  test('a correction >= n divides by 0: inf, or NaN where the deviations are 0 (as torch.var)', async () => {
    for (const correction of [4, 5]) {
      for (const [label, y] of await onEach((b) =>
        variance(f32(b, rows, [2, 4]), -1, false, { correction }),
      )) {
        expect(y[0], `${label}, correction ${correction}`).toBe(Number.POSITIVE_INFINITY);
        expect(y[1], `${label}, correction ${correction}`).toBeNaN();
      }
    }
    for (const [label, y] of await onEach((b) =>
      variance(f32(b, [3], [1]), undefined, false, { correction: 1 }),
    )) {
      expect(y[0], label).toBeNaN();
    }
  });

  test('long rows (a workgroup per row on the GPU) and several axes match the reference', async () => {
    for (const [shape, axes] of [
      [[3, 1000], -1],
      [
        [4, 5, 6],
        [0, 2],
      ],
      [[50, 3], 0],
    ] as [number[], number | number[]][]) {
      await checkKernelCase(
        {
          name: `variance ${JSON.stringify(shape)} axes ${JSON.stringify(axes)} correction 1`,
          inputs: [{ shape }],
          run: (x) => variance(x!, axes, false, { correction: 1 }),
          rtol: 1e-4,
        },
        reference,
        others,
        freshSeed(),
      );
    }
  });

  test('the gradient with correction 1 is 2 (x - mean) / (n - 1)', async () => {
    const x = [1, 2, 4, 9];
    const mu = 4;
    for (const { label, backend } of all) {
      const xt = f32(backend, x, [4]);
      const { grads } = valueAndGrad(() => variance(xt, 0, false, { correction: 1 }), [xt]);
      const g = Array.from(await grads[0]!.read());
      for (const [i, v] of g.entries()) expect(v, label).toBeCloseTo((2 * (x[i]! - mu)) / 3, 5);
    }
  });

  test('correction must be a finite number >= 0', () => {
    const x = f32(reference, [1, 2], [2]);
    for (const correction of [-1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => variance(x, 0, false, { correction })).toThrow(/correction/);
  });
});
