// Reductions (sum, mean, max, min, argmax, logSumExp, variance) and sumToShape on every backend
// against the CPU reference, over shapes and axes that exercise each GPU strategy (one workgroup
// per row with and without subgroups, one invocation per output, contiguous and strided); their
// gradients against finite differences; and their input errors.

import { describe, expect, test } from 'vitest';
import {
  argmax,
  gradCheck,
  logSumExp,
  max,
  mean,
  min,
  mul,
  sum,
  sumToShape,
  type Tensor,
  tensor,
  valueAndGrad,
  variance,
} from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { checkKernelCase, type KernelCase } from './util/checkKernel.js';
import { freshSeed, rng } from './util/random.js';

const { reference, others } = await suiteBackends({ withoutSubgroups: true });

type Axes = number | number[] | undefined;
const layouts: [number[], Axes][] = [
  [[1], -1],
  [[3], undefined],
  [[2, 3], -1],
  [[5, 1000], -1], // rows of 1000: one workgroup per row (256 wide)
  [[2, 4097], 1], // rows of 4097
  [[3, 100], -1], // rows of 100 (64 wide)
  [[1000, 3], 0], // innermost kept: one invocation per output, strided
  [
    [4, 5, 6],
    [0, 2],
  ], // reduced, kept, reduced: strided rows
  [[2, 3, 65], 1],
  [
    [3, 1, 7, 2],
    [1, 2],
  ],
  [
    [2, 33, 40],
    [1, 2],
  ], // two trailing axes merge into one contiguous row of 1320
  [[2, 3, 4], []],
  // Long rows, few outputs: split into 4096-element pieces and reduced in a second pass.
  [[2, 20000], -1],
  [
    [150, 3, 130],
    [0, 2],
  ],
  [[70001], undefined],
];

const cases: KernelCase[] = [];
for (const [index, [shape, axes]] of layouts.entries()) {
  const tag = `${JSON.stringify(shape)} axes ${JSON.stringify(axes)}`;
  const long = shape.reduce((a, b) => a * b, 1) > 900;
  const keepDims = index % 2 === 1;
  cases.push(
    {
      name: `sum ${tag} keep=${keepDims}`,
      inputs: [{ shape }],
      run: (x) => sum(x, axes, keepDims),
      atol: long ? 2e-4 : 1e-5,
      // tfjs-wasm adds a row one f32 at a time: ~1e-3 off over 70k values of [-2, 2].
      ...(long && { skip: { 'tfjs-wasm': 'sequential f32 accumulation, covered by the short rows' } }),
    },
    { name: `mean ${tag} keep=${!keepDims}`, inputs: [{ shape }], run: (x) => mean(x, axes, !keepDims) },
    {
      name: `max, min ${tag}`,
      inputs: [{ shape }],
      run: (x) => [max(x, axes, keepDims), min(x, axes, true)],
    },
    {
      name: `logSumExp ${tag}`,
      inputs: [{ shape, range: [-20, 20] }],
      run: (x) => logSumExp(x, axes, keepDims),
    },
    { name: `variance ${tag}`, inputs: [{ shape }], run: (x) => variance(x, axes), rtol: 1e-4 },
    {
      name: `sum, max i32 ${tag}`,
      inputs: [{ shape, dtype: 'i32', range: [-1000, 1000] }],
      run: (x) => [sum(x, axes), max(x, axes, keepDims)],
    },
    { name: `sum bool ${tag}`, inputs: [{ shape, dtype: 'bool' }], run: (x) => sum(x, axes) },
  );
  const argAxis = typeof axes === 'number' ? axes : -1;
  cases.push(
    {
      name: `argmax ${JSON.stringify(shape)} axis ${argAxis}`,
      inputs: [{ shape }],
      run: (x) => argmax(x, argAxis),
    },
    {
      name: `argmax i32 ${JSON.stringify(shape)} axis ${argAxis} (ties)`,
      inputs: [{ shape, dtype: 'i32', range: [0, 3] }],
      run: (x) => argmax(x, argAxis, true),
    },
  );
}
cases.push(
  {
    name: 'sum u32 [7, 33]',
    inputs: [{ shape: [7, 33], dtype: 'u32', range: [0, 1e6] }],
    run: (x) => sum(x, -1),
  },
  {
    name: 'min u32 [7, 33]',
    inputs: [{ shape: [7, 33], dtype: 'u32', range: [0, 1e6] }],
    run: (x) => min(x, 0),
  },
  // Words >= 2^31 order as unsigned (tfjs holds u32 as int32).
  {
    name: 'max, min, argmax u32 >= 2^31',
    inputs: [{ shape: [3], dtype: 'u32', data: new Uint32Array([3e9, 5, 4e9]) }],
    run: (x) => [max(x), min(x), argmax(x, 0)],
    atol: 0,
    rtol: 0,
  },
  {
    name: 'max, min, argmax, sum u32 full range [7, 33]',
    inputs: [{ shape: [7, 33], dtype: 'u32', range: [0, 2 ** 32 - 1] }],
    run: (x) => [max(x, -1), min(x, 0), argmax(x, -1), argmax(x, 0), sum(x, -1)],
    atol: 0,
    rtol: 0,
  },
  {
    name: 'variance of rows with a large mean (two-pass)',
    inputs: [{ shape: [3, 1000], range: [999, 1001] }],
    run: (x) => variance(x, -1),
    rtol: 1e-3,
    atol: 1e-4,
  },
  {
    name: 'logSumExp of -inf and +inf rows',
    inputs: [{ shape: [3, 40], data: infRows() }],
    run: (x) => [logSumExp(x, -1), logSumExp(x, 0)],
  },
  {
    name: 'argmax takes the first of tied maxima',
    inputs: [
      {
        shape: [2, 300],
        data: Float32Array.from({ length: 600 }, (_, i) =>
          i % 300 === 7 || i % 300 === 250 || i === 599 ? 5 : 0,
        ),
      },
    ],
    run: (x) => [argmax(x, -1), argmax(x, 0)],
  },
);

/** Row 0 all -inf, row 1 holds a +inf, row 2 finite. */
function infRows(): Float32Array {
  const d = new Float32Array(120);
  for (let j = 0; j < 40; j++) {
    d[j] = Number.NEGATIVE_INFINITY;
    d[40 + j] = j === 5 ? Number.POSITIVE_INFINITY : j;
    d[80 + j] = -j;
  }
  return d;
}

describe('reductions', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  // Slow on a software Vulkan driver (SwiftShader: ~1 minute); run with VL_LARGE_TESTS=1.
  test.skipIf(!process.env.VL_LARGE_TESTS)(
    'more than 65,535 rows split the workgroup grid',
    { timeout: 300_000 },
    async () => {
      // Only the grid split is new here (the fallback reduction is slow on a CPU Vulkan driver).
      const onlyGpu = {
        cpu: 'covered above',
        'tfjs-cpu': 'covered above',
        'webgpu-no-subgroups': 'covered above',
      };
      await checkKernelCase(
        {
          name: 'sum [65537, 33]',
          inputs: [{ shape: [65537, 33] }],
          run: (x) => [sum(x, -1), argmax(x, -1)],
          skip: onlyGpu,
        },
        reference,
        others,
        freshSeed(),
      );
    },
  );

  test('shapes, dtypes and keepDims', () => {
    const x = tensor(new Float32Array(24), [2, 3, 4], { backend: reference });
    expect(sum(x).shape).toEqual([]);
    expect(sum(x, [0, -1], true).shape).toEqual([1, 3, 1]);
    expect(argmax(x, 1).dtype).toBe('i32');
    expect(argmax(x, 1).shape).toEqual([2, 4]);
    const b = tensor(new Uint8Array([1, 0, 1]), [3], { backend: reference, dtype: 'bool' });
    expect(sum(b).dtype).toBe('i32');
  });

  test('bad inputs name the op, the axes and the shapes', () => {
    const x = tensor(new Float32Array(6), [2, 3], { backend: reference });
    expect(() => sum(x, 2)).toThrow('sum: axis 2 is out of range for a tensor of rank 2');
    expect(() => max(x, [1, -1])).toThrow('max: axes [1,-1] repeat an axis');
    const i = tensor(new Int32Array(6), [2, 3], { backend: reference });
    expect(() => mean(i)).toThrow('mean: x must be f32, got i32[2, 3]');
    expect(() => variance(tensor(new Uint8Array(2), [2], { backend: reference, dtype: 'bool' }))).toThrow(
      'variance: x must be f32, got bool[2]',
    );
    const empty = tensor(new Float32Array(0), [2, 0], { backend: reference });
    expect(() => max(empty, 1)).toThrow('max: cannot reduce an empty axis of x [2, 0] (axes [1])');
    expect([...(sum(empty, 1).shape as number[])]).toEqual([2]);
    // torch's `ddof`/`unbiased` spelt here used to give the population variance without a word.
    expect(() => variance(x, 0, false, { ddof: 1 } as never)).toThrow(
      'variance: unknown option "ddof" (expected correction)',
    );
    // A truthy string kept the reduced dims.
    expect(() => sum(x, 1, 'false' as never)).toThrow(
      'sum: keepDims must be true or false, got "false" (a string)',
    );
    expect(() => argmax(x, 1, 1 as never)).toThrow('argmax: keepDims must be true or false, got 1');
  });
});

// ---------------------------------------------------------------------------------------------
// sumToShape and gradients.

describe('sumToShape', () => {
  const pairs: [number[], number[]][] = [
    [[2, 3], [3]],
    [
      [2, 3],
      [2, 1],
    ],
    [
      [4, 5, 6],
      [5, 1],
    ],
    [[3, 65], []],
    [
      [2, 3],
      [2, 3],
    ],
  ];
  test.each(pairs.map((p) => [JSON.stringify(p), p] as const))('%s', async (_, [from, to]) => {
    await checkKernelCase(
      { name: `sumToShape ${from} -> ${to}`, inputs: [{ shape: from }], run: (x) => sumToShape(x, to) },
      reference,
      others,
      freshSeed(),
    );
  });

  test('rejects shapes that do not broadcast', () => {
    const x = tensor(new Float32Array(6), [2, 3], { backend: reference });
    expect(() => sumToShape(x, [2])).toThrow('sumToShape: dy of shape [2, 3] is not a broadcast of [2]');
    expect(() => sumToShape(x, [1, 2, 3, 4])).toThrow(
      'sumToShape: dy of shape [2, 3] is not a broadcast of [1, 2, 3, 4]',
    );
  });
});

/** Distinct values on a shuffled grid 0.1 apart: max/min have no ties within eps. */
function distinct(size: number, seed: number, step = 0.1): Float32Array {
  const next = rng(seed);
  const order = Array.from({ length: size }, (_, i) => i).sort(() => next() - 0.5);
  return Float32Array.from(order, (k) => (k - size / 2) * step + (next() - 0.5) * 0.01);
}

const gradCases: [string, (x: Tensor) => Tensor][] = [
  ['sum all', (x) => sum(x)],
  ['sum axis 1', (x) => sum(x, 1)],
  ['sum axes [0, 2] keep', (x) => sum(x, [0, 2], true)],
  ['mean axis -1', (x) => mean(x, -1)],
  ['mean all', (x) => mean(x)],
  ['max axis -1', (x) => max(x, -1)],
  ['max axes [0, 2]', (x) => max(x, [0, 2])],
  ['min axis 1 keep', (x) => min(x, 1, true)],
  ['logSumExp axis -1', (x) => logSumExp(x, -1)],
  ['logSumExp axes [0, 1]', (x) => logSumExp(x, [0, 1], true)],
  ['variance axis -1', (x) => variance(x, -1)],
  ['variance axes [0, 2]', (x) => variance(x, [0, 2])],
];

describe('reduction gradients', () => {
  test.each(gradCases)('%s matches finite differences', async (_, f) => {
    const seed = freshSeed();
    const x = tensor(distinct(24, seed), [2, 3, 4], { backend: reference });
    const r = await gradCheck(f, [x]);
    expect(r.ok, `${r.message} (seed ${seed})`).toBe(true);
  });

  test('max shares the gradient among ties', async () => {
    const x = tensor([1, 3, 3, 2], [4], { backend: reference });
    const { grads } = valueAndGrad(() => max(x), [x]);
    expect([...(await grads[0]!.read())]).toEqual([0, 0.5, 0.5, 0]);
  });

  test('a mean over an empty axis and a variance with divisor 0 have gradients, as in PyTorch', async () => {
    // The forward gives NaN (0 / 0, or 0 squared deviations over 0); the backward used to throw
    // from scale() on the factor 1 / 0.
    const empty = tensor([], [0, 2], { backend: reference });
    const dMean = valueAndGrad(() => sum(mean(empty, 0)), [empty]).grads[0]!;
    expect(dMean.shape).toEqual([0, 2]);
    const one = tensor([1, 2, 3], [3, 1], { backend: reference });
    // One element with correction 1: 2 (x - mean) / 0 = 0 / 0, NaN (torch.var's gradient too).
    const dVar = valueAndGrad(() => sum(variance(one, 1, false, { correction: 1 })), [one]).grads[0]!;
    expect([...(await dVar.read())].every(Number.isNaN)).toBe(true);
    const dEmptyVar = valueAndGrad(() => sum(variance(empty, 0)), [empty]).grads[0]!;
    expect(dEmptyVar.shape).toEqual([0, 2]);
  });

  test('gradients agree across backends', async () => {
    for (const [name, f] of gradCases) {
      await checkKernelCase(
        {
          name: `grad ${name}`,
          inputs: [{ shape: [2, 3, 40], data: distinct(240, 7, 0.01) }],
          run: (x) => valueAndGrad(() => sum(mul(f(x!), f(x!))), [x!]).grads,
          atol: 1e-4,
          rtol: 1e-4,
        },
        reference,
        others,
        freshSeed(),
      );
    }
  });
});
