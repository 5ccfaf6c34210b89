import { describe, expect, test } from 'vitest';
import { type Backend, type Tensor, tensor } from '../src/index.node.js';
import { multinomial, repetitionPenalty, sample } from '../src/kernels/sampling.js';
import { topk } from '../src/kernels/topk.js';
import { suiteBackends } from './util/backends.js';
import { type KernelCase, checkKernelCase } from './util/checkKernel.js';
import { freshSeed, randomArray, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

/** f32 data with many ties: small integers (and a few halves) in [-lim, lim], from `seed`. */
function tiedData(size: number, lim: number, seed = dataSeed): Float32Array {
  const next = rng(seed + size);
  return Float32Array.from(
    { length: size },
    () => Math.floor(next() * (2 * lim + 1)) / (next() < 0.1 ? 2 : 1) - lim,
  );
}

// Cases with hand-made data draw it from this seed (printed in their names), fresh per run.
const dataSeed = freshSeed();
const exact = { atol: 0, rtol: 0 };
const topkCases: KernelCase[] = [];
const both = (x: Tensor, k: number, axis?: number) => {
  const r = topk(x, k, axis);
  return [r.values, r.indices];
};
for (const [rows, n, ks] of [
  [1, 1, [0, 1]],
  [3, 5, [1, 3, 5]],
  [2, 1000, [1, 7, 300, 1000]],
  // Rows longer than one 1,024-entry block: rounds of block-wise top-k (k <= 256), or a full sort.
  [2, 33000, [1, 50]],
  [1, 33000, [33000]],
  [3, 1100, [257, 1100]],
  [65, 130, [3, 33]],
] as [number, number, number[]][]) {
  for (const k of ks) {
    topkCases.push({
      name: `topk [${rows}, ${n}] k=${k} with ties (data seed ${dataSeed})`,
      inputs: [{ shape: [rows, n], data: tiedData(rows * n, n < 10 ? 1 : 20) }],
      run: (x) => both(x!, k),
      ...exact,
    });
  }
}
topkCases.push(
  { name: 'topk [17, 33] k=5 distinct', inputs: [{ shape: [17, 33] }], run: (x) => both(x!, 5), ...exact },
  {
    name: `topk [5, 37, 3] axis 1 k=4 (data seed ${dataSeed})`,
    inputs: [{ shape: [5, 37, 3], data: tiedData(555, 5) }],
    run: (x) => both(x!, 4, 1),
    ...exact,
  },
  { name: 'topk [33, 3] axis 0 k=33', inputs: [{ shape: [33, 3] }], run: (x) => both(x!, 33, 0), ...exact },
  {
    name: 'topk i32 [3, 65] k=17',
    inputs: [{ shape: [3, 65], dtype: 'i32', range: [-(2 ** 31), 2 ** 31 - 1] }],
    run: (x) => both(x!, 17),
    ...exact,
  },
  {
    name: 'topk i32 [2, 130] k=130 with ties',
    inputs: [{ shape: [2, 130], dtype: 'i32', range: [-3, 3] }],
    run: (x) => both(x!, 130),
    ...exact,
  },
  {
    name: 'topk NaN, infinities and signed zeros',
    inputs: [
      {
        shape: [2, 7],
        data: new Float32Array([
          0,
          Number.NaN,
          -0,
          Number.NEGATIVE_INFINITY,
          1,
          Number.POSITIVE_INFINITY,
          -0,
          -1,
          -0,
          0,
          -3,
          Number.NaN,
          2,
          0,
        ]),
      },
    ],
    run: (x) => both(x!, 7),
    ...exact,
  },
  {
    name: 'topk NaN and signed zeros, k > 32 (bitonic blocks)',
    inputs: [
      {
        shape: [1, 40],
        data: Float32Array.from(
          { length: 40 },
          (_, i) => [Number.NaN, -0, 0, 1, -1, Number.NEGATIVE_INFINITY][i % 6]!,
        ),
      },
    ],
    run: (x) => both(x!, 40),
    ...exact,
  },
);

describe('topk', () => {
  test.each(topkCases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('matches a plain sort: descending, ties by lower index, NaN first, -0 equals 0', async () => {
    const x = tensor([3, 1, Number.NaN, 3, -0, 0, 2, 1], [8], { backend: reference });
    const { values, indices } = topk(x, 8);
    expect(Array.from(await indices.read())).toEqual([2, 0, 3, 6, 1, 7, 4, 5]);
    expect(Array.from(await values.read())).toEqual([Number.NaN, 3, 3, 2, 1, 1, -0, 0]);
    const next = rng(freshSeed());
    const data = randomArray(1000, 'i32', next, [-10, 10]);
    const r = topk(tensor(data, [1000], { backend: reference }), 100);
    const want = Array.from(data.keys())
      .sort((a, b) => data[b]! - data[a]! || a - b)
      .slice(0, 100);
    expect(Array.from(await r.indices.read())).toEqual(want);
  });

  test('bad arguments name the op and the shapes', () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend: reference });
    expect(() => topk(x, 4)).toThrow('topk: k must be an integer in [0, 3] (axis 1 of x [2, 3]), got 4');
    expect(() => topk(x, 1, 2)).toThrow('topk: axis 2 is out of range for a tensor of rank 2');
    const b = tensor([1, 0], [2], { backend: reference, dtype: 'bool' });
    expect(() => topk(b, 1)).toThrow('topk: x must be f32 or i32, got bool[2]');
  });
});

// ---- sampling ----

const runOn = async (backend: Backend, data: Float32Array, shape: number[], f: (x: Tensor) => Tensor) => {
  const x = tensor(data, shape, { backend });
  const y = f(x);
  const v = await y.read();
  x.dispose();
  y.dispose();
  return Array.from(v);
};

/** Draw counts of each id. */
function histogram(ids: number[], V: number): number[] {
  const h = new Array<number>(V).fill(0);
  for (const id of ids) h[id]!++;
  return h;
}

/** Pearson's chi-square statistic of counts against probabilities (categories with p = 0 must be empty). */
function chiSquare(counts: number[], probs: number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  let x2 = 0;
  probs.forEach((p, i) => {
    if (p === 0) expect(counts[i], `category ${i} has probability 0`).toBe(0);
    else x2 += (counts[i]! - n * p) ** 2 / (n * p);
  });
  return x2;
}

// The 99.99th percentile of chi-square for up to 7 degrees of freedom is below 30; the draws use
// fixed seeds, so these bounds are deterministic and not flaky.
const CHI2_BOUND = 30;

const softmax = (xs: number[], t = 1) => {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp((x - m) / t));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
};

const samplingCases: KernelCase[] = [];
for (const [B, V] of [
  [1, 1],
  [33, 5],
  [17, 1000],
  [3, 5000],
  [2, 33000],
] as const) {
  const seed = freshSeed();
  const option: [string, Parameters<typeof sample>[1]][] = [
    ['greedy', { temperature: 0 }],
    ['T=1', { seed }],
    ['T=0.7 topK=50', { temperature: 0.7, topK: 50, seed }],
    ['T=1.3 topP=0.9', { temperature: 1.3, topP: 0.9, seed }],
    ['topK=40 topP=0.8 minP=0.05', { topK: 40, topP: 0.8, minP: 0.05, seed }],
    ['minP=0.1', { minP: 0.1, seed }],
  ];
  for (const [label, options] of option) {
    if (V === 33000 && label !== 'T=0.7 topK=50' && label !== 'greedy') continue;
    samplingCases.push({
      name: `sample [${B}, ${V}] ${label} (seed ${seed})`,
      inputs: [{ shape: [B, V], range: [-4, 4] }],
      run: (x) => sample(x!, options),
      ...exact,
    });
  }
}
samplingCases.push(
  {
    name: 'sample [V] returns a scalar',
    inputs: [{ shape: [65] }],
    run: (x) => sample(x!, { seed: 5, topK: 3 }),
    ...exact,
  },
  {
    name: 'multinomial [5, 130] x 33 draws with zeros',
    inputs: [{ shape: [5, 130], range: [-1, 1] }],
    run: (x) => multinomial(x!, { seed: 11, numSamples: 33 }),
    ...exact,
  },
  {
    name: 'multinomial [2, 3000] x 5 draws (a workgroup per row)',
    inputs: [{ shape: [2, 3000], range: [0, 1] }],
    run: (x) => multinomial(x!, { seed: 13, numSamples: 5 }),
    ...exact,
  },
  {
    name: 'multinomial without replacement [3, 65] x 17',
    inputs: [{ shape: [3, 65], range: [0, 1] }],
    run: (x) => multinomial(x!, { seed: 12, numSamples: 17, replacement: false }),
    ...exact,
  },
  {
    name: 'repetitionPenalty [3, 33] with repeats and padding',
    inputs: [
      { shape: [3, 33] },
      {
        shape: [3, 7],
        dtype: 'i32',
        data: new Int32Array([0, 5, 5, -1, 32, 33, 7, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, 2]),
      },
    ],
    run: (x, t) => repetitionPenalty(x!, t!, 1.3),
    rtol: 1e-6,
    atol: 0,
  },
  {
    name: 'repetitionPenalty [2, 17] with one history for every row',
    inputs: [{ shape: [2, 17] }, { shape: [3], dtype: 'i32', data: new Int32Array([16, 3, 0]) }],
    run: (x, t) => repetitionPenalty(x!, t!, 0.8),
    rtol: 1e-6,
    atol: 0,
  },
);

describe('sample, multinomial, repetitionPenalty', () => {
  test.each(samplingCases.map((c) => [c.name, c] as const))('%s agrees across backends', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('greedy picks the lowest id among tied maxima; top-k = 1 draws among them all (as Hugging Face)', async () => {
    const next = rng(freshSeed());
    const [B, V] = [9, 130];
    const data = Float32Array.from({ length: B * V }, () => Math.floor(next() * 20));
    const maxima = Array.from({ length: B }, (_, b) => {
      const row = data.subarray(b * V, (b + 1) * V);
      const top = Math.max(...row);
      return [...row.keys()].filter((j) => row[j] === top);
    });
    expect(maxima.some((ids) => ids.length > 1)).toBe(true); // the data has ties at the top
    for (const backend of [reference, ...others.map((o) => o.backend)]) {
      const greedy = await runOn(backend, data, [B, V], (x) => sample(x, { temperature: 0 }));
      expect(greedy, backend.name).toEqual(maxima.map((ids) => ids[0]));
      for (let seed = 0; seed < 6; seed++) {
        const drawn = await runOn(backend, data, [B, V], (x) => sample(x, { topK: 1, seed }));
        drawn.forEach((id, b) => {
          expect(maxima[b], `${backend.name}, row ${b}, seed ${seed}`).toContain(id);
        });
      }
    }
  });

  test('top-k keeps every logit tied with the k-th, with and without top-p (chi-square)', async () => {
    const rows = 6000;
    for (const [logits, k, topP, want] of [
      // Three tied maxima and top-k 1: a third each.
      [[2, 2, 2, 0], 1, 1, [1 / 3, 1 / 3, 1 / 3, 0]],
      // The 2nd largest is tied: top-k 2 keeps three, in softmax proportions.
      [[3, 1, 1, 0], 2, 1, softmax([3, 1, 1]).concat(0)],
      [[3, 1, 1, 0], 2, 0.999, softmax([3, 1, 1]).concat(0)],
      // 70 logits tied with the 1st: with top-p, the first 1 + 64 of them (lowest ids) are kept.
      [
        new Array(80).fill(0).map((_, i) => (i < 70 ? 1 : 0)),
        1,
        0.9999,
        new Array(80).fill(0).map((_, i) => (i < 65 ? 1 / 65 : 0)),
      ],
    ] as const) {
      const V = logits.length;
      const data = new Float32Array(rows * V).map((_, i) => logits[i % V]!);
      for (const backend of [reference, ...others.map((o) => o.backend)]) {
        const ids = await runOn(backend, data, [rows, V], (x) => sample(x, { topK: k, topP, seed: 41 }));
        const tag = `${backend.name}: [${logits.slice(0, 6)}${V > 6 ? ', ...' : ''}] top-k ${k} top-p ${topP}`;
        const bound = V > 8 ? 130 : CHI2_BOUND; // 64 degrees of freedom: the 99.99th percentile is ~120
        expect(chiSquare(histogram(ids, V), [...want]), tag).toBeLessThan(bound);
      }
    }
  });

  test('the same seed draws the same tokens; another seed other tokens', async () => {
    const next = rng(freshSeed());
    const data = Float32Array.from({ length: 64 * 100 }, () => next());
    const a = await runOn(reference, data, [64, 100], (x) => sample(x, { seed: 1 }));
    const b = await runOn(reference, data, [64, 100], (x) => sample(x, { seed: 1 }));
    const c = await runOn(reference, data, [64, 100], (x) => sample(x, { seed: 2 }));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  test('multinomial frequencies match the probabilities (chi-square)', async () => {
    const weights = [0.1, 0, 0.25, 0.05, 0.3, 0.2, 0.1];
    for (const backend of [reference, ...others.map((o) => o.backend)]) {
      // One row, 20,000 draws; weights scaled by 3 (they need not sum to 1).
      const ids = await runOn(backend, new Float32Array(weights.map((w) => 3 * w)), [7], (x) =>
        multinomial(x, { seed: 21, numSamples: 20000 }),
      );
      expect(chiSquare(histogram(ids, 7), weights), backend.name).toBeLessThan(CHI2_BOUND);
    }
  });

  test('sampling frequencies follow softmax(logits / T) over the top-p nucleus', async () => {
    const logits = [1, -0.5, 2, 0.3, -2, 0.8];
    const rows = 6000;
    const data = new Float32Array(rows * 6).map((_, i) => logits[i % 6]!);
    for (const backend of [reference, ...others.map((o) => o.backend)]) {
      const plain = await runOn(backend, data, [rows, 6], (x) => sample(x, { temperature: 0.8, seed: 31 }));
      expect(chiSquare(histogram(plain, 6), softmax(logits, 0.8)), backend.name).toBeLessThan(CHI2_BOUND);
      // At T = 0.8 the sorted probabilities are .57, .22, .10, .07, .03, .004: top-p 0.85 keeps 3.
      const p = softmax(logits, 0.8);
      const nucleus = [2, 0, 5];
      const kept = p.map((q, i) => (nucleus.includes(i) ? q : 0));
      const z = kept.reduce((a, b) => a + b, 0);
      const ids = await runOn(backend, data, [rows, 6], (x) =>
        sample(x, { temperature: 0.8, topP: 0.85, seed: 32 }),
      );
      expect(
        chiSquare(
          histogram(ids, 6),
          kept.map((q) => q / z),
        ),
        backend.name,
      ).toBeLessThan(CHI2_BOUND);
    }
  });

  test('top-p and min-p boundaries', async () => {
    // Probabilities .5, .3, .15, .05 at ids 3, 0, 2, 1.
    const probs = [0.3, 0.05, 0.15, 0.5];
    const rows = 400;
    const data = new Float32Array(rows * 4).map((_, i) => Math.log(probs[i % 4]!));
    const drawn = async (backend: Backend, options: Parameters<typeof sample>[1]) =>
      new Set(await runOn(backend, data, [rows, 4], (x) => sample(x, options)));
    for (const backend of [reference, ...others.map((o) => o.backend)]) {
      const at = backend.name;
      expect(await drawn(backend, { topP: 0.4, seed: 1 }), at).toEqual(new Set([3])); // at least one token
      expect(await drawn(backend, { topP: 0.79, seed: 2 }), at).toEqual(new Set([3, 0])); // .5 + .3 >= .79
      expect(await drawn(backend, { topP: 0.81, seed: 3 }), at).toEqual(new Set([3, 0, 2]));
      expect(await drawn(backend, { topP: 1, seed: 4 }), at).toEqual(new Set([3, 0, 2, 1]));
      expect(await drawn(backend, { minP: 0.35, seed: 5 }), at).toEqual(new Set([3, 0])); // >= .175
      expect(await drawn(backend, { minP: 0.25, topK: 2, seed: 6 }), at).toEqual(new Set([3, 0]));
      expect(await drawn(backend, { topK: 3, topP: 0.99, seed: 7 }), at).toEqual(new Set([3, 0, 2]));
    }
  });

  test('multinomial without replacement draws distinct ids with positive weight', async () => {
    const weights = new Float32Array([0, 1, 2, 0, 3, 4, 0, 5]);
    const data = new Float32Array(50 * 8).map((_, i) => weights[i % 8]!);
    for (const backend of [reference, ...others.map((o) => o.backend)]) {
      const ids = await runOn(backend, data, [50, 8], (x) =>
        multinomial(x, { seed: 8, numSamples: 5, replacement: false }),
      );
      for (let r = 0; r < 50; r++) {
        const row = ids.slice(r * 5, r * 5 + 5);
        expect(new Set(row), backend.name).toEqual(new Set([1, 2, 4, 5, 7]));
      }
    }
  });

  test('a row of -Infinity logits or zero weights draws -1', async () => {
    const ninf = new Float32Array(4).fill(Number.NEGATIVE_INFINITY);
    for (const backend of [reference, ...others.map((o) => o.backend)]) {
      expect(await runOn(backend, ninf, [1, 4], (x) => sample(x, { seed: 1 })), backend.name).toEqual([-1]);
      expect(
        await runOn(backend, new Float32Array(4), [4], (x) => multinomial(x, { seed: 1, numSamples: 2 })),
      ).toEqual([-1, -1]);
    }
  });

  test('NaN logits are never drawn, the greedy pick nor kept by top-k, on every backend (short and long rows)', async () => {
    for (const V of [5, 2000]) {
      // Row 0: NaN at 1 and 3, the largest finite logit at 2; row 1: NaN only.
      const data = new Float32Array(2 * V).fill(-4);
      data.set([1, Number.NaN, 3, Number.NaN], 0);
      data.fill(Number.NaN, V);
      for (const backend of [reference, ...others.map((o) => o.backend)]) {
        const tag = `${backend.name}, V=${V}`;
        expect(await runOn(backend, data, [2, V], (x) => sample(x, { temperature: 0 })), tag).toEqual([
          2, -1,
        ]);
        for (let seed = 0; seed < 8; seed++) {
          const [pick, none] = await runOn(backend, data, [2, V], (x) => sample(x, { seed, temperature: 2 }));
          expect(pick! >= 0 && !Number.isNaN(data[pick!]), `${tag}, seed ${seed}: drew ${pick}`).toBe(true);
          expect(none, tag).toBe(-1);
          const [top] = await runOn(backend, data, [2, V], (x) => sample(x, { seed, topK: 3, topP: 0.9 }));
          expect(top! >= 0 && !Number.isNaN(data[top!]), `${tag}, top-k, seed ${seed}: drew ${top}`).toBe(
            true,
          );
          // NaN ranks last for the cut: top-1 keeps the largest finite logit (NaN took the slot, -1).
          const [one] = await runOn(backend, data, [2, V], (x) => sample(x, { seed, topK: 1 }));
          expect(one, `${tag}, top-1, seed ${seed}`).toBe(2);
        }
      }
    }
  });

  test('repetitionPenalty follows the Hugging Face rule', async () => {
    const x = tensor([2, -2, 1, 0.5], [1, 4], { backend: reference });
    const ids = tensor(new Int32Array([0, 1, 1, 9]), [1, 4], { backend: reference });
    expect(Array.from(await repetitionPenalty(x, ids, 2).read())).toEqual([1, -4, 1, 0.5]);
  });

  test('bad arguments name the op, the input and its shape', () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend: reference });
    const i = tensor(new Int32Array([1, 2]), [2, 1], { backend: reference });
    expect(() => sample(i, { seed: 1 })).toThrow(
      'sample: expects f32 [B, V] or [V] with V > 0, got i32[2, 1]',
    );
    expect(() => sample(x, {})).toThrow('sample: options.seed is required when temperature > 0');
    expect(() => sample(x, { seed: 1, topP: 0 })).toThrow('sample: topP must be in (0, 1], got 0');
    expect(() => sample(x, { seed: 1, temperature: -1 })).toThrow('sample: temperature must be in [0,');
    expect(() => sample(x, { seed: 1, topK: 1.5 })).toThrow(
      'sample: topK must be a non-negative integer, got 1.5',
    );
    expect(() => multinomial(x, { seed: 1, numSamples: 4, replacement: false })).toThrow(
      'multinomial: numSamples must be an integer in [1, 3], got 4 (probs f32[2, 3])',
    );
    const bad = tensor(new Int32Array([1, 2, 3]), [3, 1], { backend: reference });
    expect(() => repetitionPenalty(x, bad, 1.2)).toThrow(
      'repetitionPenalty: tokens must be i32 [L] or i32 [B, L] matching logits [2, 3], got i32[3, 1]',
    );
    expect(() => repetitionPenalty(x, i, 0)).toThrow(
      'repetitionPenalty: penalty must be a positive number, got 0',
    );
  });
});
