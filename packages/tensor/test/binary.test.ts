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

describe('binary kernels', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
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
    expect(() => add(a, b)).toThrow(/input 1 \(tensor #\d+ f32\[2\]\) was disposed/);
  });
});
