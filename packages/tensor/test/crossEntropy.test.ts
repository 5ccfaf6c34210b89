import { describe, expect, test } from 'vitest';
import { gradCheck } from '../src/autograd/gradCheck.js';
import { type Tensor, runKernel, tensor } from '../src/index.node.js';
import {
  type CrossEntropyOptions,
  crossEntropy,
  crossEntropyGradKernel,
  crossEntropyKernel,
  softmaxCrossEntropyWithSoftTargets,
} from '../src/kernels/crossEntropy.js';
import { suiteBackends } from './util/backends.js';
import { type KernelCase, checkKernelCase } from './util/checkKernel.js';
import { freshSeed, randomArray, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

// Hand-made targets come from this seed (printed in the case names), fresh per run.
const dataSeed = freshSeed();
const next = rng(dataSeed);

/** Class ids in [0, C) with about a quarter of them set to `ignore`. */
function targetIds(n: number, C: number, ignore = -100): Int32Array {
  return Int32Array.from({ length: n }, () => (next() < 0.25 ? ignore : Math.floor(next() * C)));
}

/** Rows of probabilities (each sums to 1). */
function probRows(n: number, C: number): Float32Array {
  const q = randomArray(n * C, 'f32', next, [0, 1]) as Float32Array;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += q[i * C + c]!;
    for (let c = 0; c < C; c++) q[i * C + c]! /= s;
  }
  return q;
}

type Attrs = Parameters<typeof crossEntropyKernel.cpu>[1];
const attrsFor = (targets: 'hard' | 'soft', o: CrossEntropyOptions): Attrs => ({
  targets,
  reduction: o.reduction ?? 'mean',
  ignoreIndex: o.ignoreIndex ?? -100,
  labelSmoothing: Math.fround(o.labelSmoothing ?? 0),
});

/** The gradient kernel's outputs for loss `dy`-weighted (dy has the loss's shape). */
function gradOf(logits: Tensor, targets: Tensor, dy: Tensor, attrs: Attrs): Tensor[] {
  return runKernel(crossEntropyGradKernel, [logits, targets, dy], attrs);
}

const cases: KernelCase[] = [];
const options: [string, CrossEntropyOptions][] = [
  ['mean', {}],
  ['sum', { reduction: 'sum' }],
  ['none', { reduction: 'none' }],
  ['mean smoothing 0.1', { labelSmoothing: 0.1 }],
  ['none ignoreIndex 2 smoothing 0.2', { reduction: 'none', ignoreIndex: 2, labelSmoothing: 0.2 }],
];
for (const shape of [
  [1, 1],
  [7, 5],
  [33, 17],
  [3, 1100],
  [2, 3, 17],
]) {
  const rows = shape.slice(0, -1);
  const N = rows.reduce((a, b) => a * b, 1);
  const C = shape[shape.length - 1]!;
  const lossShape = (o: CrossEntropyOptions) => (o.reduction === 'none' ? rows : []);
  for (const [label, o] of options) {
    const ids = targetIds(N, C, o.ignoreIndex ?? -100);
    const name = `${JSON.stringify(shape)} ${label} (data seed ${dataSeed})`;
    cases.push({
      name: `crossEntropy ${name}`,
      inputs: [{ shape }, { shape: rows, dtype: 'i32', data: ids }],
      run: (z, t) => crossEntropy(z!, t!, o),
      atol: 1e-5,
      rtol: 1e-5,
    });
    cases.push({
      name: `crossEntropy gradient ${name}`,
      inputs: [{ shape }, { shape: rows, dtype: 'i32', data: ids }, { shape: lossShape(o) }],
      run: (z, t, dy) => gradOf(z!, t!, dy!, attrsFor('hard', o)),
      atol: 1e-6,
      rtol: 1e-5,
    });
    if (label.includes('ignoreIndex')) continue;
    cases.push({
      name: `softmaxCrossEntropyWithSoftTargets ${name}`,
      inputs: [{ shape }, { shape, data: probRows(N, C) }],
      run: (z, q) => softmaxCrossEntropyWithSoftTargets(z!, q!, o),
      atol: 1e-5,
      rtol: 1e-5,
    });
    cases.push({
      name: `softmaxCrossEntropyWithSoftTargets gradient ${name}`,
      inputs: [{ shape }, { shape, data: probRows(N, C) }, { shape: lossShape(o) }],
      run: (z, q, dy) => gradOf(z!, q!, dy!, attrsFor('soft', o)),
      atol: 1e-6,
      rtol: 1e-5,
    });
  }
}
cases.push({
  name: 'crossEntropy: every row ignored gives NaN (mean) and 0 (sum)',
  inputs: [{ shape: [3, 4] }, { shape: [3], dtype: 'i32', data: new Int32Array([-100, -100, -100]) }],
  run: (z, t) => [crossEntropy(z!, t!), crossEntropy(z!, t!, { reduction: 'sum' })],
});
// An id outside [0, C) throws on the CPU, fails the next read on WebGPU and gives NaN on tfjs:
// test/optimInputs.test.ts.
cases.push({
  name: 'crossEntropy: large logits stay finite',
  inputs: [
    { shape: [5, 33], range: [-3000, 3000] },
    { shape: [5], dtype: 'i32', range: [0, 32] },
  ],
  run: (z, t) => crossEntropy(z!, t!, { reduction: 'none' }),
  rtol: 1e-5,
  // The loss is logsumexp(z) - z[t] with both near 3000, where one f32 step is 2.4e-4: a small loss
  // keeps the absolute error of its terms, a few of those steps.
  atol: 1e-3,
});

describe('crossEntropy agrees across backends', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });
});

/** The loss written out directly in f64: -log softmax, smoothing, ignored rows. */
function directLoss(z: Float32Array, ids: Int32Array, C: number, o: CrossEntropyOptions): number[] {
  const eps = o.labelSmoothing ?? 0;
  const losses: number[] = [];
  let count = 0;
  for (let i = 0; i < ids.length; i++) {
    const row = Array.from(z.subarray(i * C, (i + 1) * C));
    if (ids[i] === (o.ignoreIndex ?? -100)) {
      losses.push(0);
      continue;
    }
    count++;
    const logZ = Math.log(row.reduce((a, x) => a + Math.exp(x), 0));
    const logp = row.map((x) => x - logZ);
    const target = row.map((_, c) => (1 - eps) * (c === ids[i] ? 1 : 0) + eps / C);
    losses.push(-target.reduce((a, q, c) => a + q * logp[c]!, 0));
  }
  const total = losses.reduce((a, b) => a + b, 0);
  return o.reduction === 'none' ? losses : [o.reduction === 'sum' ? total : total / count];
}

describe('crossEntropy against the formula and finite differences', () => {
  test('matches -sum(target * log softmax) with ignored rows and smoothing', async () => {
    const [N, C] = [9, 6];
    const z = randomArray(N * C, 'f32', next, [-3, 3]) as Float32Array;
    const ids = targetIds(N, C, 3);
    for (const o of [
      {},
      { reduction: 'sum' },
      { reduction: 'none' },
      { labelSmoothing: 0.3, ignoreIndex: 3 },
    ] as CrossEntropyOptions[]) {
      const got = await crossEntropy(
        tensor(z, [N, C], { backend: reference }),
        tensor(ids, [N], { backend: reference }),
        o,
      ).read();
      const want = directLoss(z, ids, C, o);
      want.forEach((w, i) => {
        expect(got[i]!, JSON.stringify(o)).toBeCloseTo(w, 5);
      });
    }
  });

  test('a -Infinity logit (a masked class) gives a finite loss without smoothing, on every backend', async () => {
    // PyTorch: F.cross_entropy([[0, -inf, 1], [2, 0, -inf]], [0, 1]) = [1.3133, 2.1269].
    const z = new Float32Array([0, Number.NEGATIVE_INFINITY, 1, 2, 0, Number.NEGATIVE_INFINITY]);
    const want = [Math.log(1 + Math.E), 2 + Math.log(1 + Math.exp(-2))];
    for (const backend of [reference, ...others.map((o) => o.backend)]) {
      const logits = tensor(z, [2, 3], { backend });
      const ids = tensor(new Int32Array([0, 1]), [2], { backend });
      const rows = await crossEntropy(logits, ids, { reduction: 'none' }).read();
      expect(rows[0], backend.name).toBeCloseTo(want[0]!, 5);
      expect(rows[1], backend.name).toBeCloseTo(want[1]!, 5);
      // With smoothing the masked class's own share is -log(0): +Infinity, as in PyTorch.
      const smoothed = await crossEntropy(logits, ids, { reduction: 'none', labelSmoothing: 0.1 }).read();
      expect([...smoothed], backend.name).toEqual([Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]);
      logits.dispose();
      ids.dispose();
    }
  });

  test('the gradients match central finite differences of the loss', async () => {
    const [N, C] = [4, 5];
    const z = randomArray(N * C, 'f32', next, [-2, 2]) as Float32Array;
    const ids = new Int32Array([1, -100, 4, 0]);
    const q = probRows(N, C);
    const dyNone = randomArray(N, 'f32', next, [-1, 1]) as Float32Array;
    const b = reference;
    for (const [kind, o] of [
      ['hard', { labelSmoothing: 0.1 }],
      ['hard', { reduction: 'none' }],
      ['hard', { reduction: 'sum', labelSmoothing: 0.3 }],
      ['soft', { reduction: 'none', labelSmoothing: 0.2 }],
      ['soft', {}],
    ] as ['hard' | 'soft', CrossEntropyOptions][]) {
      const targetData = kind === 'hard' ? ids : q;
      const targetShape = kind === 'hard' ? [N] : [N, C];
      const dy = o.reduction === 'none' ? dyNone : new Float32Array([0.7]);
      const dyShape = o.reduction === 'none' ? [N] : [];
      // The scalar whose gradient is checked: sum(dy * loss).
      const objective = async (zv: Float32Array, qv: Float32Array | Int32Array) => {
        const f = kind === 'hard' ? crossEntropy : softmaxCrossEntropyWithSoftTargets;
        const loss = (await f(
          tensor(zv, [N, C], { backend: b }),
          tensor(qv, targetShape, { backend: b }),
          o,
        ).read()) as Float32Array;
        return loss.reduce((a, l, i) => a + l * dy[i]!, 0);
      };
      const grads = gradOf(
        tensor(z, [N, C], { backend: b }),
        tensor(targetData, targetShape, { backend: b }),
        tensor(dy, dyShape, { backend: b }),
        attrsFor(kind, o),
      );
      const dz = await grads[0]!.read();
      const h = 1e-2;
      for (let i = 0; i < N * C; i++) {
        const up = Float32Array.from(z);
        const down = Float32Array.from(z);
        up[i]! += h;
        down[i]! -= h;
        const fd = ((await objective(up, targetData)) - (await objective(down, targetData))) / (2 * h);
        expect(dz[i]!, `${kind} ${JSON.stringify(o)} dlogits[${i}]`).toBeCloseTo(fd, 3);
      }
      if (kind === 'soft') {
        const dq = await grads[1]!.read();
        for (let i = 0; i < N * C; i++) {
          const up = Float32Array.from(q);
          const down = Float32Array.from(q);
          up[i]! += h;
          down[i]! -= h;
          const fd = ((await objective(z, up)) - (await objective(z, down))) / (2 * h);
          expect(dq[i]!, `soft ${JSON.stringify(o)} dprobs[${i}]`).toBeCloseTo(fd, 3);
        }
      }
    }
  });

  test('autograd gradCheck passes on every backend', async () => {
    const [N, C] = [3, 5];
    const z = randomArray(N * C, 'f32', next, [-2, 2]) as Float32Array;
    const q = probRows(N, C);
    for (const backend of [reference, ...others.map((o) => o.backend)]) {
      const logits = tensor(z, [N, C], { backend });
      const ids = tensor(new Int32Array([4, -100, 0]), [N], { backend });
      const probs = tensor(q, [N, C], { backend });
      const hard = await gradCheck((x, t) => crossEntropy(x!, t!, { labelSmoothing: 0.1 }), [logits, ids], {
        numericBackend: reference,
      });
      expect(hard.ok, `${backend.name}: ${hard.message}`).toBe(true);
      const soft = await gradCheck(
        (x, p) => softmaxCrossEntropyWithSoftTargets(x!, p!, { reduction: 'none' }),
        [logits, probs],
        {
          numericBackend: reference,
        },
      );
      expect(soft.ok, `${backend.name}: ${soft.message}`).toBe(true);
      for (const t of [logits, ids, probs]) t.dispose();
    }
  });

  test('the kernel grad rule returns the logits gradient and none for class ids', () => {
    const z = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend: reference });
    const t = tensor(new Int32Array([0, 2]), [2], { backend: reference });
    const loss = crossEntropy(z, t);
    const dy = tensor([1], [], { backend: reference });
    const attrs = attrsFor('hard', {});
    const [dz, dt] = crossEntropyKernel.grad!({ dy: [dy], inputs: [z, t], outputs: [loss], attrs });
    expect(dz!.shape).toEqual([2, 3]);
    expect(dt).toBeUndefined();
    expect(crossEntropyKernel.grad!({ dy: [undefined], inputs: [z, t], outputs: [loss], attrs })).toEqual([
      undefined,
      undefined,
    ]);
  });

  test('bad arguments name the op, the input and the shapes', () => {
    const z = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend: reference });
    const t = tensor(new Int32Array([0, 2]), [2], { backend: reference });
    expect(() => crossEntropy(z, tensor([0, 2], [2], { backend: reference }))).toThrow(
      'crossEntropy: targets must be i32[2] for logits [2, 3], got f32[2]',
    );
    expect(() => crossEntropy(z, tensor(new Int32Array([0, 2, 1]), [3], { backend: reference }))).toThrow(
      'crossEntropy: targets must be i32[2] for logits [2, 3], got i32[3]',
    );
    expect(() => crossEntropy(t, t)).toThrow(
      'crossEntropy: logits must be f32 [N, C] with C > 0, got i32[2]',
    );
    expect(() => crossEntropy(z, t, { labelSmoothing: 1.5 })).toThrow(
      'crossEntropy: labelSmoothing must be in [0, 1], got 1.5',
    );
    expect(() => crossEntropy(z, t, { reduction: 'avg' as 'mean' })).toThrow(
      `crossEntropy: reduction must be 'mean', 'sum' or 'none', got "avg"`,
    );
    expect(() => softmaxCrossEntropyWithSoftTargets(z, tensor([1, 0], [2], { backend: reference }))).toThrow(
      'softmaxCrossEntropyWithSoftTargets: probs must be f32[2, 3] for logits [2, 3], got f32[2]',
    );
  });
});
