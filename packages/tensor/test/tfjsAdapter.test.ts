// The tfjs adapter on tfjs-backend-cpu and tfjs-backend-wasm, case by case: inputs where tfjs's own
// ops disagree with the reference (NaN, infinities, integers past 2^24, empty tensors, wasm's gaps),
// interop with a user's tf.tidy, and the adapter's errors. The table-driven suites cover the
// ordinary inputs. tfjs has one active backend per process, so each check selects its own.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, test } from 'vitest';
import { matmulActivationGradKernel } from '../src/kernels/matmul/activationGrad.js';
import {
  abs,
  argmax,
  type Backend,
  cast,
  clamp,
  compare,
  conv2d,
  CpuBackend,
  createBackend,
  crossEntropy,
  type DType,
  type Kernel,
  logSumExp,
  matmul,
  maximum,
  maxPool2d,
  minimum,
  runKernel,
  scatterAdd,
  sign,
  softmax,
  sum,
  type Tensor,
  type TypedArray,
  tensor,
  topk,
  where,
} from '../src/index.node.js';
import { expectClose } from './util/compare.js';

const TFJS = ['cpu', 'wasm'] as const;
type TfName = (typeof TFJS)[number];

const reference = new CpuBackend({ description: 'reference' });
const adapters = new Map<TfName, Backend>();

/** The adapter on tfjs backend `name`, made the active tfjs backend. */
async function on(name: TfName): Promise<Backend> {
  await tf.setBackend(name);
  let b = adapters.get(name);
  if (!b) {
    b = await createBackend('tfjs', { tfjs: { tf } });
    adapters.set(name, b);
  }
  return b;
}

afterAll(() => {
  reference.dispose();
  for (const b of adapters.values()) b.dispose();
});

type Input = [ArrayLike<number>, number[], DType?];
const make = (backend: Backend, [data, shape, dtype]: Input): Tensor =>
  tensor(data as TypedArray, shape, { backend, dtype: dtype ?? 'f32' });

/**
 * Runs `op` on the reference and on each tfjs backend and compares every output: f32 within
 * `atol` (and 1e-6 relative), other dtypes exactly; NaN equals NaN.
 */
async function matches(
  what: string,
  inputs: Input[],
  op: (...xs: Tensor[]) => Tensor | Tensor[],
  atol = 1e-6,
) {
  const run = async (backend: Backend) => {
    const r = op(...inputs.map((i) => make(backend, i)));
    const outs = Array.isArray(r) ? r : [r];
    return Promise.all(
      outs.map(async (o) => ({ shape: [...o.shape], dtype: o.dtype, data: await o.read() })),
    );
  };
  const want = await run(reference);
  for (const name of TFJS) {
    const got = await run(await on(name));
    for (const [i, w] of want.entries()) {
      const where = `${what} on tfjs-${name}, output ${i}`;
      expect(got[i]!.shape, where).toEqual(w.shape);
      expect(got[i]!.dtype, where).toBe(w.dtype);
      // Integers must match exactly.
      const exact = w.dtype !== 'f32';
      expectClose(got[i]!.data, w.data, exact ? 0 : atol, where, exact ? 0 : 1e-6);
    }
  }
}

describe('scatterAdd on tfjs', () => {
  test('a NaN update stays in its own row', async () => {
    await matches(
      'scatterAdd NaN row',
      [
        [[0, 1], [2], 'i32'],
        [
          [1, 2, Number.NaN, 4],
          [2, 2],
        ],
      ],
      (ids, u) => scatterAdd([3, 2], ids!, u!, 0),
    );
  });
  test('an Infinity update stays in its own row', async () => {
    await matches(
      'scatterAdd Inf row',
      [
        [[2, 2], [2], 'i32'],
        [
          [Number.POSITIVE_INFINITY, 1, 2, 3],
          [2, 2],
        ],
      ],
      (ids, u) => scatterAdd([3, 2], ids!, u!, 0),
    );
  });
  test('i32 and u32 sums are exact', async () => {
    await matches(
      'scatterAdd i32',
      [
        [[0, 0, 1], [3], 'i32'],
        [[16777217, 2, 100000001], [3], 'i32'],
      ],
      (ids, u) => scatterAdd([2], ids!, u!, 0),
    );
    await matches(
      'scatterAdd u32',
      [
        [[0, 0], [2], 'i32'],
        [[3000000000, 1], [2], 'u32'],
      ],
      (ids, u) => scatterAdd([1], ids!, u!, 0),
    );
  });
  test('a middle axis, duplicates and an untouched slice', async () => {
    await matches(
      'scatterAdd axis 1',
      [
        [[3, 0, 3], [3], 'i32'],
        [Array.from({ length: 2 * 3 * 2 }, (_, i) => i - 5.5), [2, 3, 2]],
      ],
      (ids, u) => scatterAdd([2, 4, 2], ids!, u!, 1),
    );
  });
  test('an output with an empty axis', async () => {
    await matches(
      'scatterAdd empty',
      [
        [[], [0], 'i32'],
        [[], [0, 2]],
      ],
      (ids, u) => scatterAdd([0, 2], ids!, u!, 0),
    );
  });
});

test('a user tf.tidy does not dispose vl tensors made inside it', async () => {
  const backend = await on('cpu');
  const x = tensor([1, 2, 3], [3], { backend });
  let made: Tensor[] = [];
  tf.tidy(() => {
    made = [compare('greater', x, tensor([2], [], { backend })), tensor([4], [1], { backend })];
  });
  expect(Array.from(await made[0]!.read())).toEqual([0, 0, 1]);
  expect(Array.from(await made[1]!.read())).toEqual([4]);
});

describe('topk with non-finite values on tfjs', () => {
  const inf = Number.POSITIVE_INFINITY;
  test('ties at -Infinity and +Infinity', async () => {
    await matches('topk', [[[0.7, -inf, 8.6, 2.7, 0.8, 5.5, inf, -inf], [8]]], (x) => {
      const r = topk(x!, 6);
      return [r.values, r.indices];
    });
    await matches('topk all', [[[-inf, 1, inf, -inf, inf, -inf, 2], [7]]], (x) => {
      const r = topk(x!, 7);
      return [r.values, r.indices];
    });
  });
  test('NaN ranks above +Infinity, on a middle axis too', async () => {
    const nan = Number.NaN;
    await matches('topk NaN', [[[1, nan, 3, nan, 2, nan], [6]]], (x) => {
      const r = topk(x!, 4);
      return [r.values, r.indices];
    });
    await matches(
      'topk NaN axis 0',
      [
        [
          [1, nan, inf, 3, nan, -inf],
          [2, 3],
        ],
      ],
      (x) => {
        const r = topk(x!, 2, 0);
        return [r.values, r.indices];
      },
    );
  });
});

describe('empty tensors on tfjs', () => {
  test('reductions over an empty axis', async () => {
    await matches('sum f32', [[[], [2, 0]]], (x) => sum(x!, 1));
    await matches('sum i32', [[[], [2, 0], 'i32']], (x) => sum(x!, 1));
    await matches('logSumExp', [[[], [1, 0]]], (x) => logSumExp(x!, 1));
  });
  test('matmul with an empty batch or contraction', async () => {
    await matches(
      'matmul K=0',
      [
        [[], [2, 0]],
        [[], [0, 3]],
      ],
      (a, b) => matmul(a!, b!),
    );
    await matches(
      'matmul batch 0',
      [
        [[], [0, 2, 3]],
        [Array.from({ length: 12 }, (_, i) => i), [3, 4]],
      ],
      (a, b) => matmul(a!, b!),
    );
  });
  test('crossEntropy, softmax, topk, conv2d and maxPool2d', async () => {
    await matches(
      'crossEntropy N=0',
      [
        [[], [0, 4]],
        [[], [0], 'i32'],
      ],
      (z, t) => crossEntropy(z!, t!, { reduction: 'none' }),
    );
    await matches('softmax', [[[], [0, 5]]], (x) => softmax(x!));
    await matches('topk', [[[], [0]]], (x) => topk(x!, 0).values);
    await matches(
      'conv2d',
      [
        [[], [0, 2, 3, 3]],
        [Array.from({ length: 8 }, (_, i) => i), [2, 1, 2, 2]],
      ],
      (x, w) => conv2d(x!, w!, undefined, { groups: 2 }),
    );
    await matches('maxPool2d', [[[], [0, 1, 2, 2]]], (x) => maxPool2d(x!, 2));
  });
});

test('crossEntropy with hard targets matches on every tfjs backend', async () => {
  const logits = [1.1, -2.5, 0.3, -0.4, -2.2, 1.4, 2.0, 1.5, 1.2, 0.2, 0.1, 0.2, 0.3, 0.4, 0.5];
  await matches(
    'crossEntropy none',
    [
      [logits, [3, 5]],
      [[3, 0, 4], [3], 'i32'],
    ],
    (z, t) => crossEntropy(z!, t!, { reduction: 'none' }),
  );
  await matches(
    'crossEntropy C=1',
    [
      [
        [2.2, -0.3, 2.2],
        [3, 1],
      ],
      [[0, -100, 0], [3], 'i32'],
    ],
    (z, t) => crossEntropy(z!, t!),
  );
});

describe('elementwise edge cases on tfjs', () => {
  test('logicalAnd and logicalOr test != 0', async () => {
    await matches(
      'logicalAnd f32',
      [
        [[0.33, 2, 0], [3]],
        [[1, 1, 1], [3]],
      ],
      (a, b) => compare('logicalAnd', a!, b!),
    );
    await matches(
      'logicalOr i32',
      [
        [[4, 0, -1], [3], 'i32'],
        [[0, 0, 0], [3], 'i32'],
      ],
      (a, b) => compare('logicalOr', a!, b!),
    );
  });
  test('where with bool operands, broadcast', async () => {
    await matches(
      'where bool',
      [
        [[1, 0, 1], [3], 'bool'],
        [[0, 0, 1], [3], 'bool'],
        [[1, 1, 0], [3], 'bool'],
      ],
      (c, a, b) => where(c!, a!, b!),
    );
    await matches(
      'where bool broadcast',
      [
        [[0, 1], [2, 1, 1], 'bool'],
        [[0, 0, 1, 0, 1], [5], 'bool'],
        [[0, 0, 1, 1, 1], [1, 1, 5], 'bool'],
      ],
      (c, a, b) => where(c!, a!, b!),
    );
  });
  test('argmax of i32 with negative values', async () => {
    await matches('argmax i32', [[[0, 5, -5, -1, -1, -7, 3, 9], [2, 4], 'i32']], (x) => argmax(x!, 1));
  });
  test('abs of i32 past 2^24', async () => {
    await matches(
      'abs i32',
      [[[16777217, -16777219, -2147483647, 2147483647, -2147483648, 0], [6], 'i32']],
      (x) => abs(x!),
      0,
    );
  });
  test('sign of NaN is NaN', async () => {
    await matches('sign', [[[Number.NaN, -2, 0, 3], [4]]], (x) => sign(x!));
  });
  test('maximum, minimum and clamp propagate NaN', async () => {
    const a: Input = [[1, Number.NaN, Number.NaN, 3], [4]];
    const b: Input = [[Number.NaN, 2, Number.NaN, 1], [4]];
    await matches('maximum', [a, b], (x, y) => maximum(x!, y!));
    await matches('minimum', [a, b], (x, y) => minimum(x!, y!));
    await matches('clamp', [[[Number.NaN, -5, 0.5, 5], [4]]], (x) => clamp(x!, 0, 1));
  });
  test('cast NaN to i32 gives 0', async () => {
    await matches('cast', [[[Number.NaN, 1.5, -2.5, 3e9, -3e9], [5]]], (x) => cast(x!, 'i32'), 0);
  });
});

test("matmulActivationGrad 'none' returns a tensor of its own", async () => {
  const backend = await on('cpu');
  const z = tensor([1, -1], [2], { backend });
  const dy = tensor([3, 4], [2], { backend });
  const [out] = runKernel(matmulActivationGradKernel, [z, dy], { activation: 'none' });
  expect(out!.handle).not.toBe(dy.handle);
  out!.dispose();
  expect(Array.from(await dy.read())).toEqual([3, 4]);
});

test('a tfjs implementation that returns its input gives an output of its own', async () => {
  const identity: Kernel<void> = {
    name: 'identity',
    infer: ([x]) => [x!],
    cpu: ([x]) => [x!.data.slice()],
    tfjs: (_t, [x]) => [x],
  };
  for (const name of TFJS) {
    const backend = await on(name);
    const x = tensor([1, 2], [2], { backend });
    const [y] = runKernel(identity, [x], undefined);
    expect(y!.handle, name).not.toBe(x.handle);
    y!.dispose();
    expect(Array.from(await x.read()), name).toEqual([1, 2]);
  }
});

test('a tfjs op missing on the tfjs backend runs the reference', async () => {
  // tfjs-backend-wasm has no UnsortedSegmentSum kernel.
  const segmentSum: Kernel<void> = {
    name: 'segmentSum',
    infer: () => [{ shape: [2], dtype: 'f32' }],
    cpu: ([x]) => [Float32Array.of(x!.data[0]! + x!.data[2]!, x!.data[1]!)],
    tfjs: (t, [x]) => [t.unsortedSegmentSum(x, t.tensor1d([0, 1, 0], 'int32'), 2)],
  };
  for (const name of TFJS) {
    const backend = await on(name);
    const [y] = runKernel(segmentSum, [tensor([1, 2, 3], [3], { backend })], undefined);
    expect(Array.from(await y!.read()), name).toEqual([4, 2]);
  }
});

describe('errors', () => {
  test('a tfjs error names the kernel and the input shapes', async () => {
    const bad: Kernel<void> = {
      name: 'badReshape',
      infer: ([x]) => [x!],
      cpu: ([x]) => [x!.data.slice()],
      tfjs: (t, [x]) => [t.reshape(x, [7])],
    };
    const backend = await on('cpu');
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend });
    expect(() => runKernel(bad, [x], undefined)).toThrow(/badReshape on tfjs \(cpu\).*f32\[2, ?3\]/);
  });
  test('an unknown tfjs backend lists the registered ones', async () => {
    await expect(createBackend('tfjs', { tfjs: { tf, tfBackend: 'nonexistent' } })).rejects.toThrow(
      /'nonexistent'.*cpu.*wasm/,
    );
  });
});
