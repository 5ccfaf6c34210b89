import { describe, expect, test } from 'vitest';
import { add, compare, div, maximum, minimum, mul, pow, sub, tensor } from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { checkKernelCase, type KernelCase } from './util/checkKernel.js';
import { freshSeed } from './util/random.js';

const { reference, others } = await suiteBackends();

const shapes: [number[], number[]][] = [
  [[7], [7]],
  [[3, 5], [5]],
  [
    [2, 1, 7],
    [3, 1],
  ],
  [[1], [4, 3, 2]],
  [
    [65, 33],
    [65, 1],
  ],
  [
    [2, 3, 1, 5, 1],
    [1, 3, 4, 1, 2],
  ],
];

const cases: KernelCase[] = [];
for (const [a, b] of shapes) {
  for (const [name, fn] of Object.entries({ add, sub, mul, div, maximum, minimum })) {
    cases.push({
      name: `${name} ${JSON.stringify(a)} ${JSON.stringify(b)}`,
      inputs: [{ shape: a }, { shape: b }],
      run: fn,
    });
  }
  cases.push({
    name: `pow ${JSON.stringify(a)}`,
    inputs: [{ shape: a, range: [0.1, 3] }, { shape: b }],
    run: pow,
    atol: 1e-4,
    rtol: 1e-4,
  });
  cases.push({
    name: `less ${JSON.stringify(a)}`,
    inputs: [{ shape: a }, { shape: b }],
    run: (x, y) => compare('less', x!, y!),
  });
  cases.push({
    name: `add i32 ${JSON.stringify(a)}`,
    inputs: [
      { shape: a, dtype: 'i32', range: [-50, 50] },
      { shape: b, dtype: 'i32', range: [-50, 50] },
    ],
    run: add,
  });
}

// Math.pow's special values (the reference): every base against every exponent. WGSL's pow is
// exp2(b * log2(a)), which gets x ** 0 wrong for x = 0 and Infinity and is undefined for a < 0.
const powBases = [0, -0, Infinity, -Infinity, NaN, 1, -1, 2, -2, 0.5, -0.5, 3];
const powExponents = [0, -0, 1, -1, 2, 3, -3, 0.5, -0.5, Infinity, -Infinity, NaN, 3e9, 2 ** 24 + 2];
cases.push({
  name: 'pow special values (Math.pow)',
  inputs: [
    { shape: [powBases.length, 1], data: Float32Array.from(powBases) },
    { shape: [1, powExponents.length], data: Float32Array.from(powExponents) },
  ],
  run: pow,
  atol: 1e-5,
  rtol: 1e-5,
});

// Integer products wrap like two's complement (Math.imul, WGSL and PyTorch), also past 2^53 where
// a double product has lost its low bits; u32 words >= 2^31 order, divide and multiply unsigned
// (tfjs holds u32 as int32).
const exact = { atol: 0, rtol: 0 };
const i32Full = { dtype: 'i32' as const, range: [-(2 ** 31), 2 ** 31 - 1] as [number, number] };
const u32Full = { dtype: 'u32' as const, range: [0, 2 ** 32 - 1] as [number, number] };
cases.push(
  {
    name: 'mul i32 wraps',
    inputs: [
      { shape: [4], dtype: 'i32', data: new Int32Array([123456789, 2147483647, -2147483647, -2147483648]) },
      { shape: [4], dtype: 'i32', data: new Int32Array([987654321, 2147483647, 3, -1]) },
    ],
    run: mul,
    ...exact,
  },
  {
    name: 'mul i32 full range [65, 33] [33]',
    inputs: [
      { shape: [65, 33], ...i32Full },
      { shape: [33], ...i32Full },
    ],
    run: mul,
    ...exact,
  },
  {
    name: 'div i32 full range',
    inputs: [
      { shape: [65, 33], ...i32Full },
      { shape: [65, 1], dtype: 'i32', range: [-70000, 70000] },
    ],
    run: div,
    ...exact,
  },
  {
    name: 'u32 >= 2^31: compare, maximum, minimum, div, mul',
    inputs: [
      { shape: [4], dtype: 'u32', data: new Uint32Array([3e9, 5, 4e9, 2 ** 31]) },
      { shape: [4], dtype: 'u32', data: new Uint32Array([1, 7, 2, 2 ** 31 - 1]) },
    ],
    run: (a, b) => [
      compare('greater', a!, b!),
      compare('lessEqual', a!, b!),
      maximum(a!, b!),
      minimum(a!, b!),
      div(a!, b!),
      mul(a!, b!),
    ],
    ...exact,
  },
  {
    name: 'u32 full range [7, 33] [33]',
    inputs: [
      { shape: [7, 33], ...u32Full },
      { shape: [33], ...u32Full },
    ],
    run: (a, b) => [
      compare('less', a!, b!),
      compare('greaterEqual', a!, b!),
      compare('equal', a!, b!),
      maximum(a!, b!),
      minimum(a!, b!),
      add(a!, b!),
      sub(a!, b!),
      mul(a!, b!),
      div(a!, b!),
    ],
    ...exact,
  },
);

describe('binary kernels', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('pow(x, 0) is 1 for every x, and x ** 1 is x, on every backend', async () => {
    for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
      const x = Float32Array.from([0, -0, Infinity, -Infinity, NaN, 2, -3]);
      const y0 = pow(tensor(x, [7], { backend }), tensor(new Float32Array(7), [7], { backend }));
      expect([...(await y0.read())], label).toEqual([1, 1, 1, 1, 1, 1, 1]);
      const y1 = pow(tensor(x, [7], { backend }), tensor(new Float32Array(7).fill(1), [7], { backend }));
      expect([...(await y1.read())], label).toEqual([...x]); // -0 stays -0 (toEqual tells them apart)
      // (-0) ** odd keeps the sign; (-inf) ** 0.5 is inf, not NaN.
      const y2 = pow(
        tensor([-0, -0, -Infinity, -Infinity], [4], { backend }),
        tensor([3, -3, 0.5, -3], [4], { backend }),
      );
      expect([...(await y2.read())], label).toEqual([-0, -Infinity, Infinity, -0]);
      for (const y of [y0, y1, y2]) y.dispose();
    }
  });

  test('mismatched shapes name both shapes', () => {
    const a = tensor([1, 2, 3], [3], { backend: reference });
    const b = tensor([1, 2], [2], { backend: reference });
    expect(() => add(a, b)).toThrow('add: shapes [3] and [2] cannot be broadcast together');
  });

  test('mismatched dtypes are named', () => {
    const a = tensor([1, 2], [2], { backend: reference });
    const b = tensor(new Int32Array([1, 2]), [2], { backend: reference });
    expect(() => mul(a, b)).toThrow('mul: dtypes differ (f32 and i32)');
  });

  test('a disposed tensor and tensors from two backends are rejected', () => {
    const a = tensor([1, 2], [2], { backend: reference });
    const b = tensor([1, 2], [2], { backend: others[0]!.backend });
    expect(() => add(a, b)).toThrow(/input 1 is on a cpu backend but input 0 is on another/);
    b.dispose();
    expect(() => add(a, b)).toThrow(/add: b \(tensor #\d+ f32\[2\]\) was disposed/);
  });
});

test('arithmetic on bool tensors is refused (true + true has no bool answer); comparisons work', async () => {
  const t = tensor(new Uint8Array([1, 0]), [2], { backend: reference, dtype: 'bool' });
  for (const op of [add, sub, mul, div, maximum, minimum])
    expect(() => op(t, t)).toThrow(/bool tensors hold truth values; cast to i32 or f32 for arithmetic/);
  expect(Array.from(await compare('equal', t, t).read())).toEqual([1, 1]);
  t.dispose();
});
