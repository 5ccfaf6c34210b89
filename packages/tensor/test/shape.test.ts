import { describe, expect, test } from 'vitest';
import { gradCheck } from '../src/autograd/gradCheck.js';
import { f32ToBf16, f32ToF16 } from '../src/dtype.js';
import {
  concat,
  type DType,
  expandDims,
  flatten,
  pad,
  reshape,
  slice,
  squeeze,
  type Tensor,
  tensor,
  transpose,
  unsqueeze,
} from '../src/index.node.js';
import { simplifyPermutation } from '../src/kernels/transpose.js';
import { suiteBackends } from './util/backends.js';
import { checkKernelCase, type InputSpec, type KernelCase } from './util/checkKernel.js';
import { freshSeed, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

/** An input spec; f16/bf16 get explicit random data (the harness draws only 32-bit dtypes). */
function input(shape: number[], dtype: DType = 'f32', range?: [number, number]): InputSpec {
  if (dtype !== 'f16' && dtype !== 'bf16') return { shape, dtype, range };
  const next = rng(Math.floor(Math.random() * 2 ** 31));
  const size = shape.reduce((a, b) => a * b, 1);
  const bits = dtype === 'f16' ? f32ToF16 : f32ToBf16;
  return { shape, dtype, data: Uint16Array.from({ length: size }, () => bits(next() * 8 - 4)) };
}

const cases: KernelCase[] = [];
const add = (name: string, inputs: InputSpec[], run: KernelCase['run']) => cases.push({ name, inputs, run });

// transpose: the tiled 2-D path, the batched path (incl. NCHW -> NHWC, which simplifies to it),
// the general index map, 16-bit packing, scalars and empty tensors.
add('transpose [33, 17] default', [input([33, 17])], (x) => transpose(x!));
add('transpose [3, 65, 33] [0, 2, 1]', [input([3, 65, 33])], (x) => transpose(x!, [0, 2, 1]));
add('transpose NCHW->NHWC [2, 3, 5, 7]', [input([2, 3, 5, 7])], (x) => transpose(x!, [0, 2, 3, 1]));
add('transpose [2, 3, 5, 7] [0, 2, 1, 3]', [input([2, 3, 5, 7])], (x) => transpose(x!, [0, 2, 1, 3]));
// Only a size-1 axis moves (a decode step's heads): a view.
add('transpose [2, 1, 3, 4] [0, 2, 1, 3]', [input([2, 1, 3, 4])], (x) => transpose(x!, [0, 2, 1, 3]));
add('transpose i32 [65, 1, 3] [2, 1, 0]', [input([65, 1, 3], 'i32', [-100, 100])], (x) =>
  transpose(x!, [2, 1, 0]),
);
add('transpose bool rank 6', [input([2, 1, 3, 2, 3, 2], 'bool')], (x) => transpose(x!, [5, 3, 0, 4, 1, 2]));
add('transpose u32 rank 8', [input([2, 1, 2, 3, 1, 2, 2, 3], 'u32', [0, 1000])], (x) =>
  transpose(x!, [7, 0, 6, 1, 5, 2, 4, 3]),
);
add('transpose f16 [3, 5, 7] [2, 0, 1]', [input([3, 5, 7], 'f16')], (x) => transpose(x!, [2, 0, 1]));
add('transpose bf16 [5, 3]', [input([5, 3], 'bf16')], (x) => transpose(x!));
add('transpose negative perm [4, 3, 2]', [input([4, 3, 2])], (x) => transpose(x!, [-1, 0, -2]));
add('transpose scalar', [input([])], (x) => transpose(x!));
add('transpose empty [0, 3]', [input([0, 3])], (x) => transpose(x!));

// reshape views, then a kernel that reads the view (the alias must carry the new shape).
cases.push({
  name: 'reshape [6, 5] -> [3, -1] then transpose',
  inputs: [input([6, 5])],
  run: (x) => transpose(reshape(x!, [3, -1])),
});
add('flatten/squeeze/unsqueeze chain', [input([2, 1, 3, 4])], (x) => {
  const f = flatten(x!, 2); // [2, 1, 12]
  const s = squeeze(f); // [2, 12]
  return [s, expandDims(s, -1), unsqueeze(s, 0)];
});

// slice
add('slice [7, 9] begin [1, 2] size [3, -1]', [input([7, 9])], (x) => slice(x!, [1, 2], [3, -1]));
add('slice negative begin [7, 9]', [input([7, 9])], (x) => slice(x!, [-3, -9], [2, 4]));
add('slice rank 4 [2, 3, 17, 5]', [input([2, 3, 17, 5])], (x) => slice(x!, [1, 0, 3, 1], [1, 3, 13, 3]));
add('slice i32 [33, 3]', [input([33, 3], 'i32', [-9, 9])], (x) => slice(x!, [5, 1], [17, 1]));
add('slice bool [5, 6]', [input([5, 6], 'bool')], (x) => slice(x!, [1, 1], [3, 3]));
add('slice f16 odd offsets [5, 7]', [input([5, 7], 'f16')], (x) => slice(x!, [1, 1], [3, 5]));
add('slice empty result', [input([4, 3])], (x) => slice(x!, [2, 0], [0, 3]));

// concat: one group, several groups (10 inputs, more than one dispatch), packed 16-bit words
// that straddle two inputs.
add('concat 3 inputs axis 1', [input([2, 3, 4]), input([2, 1, 4]), input([2, 5, 4])], (...xs) =>
  concat(xs, 1),
);
add('concat axis 0 i32', [input([3, 5], 'i32', [-50, 50]), input([2, 5], 'i32', [-50, 50])], (...xs) =>
  concat(xs, 0),
);
add('concat axis -1 bool', [input([3, 2], 'bool'), input([3, 3], 'bool')], (...xs) => concat(xs, -1));
const ten = Array.from({ length: 10 }, (_, i) => input([3, 1 + (i % 3), 5]));
add('concat 10 inputs axis 1', ten, (...xs) => concat(xs, 1));
const tenHalf = Array.from({ length: 10 }, (_, i) => input([3, 1 + (i % 2)], 'f16'));
add('concat 10 f16 inputs axis 1', tenHalf, (...xs) => concat(xs, 1));
add(
  'concat f16 axis 0 odd sizes',
  [input([1, 3], 'f16'), input([1, 3], 'f16'), input([3, 3], 'f16')],
  (...xs) => concat(xs, 0),
);
add('concat with an empty input', [input([2, 0]), input([2, 3])], (...xs) => concat(xs, 1));
add('concat single input', [input([4, 3])], (x) => concat([x!], 0));

// pad
add('pad constant [3, 5]', [input([3, 5])], (x) =>
  pad(x!, [
    [1, 2],
    [0, 3],
  ]),
);
add('pad constant 1.5 rank 4', [input([2, 3, 5, 4])], (x) =>
  pad(
    x!,
    [
      [0, 0],
      [0, 0],
      [1, 1],
      [2, 1],
    ],
    1.5,
  ),
);
add('pad reflect [2, 5, 6]', [input([2, 5, 6])], (x) =>
  pad(
    x!,
    [
      [0, 0],
      [2, 4],
      [1, 5],
    ],
    0,
    'reflect',
  ),
);
add('pad edge [4, 3]', [input([4, 3])], (x) =>
  pad(
    x!,
    [
      [3, 1],
      [2, 4],
    ],
    0,
    'edge',
  ),
);
add('pad i32 value -3', [input([3, 4], 'i32', [0, 9])], (x) =>
  pad(
    x!,
    [
      [1, 1],
      [1, 0],
    ],
    -3,
  ),
);
add('pad bool value 1', [input([3, 3], 'bool')], (x) =>
  pad(
    x!,
    [
      [1, 0],
      [0, 2],
    ],
    1,
  ),
);
add('pad f16 odd sizes', [input([3, 5], 'f16')], (x) =>
  pad(
    x!,
    [
      [1, 0],
      [1, 2],
    ],
    2.5,
  ),
);
add('pad bf16 reflect', [input([3, 4], 'bf16')], (x) =>
  pad(
    x!,
    [
      [2, 1],
      [1, 3],
    ],
    0,
    'reflect',
  ),
);

describe('shape kernels', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('simplifyPermutation merges axes that stay adjacent', () => {
    expect(simplifyPermutation([2, 3, 5, 7], [0, 2, 3, 1])).toEqual({ shape: [2, 3, 35], perm: [0, 2, 1] });
    expect(simplifyPermutation([4, 1, 5], [1, 2, 0])).toEqual({ shape: [4, 5], perm: [1, 0] });
    expect(simplifyPermutation([2, 3], [0, 1])).toEqual({ shape: [6], perm: [0] });
  });

  test('a transpose that moves only size-1 axes is a view, with the permuted shape', async () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [1, 2, 1, 3], { backend: reference });
    const before = reference.stats().liveBuffers;
    const y = transpose(x, [2, 1, 0, 3]);
    expect(y.shape).toEqual([1, 2, 1, 3]);
    const z = transpose(x, [1, 0, 3, 2]); // [2, 1, 3, 1]
    expect(z.shape).toEqual([2, 1, 3, 1]);
    expect(reference.stats().liveBuffers).toBe(before);
    expect([...(await z.read())]).toEqual([1, 2, 3, 4, 5, 6]);
    const moved = transpose(x, [0, 3, 2, 1]); // 3 before 2: a real permutation, a new buffer
    expect(reference.stats().liveBuffers).toBe(before + 1);
    expect([...(await moved.read())]).toEqual([1, 4, 2, 5, 3, 6]);
    for (const t of [x, y, z, moved]) t.dispose();
  });

  test('reshape is a view: no new buffer, shared until the last view is disposed', async () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend: reference });
    const before = reference.stats().liveBuffers;
    const y = reshape(x, [3, 2]);
    expect(reference.stats().liveBuffers).toBe(before);
    x.dispose();
    expect([...(await y.read())]).toEqual([1, 2, 3, 4, 5, 6]);
    y.dispose();
    expect(reference.stats().liveBuffers).toBe(before - 1);
  });
});

describe('shape op errors', () => {
  const t = (shape: number[]) =>
    tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, { backend: reference });

  test('reshape names both shapes', () => {
    expect(() => reshape(t([2, 3]), [4, 2])).toThrow(
      'reshape: cannot reshape x of shape [2, 3] (6 elements) to [4, 2] (8 elements)',
    );
    expect(() => reshape(t([2, 3]), [4, -1])).toThrow(
      'reshape: cannot reshape x of shape [2, 3] (6 elements) to [4, -1]',
    );
    expect(() => reshape(t([2, 3]), [-1, -1])).toThrow('more than one -1');
    expect(() => squeeze(t([2, 3]), 1)).toThrow('squeeze: axis 1 of x (shape [2, 3]) has size 3, not 1');
  });

  test('transpose rejects a bad perm', () => {
    expect(() => transpose(t([2, 3, 4]), [0, 0, 1])).toThrow(
      'transpose: perm [0, 0, 1] is not a permutation of the 3 axes of x (shape [2, 3, 4])',
    );
    expect(() => transpose(t([2, 3]), [0, 1, 2])).toThrow('not a permutation');
  });

  test('slice out of range names the axis and shape', () => {
    expect(() => slice(t([4, 5]), [1, 3], [2, 3])).toThrow(
      'slice: begin [1, 3], size [2, 3] for x of shape [4, 5] is out of range on axis 1 (begin 3, size 3, dimension 5)',
    );
    expect(() => slice(t([4, 5]), [-5, 0], [1, 1])).toThrow('out of range on axis 0');
    expect(() => slice(t([4, 5]), [0], [1])).toThrow('need one entry per axis');
  });

  test('concat rank and shape mismatches name both inputs', () => {
    expect(() => concat([t([2, 3]), t([2, 3, 1])], 0)).toThrow(
      'concat: input 1 has rank 3 (shape [2, 3, 1]) but input 0 has rank 2 (shape [2, 3])',
    );
    expect(() => concat([t([2, 3]), t([3, 4])], 1)).toThrow(
      'concat: input 1 has shape [3, 4] but input 0 has shape [2, 3]; they may differ only on axis 1',
    );
    expect(() => concat([], 0)).toThrow('at least one input');
    const i = tensor(new Int32Array(6), [2, 3], { backend: reference });
    expect(() => concat([t([2, 3]), i], 0)).toThrow('concat: input 1 is i32 but input 0 is f32');
  });

  test('pad validates paddings and modes', () => {
    expect(() => pad(t([2, 3]), [[1, 1]])).toThrow(
      'pad: paddings [[1,1]] for x of shape [2, 3]: need one [before, after] pair per axis',
    );
    expect(() =>
      pad(
        t([2, 3]),
        [
          [0, 0],
          [3, 0],
        ],
        0,
        'reflect',
      ),
    ).toThrow("'reflect' padding must be smaller than the dimension on axis 1");
    expect(() =>
      pad(t([2, 3]), [
        [0, -1],
        [0, 0],
      ]),
    ).toThrow('axis 0 has a negative or non-integer padding');
  });
});

describe('shape op gradients (finite differences)', () => {
  const checks: [string, number[][], (...xs: Tensor[]) => Tensor][] = [
    ['reshape', [[2, 3]], (x) => reshape(x!, [3, 2])],
    ['transpose', [[2, 3, 4]], (x) => transpose(x!, [2, 0, 1])],
    ['slice', [[4, 5]], (x) => slice(x!, [1, -3], [2, 2])],
    [
      'concat',
      [
        [2, 3],
        [2, 1],
        [2, 2],
      ],
      (...xs) => concat(xs, 1),
    ],
    [
      'pad constant',
      [[2, 3]],
      (x) =>
        pad(
          x!,
          [
            [1, 0],
            [2, 1],
          ],
          0.5,
        ),
    ],
    [
      'pad reflect',
      [[3, 4]],
      (x) =>
        pad(
          x!,
          [
            [2, 1],
            [1, 3],
          ],
          0,
          'reflect',
        ),
    ],
    [
      'pad edge',
      [[2, 3]],
      (x) =>
        pad(
          x!,
          [
            [1, 2],
            [2, 0],
          ],
          0,
          'edge',
        ),
    ],
  ];
  test.each(checks)('%s', async (_, shapes, f) => {
    const next = rng(freshSeed());
    const xs = shapes.map((s) =>
      tensor(
        Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1),
        s,
        { backend: reference },
      ),
    );
    const r = await gradCheck(f, xs);
    for (const x of xs) x.dispose();
    expect(r.ok, r.message).toBe(true);
  });
});
