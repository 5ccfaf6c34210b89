import { describe, expect, test } from 'vitest';
import { gradCheck } from '../src/autograd/gradCheck.js';
import { f32ToF16 } from '../src/dtype.js';
import { embedding, gather, oneHot, scatterAdd, type Tensor, tensor } from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { checkKernelCase, type InputSpec, type KernelCase } from './util/checkKernel.js';
import { freshSeed, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

const f32 = (shape: number[]): InputSpec => ({ shape });
/** Random i32 indices in [0, dim). */
const ids = (shape: number[], dim: number): InputSpec => ({ shape, dtype: 'i32', range: [0, dim - 1] });

const cases: KernelCase[] = [
  { name: 'gather [5, 3] axis 0', inputs: [f32([5, 3]), ids([4], 5)], run: (x, i) => gather(x!, i!, 0) },
  {
    name: 'gather [2, 7, 3] ids [2, 3] axis 1',
    inputs: [f32([2, 7, 3]), ids([2, 3], 7)],
    run: (x, i) => gather(x!, i!, 1),
  },
  { name: 'gather [4, 5] axis -1', inputs: [f32([4, 5]), ids([6], 5)], run: (x, i) => gather(x!, i!, -1) },
  {
    name: 'gather i32 [65, 3]',
    inputs: [{ shape: [65, 3], dtype: 'i32', range: [-99, 99] }, ids([17], 65)],
    run: (x, i) => gather(x!, i!),
  },
  {
    name: 'gather bool [6, 2]',
    inputs: [{ shape: [6, 2], dtype: 'bool' }, ids([5], 6)],
    run: (x, i) => gather(x!, i!),
  },
  {
    name: 'gather f16 [5, 3] (packed words straddle rows)',
    inputs: [
      {
        shape: [5, 3],
        dtype: 'f16',
        data: Uint16Array.from({ length: 15 }, (_, k) => f32ToF16(k * 0.25 - 1)),
      },
      ids([3], 5),
    ],
    run: (x, i) => gather(x!, i!),
  },
  {
    name: 'gather empty indices',
    inputs: [f32([5, 3]), { shape: [0], dtype: 'i32' }],
    run: (x, i) => gather(x!, i!),
  },
  {
    name: 'embedding [11, 5] ids [2, 3]',
    inputs: [f32([11, 5]), ids([2, 3], 11)],
    run: (t, i) => embedding(t!, i!),
  },
  // Duplicates are likely with 9 indices into 4 slots.
  {
    name: 'scatterAdd [4, 3] axis 0',
    inputs: [ids([9], 4), f32([9, 3])],
    run: (i, u) => scatterAdd([4, 3], i!, u!, 0),
  },
  {
    name: 'scatterAdd [2, 4, 3] axis 1',
    inputs: [ids([5], 4), f32([2, 5, 3])],
    run: (i, u) => scatterAdd([2, 4, 3], i!, u!, 1),
  },
  {
    name: 'scatterAdd ids [2, 3] axis -1',
    inputs: [ids([2, 3], 7), f32([3, 2, 3])],
    run: (i, u) => scatterAdd([3, 7], i!, u!, -1),
  },
  {
    name: 'scatterAdd i32 [33, 2]',
    inputs: [ids([65], 33), { shape: [65, 2], dtype: 'i32', range: [-9, 9] }],
    run: (i, u) => scatterAdd([33, 2], i!, u!, 0),
  },
  {
    name: 'scatterAdd no indices',
    inputs: [{ shape: [0], dtype: 'i32' }, f32([0, 3])],
    run: (i, u) => scatterAdd([4, 3], i!, u!, 0),
  },
  {
    name: 'oneHot [7] depth 5 (with out-of-range)',
    inputs: [{ shape: [7], dtype: 'i32', range: [-1, 5] }],
    run: (i) => oneHot(i!, 5),
  },
  { name: 'oneHot [2, 3] depth 4 i32', inputs: [ids([2, 3], 4)], run: (i) => oneHot(i!, 4, 'i32') },
  { name: 'oneHot [3] depth 6 bool', inputs: [ids([3], 6)], run: (i) => oneHot(i!, 6, 'bool') },
];

describe('gather / scatter / oneHot kernels', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('scatterAdd sums duplicates in index order: every backend matches the reference bit for bit', async () => {
    const c: KernelCase = {
      name: 'scatterAdd exact',
      inputs: [ids([40], 3), f32([2, 40, 5])],
      run: (i, u) => scatterAdd([2, 3, 5], i!, u!, 1),
      atol: 0,
      rtol: 0,
    };
    await checkKernelCase(c, reference, others, freshSeed());
  });

  test('out-of-range indices fail on every backend: at the op (cpu, tfjs) or at the next read (webgpu)', async () => {
    for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
      const x = tensor([1, 2, 3, 4, 5, 6], [3, 2], { backend });
      const bad = tensor(new Int32Array([5, -2, 1]), [3], { backend });
      const u = tensor(new Float32Array(6), [3, 2], { backend });
      // [the function, the kernel that WebGPU's deferred error names, the call]
      const ops = [
        ['gather', 'gather', () => gather(x, bad)],
        ['embedding', 'gather', () => embedding(x, bad)],
        ['scatterAdd', 'scatterAdd', () => scatterAdd([3, 2], bad, u, 0)],
      ] as const;
      for (const [op, kernel, run] of ops) {
        const message = new RegExp(
          label === 'webgpu'
            ? `WebGPU: ${kernel} met an index out of range`
            : `${op}: index 5 at position 0 of indices is out of range \\[0, 3\\)`,
        );
        if (label === 'webgpu') {
          const y = run(); // queued: the kernel flags the index and clamps it
          await expect(y.read(), `${label} ${op}`).rejects.toThrow(message);
          y.dispose();
          // Reported once: the next read works.
          expect([...(await gather(x, tensor(new Int32Array([2]), [1], { backend })).read())]).toEqual([
            5, 6,
          ]);
        } else {
          expect(run, `${label} ${op}`).toThrow(message);
        }
      }
      for (const t of [x, bad, u]) t.dispose();
    }
  });
});

describe('gather errors', () => {
  test('out-of-range indices name the index, its position and the range (CPU)', () => {
    const x = tensor(new Float32Array(15), [5, 3], { backend: reference });
    const i = tensor(new Int32Array([0, 7]), [2], { backend: reference });
    expect(() => gather(x, i)).toThrow(
      'gather: index 7 at position 1 of indices is out of range [0, 5) for axis 0 of x (shape [5, 3])',
    );
    const u = tensor(new Float32Array(6), [2, 3], { backend: reference });
    expect(() =>
      scatterAdd([5, 3], tensor(new Int32Array([1, -1]), [2], { backend: reference }), u, 0),
    ).toThrow('scatterAdd: index -1 at position 1 of indices is out of range [0, 5)');
  });

  test('dtype and shape mismatches are named', () => {
    const x = tensor(new Float32Array(15), [5, 3], { backend: reference });
    const f = tensor([0, 1], [2], { backend: reference });
    expect(() => gather(x, f)).toThrow('gather: indices must be i32, got f32[2]');
    const i = tensor(new Int32Array([0, 1]), [2], { backend: reference });
    const u = tensor(new Float32Array(9), [3, 3], { backend: reference });
    expect(() => scatterAdd([5, 3], i, u, 0)).toThrow(
      'scatterAdd: updates have shape [3, 3] but shape [5, 3] with indices [2] on axis 0 needs [2, 3]',
    );
    expect(() => embedding(tensor(new Float32Array(4), [4], { backend: reference }), i)).toThrow(
      'embedding: table must be [V, C], got shape [4]',
    );
    expect(() => oneHot(i, 3, 'f16')).toThrow('oneHot: dtype must be f32, i32, u32 or bool, got f16');
  });
});

describe('gather / scatter gradients (finite differences)', () => {
  const checks: [string, () => [(...xs: Tensor[]) => Tensor, Tensor[]]][] = [
    [
      'gather axis 1 with repeated indices',
      () => {
        const i = tensor(new Int32Array([2, 0, 2, 1]), [4], { backend: reference });
        return [(x) => gather(x!, i, 1), [rand([2, 3, 2])]];
      },
    ],
    [
      'embedding',
      () => {
        const i = tensor(new Int32Array([3, 1, 3, 0, 3, 2]), [2, 3], { backend: reference });
        return [(t) => embedding(t!, i), [rand([5, 2])]];
      },
    ],
    [
      'scatterAdd',
      () => {
        const i = tensor(new Int32Array([1, 1, 0, 3]), [4], { backend: reference });
        return [(u) => scatterAdd([2, 4], i, u!, 1), [rand([2, 4])]];
      },
    ],
  ];
  let next = rng(1);
  const rand = (shape: number[]) =>
    tensor(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1),
      shape,
      { backend: reference },
    );
  test.each(checks)('%s', async (_, make) => {
    next = rng(freshSeed());
    const [f, xs] = make();
    const r = await gradCheck(f, xs);
    expect(r.ok, r.message).toBe(true);
  });
});
