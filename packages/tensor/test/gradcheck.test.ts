// Gradient checks for every differentiable op: autograd against central finite differences, on
// cpu, webgpu and tfjs-cpu. Ops are looked up by their exported name, so a row whose op is not exported yet
// shows up as a todo that names it instead of disappearing.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as vl from '../src/index.node.js';
import {
  type Backend,
  type DType,
  type Kernel,
  type Tensor,
  type TypedArray,
  gradCheck,
  mul,
  runKernel,
  tensor,
} from '../src/index.node.js';
import { type NamedBackend, kernelBackends } from './util/backends.js';
import { freshSeed, randomArray, rng } from './util/random.js';

// biome-ignore lint/suspicious/noExplicitAny: ops of many signatures, looked up by name
type AnyOp = (...args: any[]) => any;
const ops = vl as unknown as Record<string, AnyOp | undefined>;
/** The exported op `name` (rows only run when every op they name exists). */
const op = (name: string): AnyOp => ops[name]!;

interface Input {
  shape: number[];
  dtype?: DType;
  /** Random values in [lo, hi] (default [-2, 2]). */
  range?: [number, number];
  /** Custom data from the case's random stream (for inputs that must avoid kinks and ties). */
  gen?: (next: () => number, size: number) => TypedArray;
}

interface Row {
  name: string;
  /** Exported ops the row uses. */
  needs: string[];
  inputs: Input[];
  f: (...xs: Tensor[]) => Tensor;
  /** Inputs to differentiate (default: every f32 input). */
  wrt?: number[];
  eps?: number;
  rtol?: number;
  atol?: number;
}

/** Values at least `gap` apart from each other (no ties for max, sort, pooling). */
const distinct =
  (gap = 0.15) =>
  (next: () => number, size: number): Float32Array => {
    const order = Array.from({ length: size }, (_, i) => i).sort(() => next() - 0.5);
    return Float32Array.from(order, (k) => (k - size / 2) * gap + 0.3 * gap * next());
  };
/**
 * Values on a grid of step 0.2 (odd or even multiples of 0.1, jittered by ±0.02), so an even-grid
 * tensor and an odd-grid one never come within 0.06 of each other (no ties for maximum/minimum).
 */
const grid =
  (parity: 0 | 1) =>
  (next: () => number, size: number): Float32Array =>
    Float32Array.from(
      { length: size },
      () => (2 * Math.floor(next() * 20 - 10) + parity) * 0.1 + 0.04 * (next() - 0.5),
    );
/** Values at least 0.1 away from the bounds -1.1 and 0.9 of the clamp row, and from each other's kinks. */
const awayFromClampBounds = (next: () => number, size: number) =>
  Float32Array.from({ length: size }, () => [-1.8, -0.9, 0.2, 1.2][Math.floor(next() * 4)]! + 0.5 * next());
/** |x| in [0.2, 2], random sign (away from the kink at 0). */
const awayFromZero = (next: () => number, size: number) =>
  Float32Array.from({ length: size }, () => (next() < 0.5 ? -1 : 1) * (0.2 + 1.8 * next()));
/** Multiples of 1/16 in [-2, 2]: exact in f16 and bf16, and still exact 1/16 away (the eps of the cast rows). */
const sixteenths = (next: () => number, size: number) =>
  Float32Array.from({ length: size }, () => Math.round((4 * next() - 2) * 16) / 16);
const u = (name: string, extra: Partial<Row> = {}): Row => ({
  name,
  needs: [name],
  inputs: [{ shape: [3, 5] }],
  f: (x) => op(name)(x),
  ...extra,
});

const rows: Row[] = [
  // binary, broadcasting both ways
  ...['add', 'sub', 'mul'].flatMap((name): Row[] => [
    {
      name: `${name} [3, 4] [4]`,
      needs: [name],
      inputs: [{ shape: [3, 4] }, { shape: [4] }],
      f: (a, b) => op(name)(a, b),
    },
    {
      name: `${name} [2, 1, 3] [3, 1]`,
      needs: [name],
      inputs: [{ shape: [2, 1, 3] }, { shape: [3, 1] }],
      f: (a, b) => op(name)(a, b),
    },
  ]),
  {
    name: 'div [3, 4] [4]',
    needs: ['div'],
    inputs: [{ shape: [3, 4] }, { shape: [4], range: [0.5, 2] }],
    f: (a, b) => op('div')(a, b),
  },
  {
    name: 'div [1] [2, 3]',
    needs: ['div'],
    inputs: [{ shape: [1] }, { shape: [2, 3], range: [0.5, 2] }],
    f: (a, b) => op('div')(a, b),
  },
  {
    name: 'pow [2, 3] [3]',
    needs: ['pow'],
    inputs: [
      { shape: [2, 3], range: [0.5, 2] },
      { shape: [3], range: [-1.5, 2] },
    ],
    f: (a, b) => op('pow')(a, b),
  },
  {
    // d/da a^0 is 0 everywhere, also at a = 0 (b a^(b-1) would be 0 * Inf = NaN there), as in PyTorch.
    name: 'pow with zero exponents, at zero bases',
    needs: ['pow'],
    inputs: [
      { shape: [6], gen: () => Float32Array.of(0, -1, 2, 0.5, 0, 0) },
      { shape: [6], gen: () => Float32Array.of(0, 0, 0, 0, 2, 0) },
    ],
    f: (a, b) => op('pow')(a, b),
    wrt: [0],
  },
  ...['maximum', 'minimum'].map(
    (name): Row => ({
      name: `${name} [3, 4] [3, 4]`,
      needs: [name],
      inputs: [
        { shape: [3, 4], gen: grid(0) },
        { shape: [3, 4], gen: grid(1) },
      ],
      f: (a, b) => op(name)(a, b),
    }),
  ),
  // unary
  u('neg'),
  u('exp'),
  u('log', { inputs: [{ shape: [3, 5], range: [0.5, 2] }] }),
  u('sqrt', { inputs: [{ shape: [3, 5], range: [0.5, 2] }] }),
  u('rsqrt', { inputs: [{ shape: [3, 5], range: [0.5, 2] }] }),
  u('abs', { inputs: [{ shape: [3, 5], gen: awayFromZero }] }),
  u('tanh'),
  u('sigmoid'),
  u('relu', { inputs: [{ shape: [3, 5], gen: awayFromZero }] }),
  u('gelu'),
  u('geluTanh'),
  u('quickGelu'),
  u('silu'),
  u('square'),
  u('sin'),
  u('cos'),
  u('erf'),
  {
    name: 'clamp',
    needs: ['clamp'],
    inputs: [{ shape: [3, 5], gen: awayFromClampBounds }],
    f: (x) => op('clamp')(x, -1.1, 0.9),
  },
  { name: 'scale', needs: ['scale'], inputs: [{ shape: [3, 5] }], f: (x) => op('scale')(x, -1.5, 0.25) },
  {
    name: 'where',
    needs: ['where'],
    inputs: [{ shape: [3, 4], dtype: 'bool' }, { shape: [3, 4] }, { shape: [4] }],
    f: (c, a, b) => op('where')(c, a, b),
  },
  { name: 'cast f32 -> f32', needs: ['cast'], inputs: [{ shape: [5] }], f: (x) => op('cast')(x, 'f32') },
  // Float casts pass the gradient on, cast back to the input's dtype (mixed precision: f32 master
  // weights cast down for the matmul). Values on a 1/16 grid with eps 1/16 keep the finite
  // differences free of f16/bf16 rounding.
  ...(['f16', 'bf16'] as const).flatMap((dtype): Row[] => [
    {
      name: `cast f32 -> ${dtype} -> f32`,
      needs: ['cast'],
      inputs: [{ shape: [5], gen: sixteenths }],
      f: (x) => op('cast')(op('cast')(x, dtype), 'f32'),
      eps: 1 / 16,
    },
    {
      name: `matmul with the weight cast to ${dtype}`,
      needs: ['matmul', 'cast'],
      inputs: [
        { shape: [2, 3], gen: sixteenths },
        { shape: [3, 4], gen: sixteenths },
      ],
      f: (x, w) => op('matmul')(x, op('cast')(w, dtype)),
      eps: 1 / 16,
      rtol: 2e-2, // the weight's gradient is rounded to the weight's dtype, as in PyTorch
    },
  ]),
  {
    // argmax's i32 output is a constant (as in PyTorch): the gradient flows through logSoftmax only.
    name: 'oneHot(argmax(z)) * logSoftmax(z) (self-training pseudo-labels)',
    needs: ['oneHot', 'argmax', 'logSoftmax', 'mul'],
    inputs: [{ shape: [3, 4], gen: distinct(0.3) }],
    f: (z) => op('mul')(op('oneHot')(op('argmax')(z, -1), 4), op('logSoftmax')(z, -1)),
  },
  // reductions
  { name: 'sum all', needs: ['sum'], inputs: [{ shape: [3, 5] }], f: (x) => op('sum')(x) },
  {
    name: 'sum axis 1 keepDims',
    needs: ['sum'],
    inputs: [{ shape: [2, 3, 4] }],
    f: (x) => op('sum')(x, 1, true),
  },
  { name: 'sum axes [0, 2]', needs: ['sum'], inputs: [{ shape: [2, 3, 4] }], f: (x) => op('sum')(x, [0, 2]) },
  { name: 'mean axis -1', needs: ['mean'], inputs: [{ shape: [3, 5] }], f: (x) => op('mean')(x, -1) },
  { name: 'mean all', needs: ['mean'], inputs: [{ shape: [2, 3, 4] }], f: (x) => op('mean')(x) },
  {
    name: 'max axis -1',
    needs: ['max'],
    inputs: [{ shape: [3, 5], gen: distinct() }],
    f: (x) => op('max')(x, -1),
  },
  {
    name: 'min axis 0 keepDims',
    needs: ['min'],
    inputs: [{ shape: [3, 5], gen: distinct() }],
    f: (x) => op('min')(x, 0, true),
  },
  {
    name: 'logSumExp axis -1',
    needs: ['logSumExp'],
    inputs: [{ shape: [3, 5] }],
    f: (x) => op('logSumExp')(x, -1, false),
  },
  {
    name: 'variance axis -1',
    needs: ['variance'],
    inputs: [{ shape: [3, 5] }],
    f: (x) => op('variance')(x, -1, false),
  },
  // normalization
  {
    name: 'softmax axis -1',
    needs: ['softmax'],
    inputs: [{ shape: [3, 5] }],
    f: (x) => op('softmax')(x, -1),
  },
  { name: 'softmax axis 0', needs: ['softmax'], inputs: [{ shape: [4, 3] }], f: (x) => op('softmax')(x, 0) },
  {
    name: 'logSoftmax axis -1',
    needs: ['logSoftmax'],
    inputs: [{ shape: [3, 5] }],
    f: (x) => op('logSoftmax')(x, -1),
  },
  {
    name: 'layerNorm x, gamma, beta',
    needs: ['layerNorm'],
    inputs: [{ shape: [3, 6] }, { shape: [6] }, { shape: [6] }],
    f: (x, g, b) => op('layerNorm')(x, g, b, 1e-5),
    rtol: 2e-2,
  },
  {
    name: 'layerNorm x only',
    needs: ['layerNorm'],
    inputs: [{ shape: [2, 7] }],
    f: (x) => op('layerNorm')(x, undefined, undefined, 1e-5),
    rtol: 2e-2,
  },
  {
    name: 'rmsNorm x, gamma',
    needs: ['rmsNorm'],
    inputs: [{ shape: [3, 6] }, { shape: [6] }],
    f: (x, g) => op('rmsNorm')(x, g, 1e-6),
    rtol: 2e-2,
  },
  // shape ops
  { name: 'reshape', needs: ['reshape'], inputs: [{ shape: [2, 6] }], f: (x) => op('reshape')(x, [3, -1]) },
  {
    name: 'transpose [2, 3, 4] perm [2, 0, 1]',
    needs: ['transpose'],
    inputs: [{ shape: [2, 3, 4] }],
    f: (x) => op('transpose')(x, [2, 0, 1]),
  },
  { name: 'slice', needs: ['slice'], inputs: [{ shape: [4, 5] }], f: (x) => op('slice')(x, [1, 1], [2, -1]) },
  {
    name: 'concat axis 1',
    needs: ['concat'],
    inputs: [{ shape: [2, 3] }, { shape: [2, 1] }],
    f: (a, b) => op('concat')([a, b], 1),
  },
  {
    name: 'pad',
    needs: ['pad'],
    inputs: [{ shape: [2, 3] }],
    f: (x) =>
      op('pad')(
        x,
        [
          [1, 0],
          [2, 1],
        ],
        0.5,
      ),
  },
  {
    name: 'gather axis 1',
    needs: ['gather'],
    inputs: [{ shape: [3, 5] }, { shape: [4], dtype: 'i32', range: [0, 4] }],
    f: (x, i) => op('gather')(x, i, 1),
  },
  {
    name: 'embedding (repeated ids)',
    needs: ['embedding'],
    inputs: [{ shape: [5, 3] }, { shape: [2, 3], dtype: 'i32', gen: () => Int32Array.of(0, 4, 2, 4, 4, 1) }],
    f: (t, ids) => op('embedding')(t, ids),
  },
  {
    name: 'scatterAdd (updates)',
    needs: ['scatterAdd'],
    inputs: [{ shape: [4], dtype: 'i32', range: [0, 4] }, { shape: [4, 3] }],
    f: (i, upd) => op('scatterAdd')([5, 3], i, upd, 0),
  },
  {
    name: 'upsampleNearest x2',
    needs: ['upsampleNearest'],
    inputs: [{ shape: [1, 2, 2, 3] }],
    f: (x) => op('upsampleNearest')(x, 2),
  },
  {
    name: 'maxPool2d 2x2 stride 1',
    needs: ['maxPool2d'],
    inputs: [{ shape: [1, 2, 3, 4], gen: distinct() }],
    f: (x) => op('maxPool2d')(x, 2, 1),
  },
  // matmul, conv, attention
  {
    name: 'matmul [3, 5] @ [5, 3]',
    needs: ['matmul'],
    inputs: [{ shape: [3, 5] }, { shape: [5, 3] }],
    f: (a, b) => op('matmul')(a, b),
  },
  {
    name: 'matmul batch-broadcast, transposeB, bias',
    needs: ['matmul'],
    inputs: [{ shape: [2, 3, 5] }, { shape: [3, 5] }, { shape: [3] }],
    f: (a, b, bias) => op('matmul')(a, b, { transposeB: true, bias }),
  },
  {
    name: 'matmul transposeA, gelu',
    needs: ['matmul'],
    inputs: [{ shape: [2, 5, 3] }, { shape: [2, 5, 3] }],
    f: (a, b) => op('matmul')(a, b, { transposeA: true, activation: 'gelu' }),
  },
  {
    name: 'matmul silu, bias',
    needs: ['matmul'],
    inputs: [{ shape: [3, 5] }, { shape: [5, 3] }, { shape: [3] }],
    f: (a, b, bias) => op('matmul')(a, b, { bias, activation: 'silu' }),
  },
  {
    name: 'linear',
    needs: ['linear'],
    inputs: [{ shape: [3, 5] }, { shape: [3, 5] }, { shape: [3] }],
    f: (x, w, b) => op('linear')(x, w, b),
  },
  {
    name: 'conv2d padding 1, bias',
    needs: ['conv2d'],
    inputs: [{ shape: [1, 2, 4, 3] }, { shape: [3, 2, 3, 3], range: [-0.5, 0.5] }, { shape: [3] }],
    f: (x, w, b) => op('conv2d')(x, w, b, { padding: 1 }),
  },
  {
    name: 'conv2d stride 2, groups 2',
    needs: ['conv2d'],
    inputs: [{ shape: [1, 2, 5, 5] }, { shape: [2, 1, 2, 2] }],
    f: (x, w) => op('conv2d')(x, w, undefined, { stride: 2, groups: 2 }),
  },
  {
    name: 'attention',
    needs: ['attention'],
    inputs: [{ shape: [1, 2, 3, 4] }, { shape: [1, 2, 5, 4] }, { shape: [1, 2, 5, 3] }],
    f: (q, k, v) => op('attention')(q, k, v),
  },
  {
    name: 'attention causal, grouped heads',
    needs: ['attention'],
    inputs: [{ shape: [1, 4, 3, 2] }, { shape: [1, 2, 3, 2] }, { shape: [1, 2, 3, 2] }],
    f: (q, k, v) => op('attention')(q, k, v, { causal: true }),
  },
  {
    name: 'attention, causal, an additive mask broadcast over heads (its gradient too)',
    needs: ['attention'],
    inputs: [
      { shape: [1, 2, 3, 4] },
      { shape: [1, 2, 5, 4] },
      { shape: [1, 2, 5, 3] },
      { shape: [1, 1, 3, 5] },
    ],
    f: (q, k, v, mask) => op('attention')(q, k, v, { causal: true, mask }),
  },
  {
    name: 'attention bthd, kvLength 4 of 5 keys, a per-head additive mask',
    needs: ['attention'],
    inputs: [
      { shape: [1, 3, 2, 4] },
      { shape: [1, 5, 2, 4] },
      { shape: [1, 5, 2, 3] },
      { shape: [1, 2, 3, 5] },
    ],
    f: (q, k, v, mask) => op('attention')(q, k, v, { layout: 'bthd', kvLength: 4, mask }),
  },
  {
    name: 'attentionQkv with an additive mask',
    needs: ['attentionQkv'],
    inputs: [{ shape: [1, 3, 12] }, { shape: [1, 1, 3, 3] }],
    f: (qkv, mask) => op('attentionQkv')(qkv, { heads: 2, mask }),
  },
  { name: 'rope', needs: ['rope'], inputs: [{ shape: [1, 2, 3, 4] }], f: (x) => op('rope')(x) },
  // losses
  {
    name: 'crossEntropy mean',
    needs: ['crossEntropy'],
    inputs: [{ shape: [3, 5] }, { shape: [3], dtype: 'i32', range: [0, 4] }],
    f: (logits, labels) => op('crossEntropy')(logits, labels),
  },
  {
    name: 'crossEntropy none, label smoothing, ignored row',
    needs: ['crossEntropy'],
    inputs: [{ shape: [3, 5] }, { shape: [3], dtype: 'i32', gen: () => Int32Array.of(2, -100, 4) }],
    f: (logits, labels) => op('crossEntropy')(logits, labels, { reduction: 'none', labelSmoothing: 0.1 }),
  },
  {
    name: 'softmaxCrossEntropyWithSoftTargets (logits and targets)',
    needs: ['softmaxCrossEntropyWithSoftTargets'],
    inputs: [{ shape: [3, 5] }, { shape: [3, 5], range: [0, 1] }],
    f: (logits, probs) => op('softmaxCrossEntropyWithSoftTargets')(logits, probs, { reduction: 'sum' }),
  },
  // topk: each value's gradient lands where it was picked from (the indices carry none); distinct
  // values, so no finite-difference step reorders them
  {
    name: 'topk values, last axis',
    needs: ['topk', 'mul'],
    inputs: [{ shape: [3, 7], gen: distinct() }, { shape: [3, 3] }],
    f: (x, w) => op('mul')((op('topk')(x, 3) as unknown as { values: Tensor }).values, w),
    wrt: [0],
  },
  {
    name: 'topk values along a middle axis, k = the whole axis',
    needs: ['topk', 'mul'],
    inputs: [{ shape: [2, 4, 3], gen: distinct() }, { shape: [2, 4, 3] }],
    f: (x, w) => op('mul')((op('topk')(x, 4, 1) as unknown as { values: Tensor }).values, w),
    wrt: [0],
  },
  // compositions: a small MLP loss and attention written out with softmax
  {
    name: 'mlp: mean(gelu(x W1 + b1) W2)^2',
    needs: ['matmul', 'add', 'gelu', 'mean', 'square'],
    inputs: [{ shape: [3, 5] }, { shape: [5, 3] }, { shape: [3] }, { shape: [3, 5] }],
    f: (x, w1, b1, w2) =>
      op('mean')(op('square')(op('matmul')(op('gelu')(op('add')(op('matmul')(x, w1), b1)), w2))),
    wrt: [1, 2, 3],
  },
  {
    name: 'softmax(q kᵀ) v',
    needs: ['matmul', 'softmax', 'scale'],
    inputs: [{ shape: [2, 3, 5] }, { shape: [2, 3, 5] }, { shape: [2, 3, 5] }],
    f: (q, k, v) =>
      op('matmul')(op('softmax')(op('scale')(op('matmul')(q, k, { transposeB: true }), 0.5), -1), v),
  },
];

let backends: NamedBackend[];
let reference: Backend;
let dispose: () => void;
beforeAll(async () => {
  const all = await kernelBackends();
  backends = all.others;
  reference = all.reference;
  dispose = all.dispose;
});
afterAll(() => dispose());

function makeInputs(row: Row, backend: Backend, seed: number): Tensor[] {
  const next = rng(seed);
  return row.inputs.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const dtype = s.dtype ?? 'f32';
    const data = s.gen?.(next, size) ?? randomArray(size, dtype, next, s.range);
    return tensor(data, s.shape, { backend, dtype });
  });
}

describe('gradient checks', () => {
  for (const label of ['cpu', 'webgpu', 'tfjs-cpu']) {
    for (const row of rows) {
      const missing = row.needs.filter((n) => typeof ops[n] !== 'function');
      const name = `${row.name} on ${label}`;
      if (missing.length > 0) {
        test.todo(`${name} (not exported yet: ${missing.join(', ')})`);
        continue;
      }
      test(name, async () => {
        const found = backends.find((b) => b.label === label);
        if (!found) return; // kernelBackends warned loudly (or failed, when VL_REQUIRE_WEBGPU is set)
        const seed = freshSeed();
        const xs = makeInputs(row, found.backend, seed);
        try {
          // On webgpu and tfjs the finite differences (hundreds of tiny forward passes) run on the
          // CPU reference; the gradient itself is computed on the backend under test.
          const numericBackend = label === 'cpu' ? undefined : reference;
          const r = await gradCheck(row.f, xs, {
            wrt: row.wrt,
            eps: row.eps,
            rtol: row.rtol,
            atol: row.atol ?? 2e-3,
            numericBackend,
          });
          expect(r.ok, `${name} (seed ${seed}): ${r.message}`).toBe(true);
        } finally {
          for (const x of xs) x.dispose();
        }
      });
    }
  }
});

describe('gradCheck itself', () => {
  // x^2 with a gradient rule that forgets the factor 2.
  const badSquare: Kernel<void> = {
    name: 'test.badSquare',
    infer: ([x]) => [x!],
    cpu: ([x]) => [Float32Array.from(x!.data, (v) => v * v)],
    grad: ({ dy: [dy], inputs: [x] }) => [mul(dy!, x!)],
  };

  test('catches a wrong gradient rule and names the element', async () => {
    const x = tensor([0.5, -1, 2], [3], { backend: reference });
    const before = reference.stats().liveTensors;
    const r = await gradCheck((a) => runKernel(badSquare, [a], undefined)[0]!, [x]);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(
      /gradCheck failed: worst at input 0 f32\[3\] element \d: analytic -?[\d.]+, numeric -?[\d.]+/,
    );
    // Outputs are reduced with random weights w, so both are w * (dy/dx): the true one is twice the rule's.
    const { analytic, numeric } = r.inputs[0]!;
    for (let e = 0; e < 3; e++) expect(numeric[e]! / analytic[e]!).toBeCloseTo(2, 3);
    expect(reference.stats().liveTensors).toBe(before);
    x.dispose();
  });

  test('bad input is named', async () => {
    const x = tensor([1], [1], { backend: reference });
    const i = tensor(new Int32Array([1]), [1], { backend: reference });
    await expect(gradCheck((a) => a, [x], { wrt: [3] })).rejects.toThrow(
      'gradCheck: wrt names input 3, but there are 1 inputs',
    );
    await expect(gradCheck((a) => a, [i], { wrt: [0] })).rejects.toThrow(
      'gradCheck: input 0 is i32[1]; only f32 inputs can be differentiated',
    );
    x.dispose();
    i.dispose();
  });
});
