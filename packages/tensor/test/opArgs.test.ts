// Bad op arguments get an error naming the op, the argument and the value (never a cryptic
// internal error, never a silently wrong answer); and the edge cases where backends used to
// disagree (multinomial's zero, negative and NaN weights; tfjs oneHot below depth 2) agree.

import { describe, expect, test } from 'vitest';
import {
  squeeze,
  attention,
  attentionQkv,
  type Backend,
  concat,
  conv2d,
  keep,
  max,
  matmul,
  mean,
  multinomial,
  oneHot,
  pad,
  quantizeWeight,
  randomUniform,
  Rng,
  rope,
  sample,
  softmax,
  sum,
  type Tensor,
  type TensorContainer,
  tensor,
  tidy,
  tidyAsync,
} from '../src/index.node.js';
import { liveTensorCount } from '../src/engine.js';
import { suiteBackends } from './util/backends.js';

const { reference, others } = await suiteBackends();
const all: Backend[] = [reference, ...others.map((o) => o.backend)];

const f32 = (shape: number[], backend: Backend = reference): Tensor =>
  tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i + 1),
    shape,
    { backend },
  );
const i32 = (values: number[], backend: Backend = reference): Tensor =>
  tensor(new Int32Array(values), [values.length], { backend });
// biome-ignore lint/suspicious/noExplicitAny: the point is to pass what the types forbid
const any = (v: unknown): any => v;

describe('axes', () => {
  test('an axis that is not an integer says so and shows what was given', () => {
    const x = f32([2, 3]);
    expect(() => sum(x, any('1'))).toThrow(
      'sum: axes must be an integer or an array of integers (or undefined for all), got "1" (a string)',
    );
    expect(() => sum(x, any(['0', 1]))).toThrow('sum: axis must be an integer, got "0" (a string)');
    expect(() => mean(x, 0.5)).toThrow('mean: axis must be an integer, got 0.5');
    expect(() => max(x, any('01'))).toThrow(
      'max: axes must be an integer or an array of integers (or undefined for all), got "01" (a string)',
    );
    expect(() => max(x, any(null))).toThrow('max: axes must be an integer or an array of integers');
    // The shared axis helper: every op that takes an axis.
    expect(() => softmax(x, any('1'))).toThrow('softmax: axis must be an integer, got "1" (a string)');
    expect(() => concat([x, x], any('0'))).toThrow('concat: axis must be an integer, got "0" (a string)');
    expect(() => squeeze(x, any('0'))).toThrow(
      'squeeze: axes must be an integer or an array of integers (or undefined for every size-1 axis), got "0" (a string)',
    );
    // Out of range still names the rank.
    expect(() => sum(x, 2)).toThrow('sum: axis 2 is out of range for a tensor of rank 2');
  });
});

describe('concat', () => {
  test('takes an array of tensors', () => {
    const x = f32([2, 3]);
    expect(() => concat(any(x), 0)).toThrow(
      'concat: xs must be an array of tensors, e.g. concat([a, b], axis), got a tensor f32[2, 3]',
    );
    expect(() => concat(any([x, 5]), 0)).toThrow('concat: xs[1] must be a Tensor, got 5');
  });
});

describe('pad', () => {
  test('paddings must be one [before, after] pair per axis', () => {
    const x = f32([2, 3]);
    expect(() => pad(x, any([1, 1]))).toThrow(
      'pad: paddings must be an array of one [before, after] pair per axis (x f32[2, 3] needs 2, e.g. [[0,1],[0,1]]), got [1,1]',
    );
    expect(() => pad(x, any(2))).toThrow(
      'pad: paddings must be an array of one [before, after] pair per axis',
    );
    expect(() =>
      pad(
        x,
        any([
          [1, 1, 1],
          [0, 0],
        ]),
      ),
    ).toThrow('got [[1,1,1],[0,0]]');
  });

  test('the fill value must be a number the dtype holds', async () => {
    const x = f32([2]);
    expect(() => pad(x, [[1, 0]], any('x'))).toThrow('pad: value must be a number, got "x" (a string)');
    const ix = i32([1, 2]);
    expect(() => pad(ix, [[1, 0]], 1.5)).toThrow(
      "pad: value 1.5 is not representable in x's dtype i32 (must be an integer in [-2147483648, 2147483647])",
    );
    const ux = tensor(new Uint32Array([1]), [1], { backend: reference });
    expect(() => pad(ux, [[1, 0]], -1)).toThrow(
      "pad: value -1 is not representable in x's dtype u32 (must be an integer in [0, 4294967295])",
    );
    const bx = tensor([true], [1], { backend: reference, dtype: 'bool' });
    expect(() => pad(bx, [[1, 0]], 2)).toThrow(
      "pad: value 2 is not representable in x's dtype bool (must be 0 or 1)",
    );
    // Values the dtype holds still work, NaN included for floats.
    expect(Array.from(await pad(ix, [[1, 0]], -7).read())).toEqual([-7, 1, 2]);
    expect(Array.from(await pad(x, [[0, 1]], Number.NaN).read())).toEqual([1, 2, Number.NaN]);
    expect(() => pad(x, [[1, 0]], 0, any('toString'))).toThrow('pad: unknown mode "toString"');
  });
});

describe('conv2d', () => {
  test('options name their accepted forms', () => {
    const x = f32([1, 1, 4, 4]);
    const w = f32([1, 1, 3, 3]);
    expect(() => conv2d(x, w, undefined, { padding: any('full') })).toThrow(
      `conv2d: options.padding must be a non-negative integer or a [h, w] pair of them, 'same' or 'valid', got "full" (a string)`,
    );
    expect(() => conv2d(x, w, undefined, { padding: -1 })).toThrow(
      'conv2d: options.padding must be a non-negative integer',
    );
    expect(() => conv2d(x, w, undefined, { stride: any([1]) })).toThrow(
      'conv2d: options.stride must be a positive integer or a [h, w] pair of them, got [1]',
    );
    expect(() => conv2d(x, w, undefined, { dilation: 0 })).toThrow(
      'conv2d: options.dilation must be a positive integer or a [h, w] pair of them, got 0',
    );
    expect(() => conv2d(x, w, undefined, { groups: any('1') })).toThrow(
      'conv2d: options.groups must be a positive integer, got "1" (a string)',
    );
  });
});

describe('multinomial and sample', () => {
  test('options and seeds are checked in the op called', () => {
    const p = f32([2, 3]);
    expect(() => any(multinomial)(p)).toThrow(
      'multinomial: options with a seed are required, e.g. multinomial(probs, { seed: 0 }), got undefined',
    );
    expect(() => multinomial(p, any({}))).toThrow(
      'multinomial: options.seed is required (a safe integer or an Rng)',
    );
    expect(() => multinomial(p, { seed: 1.5 })).toThrow(
      'multinomial: options.seed must be a safe integer or an Rng, got 1.5',
    );
    expect(() => multinomial(p, { seed: 1, replacement: any('no') })).toThrow(
      'multinomial: options.replacement must be a boolean, got "no" (a string)',
    );
    expect(() => sample(p, { seed: Number.NaN })).toThrow(
      'sample: options.seed must be a safe integer or an Rng, got NaN',
    );
    expect(() => sample(p, { seed: any('7') })).toThrow(
      'sample: options.seed must be a safe integer or an Rng',
    );
    // An Rng is still accepted.
    const ids = multinomial(p, { seed: new Rng(3), numSamples: 2 });
    expect(ids.shape).toEqual([2, 2]);
    ids.dispose();
  });

  test('negative and NaN weights count as 0 and draws without positive weight give -1, on every backend', async () => {
    const rows = new Float32Array([-2, Number.NaN, 3, 0, Number.NEGATIVE_INFINITY, 0, -1, Number.NaN]);
    for (const backend of all) {
      const p = tensor(rows, [2, 4], { backend });
      for (let seed = 0; seed < 4; seed++) {
        const withR = multinomial(p, { seed, numSamples: 3 });
        expect(Array.from(await withR.read()), `${backend.name}, seed ${seed}`).toEqual([
          2, 2, 2, -1, -1, -1,
        ]);
        const without = multinomial(p, { seed, numSamples: 3, replacement: false });
        expect(Array.from(await without.read()), `${backend.name}, seed ${seed}`).toEqual([
          2, -1, -1, -1, -1, -1,
        ]);
        withR.dispose();
        without.dispose();
      }
      // All-zero weights: -1 both ways.
      const zeros = tensor(new Float32Array(4), [4], { backend });
      const a = multinomial(zeros, { seed: 1, numSamples: 2 });
      const b = multinomial(zeros, { seed: 1, numSamples: 2, replacement: false });
      expect(Array.from(await a.read()), backend.name).toEqual([-1, -1]);
      expect(Array.from(await b.read()), backend.name).toEqual([-1, -1]);
      // Positive weights are all drawn, each once, before any -1.
      const two = tensor([0, 0.25, 0, 4], [4], { backend });
      const c = multinomial(two, { seed: 5, numSamples: 3, replacement: false });
      const drawn = Array.from(await c.read());
      expect([...drawn.slice(0, 2)].sort(), backend.name).toEqual([1, 3]);
      expect(drawn[2], backend.name).toBe(-1);
      for (const t of [p, zeros, a, b, two, c]) t.dispose();
    }
  });
});

describe('options objects', () => {
  const q = () => f32([1, 1, 3, 2]);
  test('a misspelt option is an error, not a different computation (`casual` ran non-causal attention)', () => {
    expect(() => attention(q(), q(), q(), any({ casual: true }))).toThrow(
      'attention: unknown option "casual" (expected causal, mask, scale, kvLength, queryOffset, layout)',
    );
    expect(() => attentionQkv(f32([1, 3, 6]), any({ heads: 1, causal: true, kv_heads: 1 }))).toThrow(
      'attentionQkv: unknown option "kv_heads"',
    );
    expect(() => matmul(f32([2, 3]), f32([2, 3]), any({ transpose_b: true }))).toThrow(
      'matmul: unknown option "transpose_b" (expected transposeA, transposeB, bias, activation, residual)',
    );
    expect(() => sample(f32([2, 3]), any({ top_k: 5, seed: 1 }))).toThrow('sample: unknown option "top_k"');
    expect(() => attention(q(), q(), q(), any(null))).toThrow(
      'attention: options must be an object, got null',
    );
    // tfjs spells it strides; a silent stride of 1 would be a different convolution.
    expect(() => conv2d(f32([1, 1, 4, 4]), f32([1, 1, 3, 3]), undefined, any({ strides: 2 }))).toThrow(
      'conv2d: unknown option "strides" (expected stride, padding, dilation, groups)',
    );
    expect(() => rope(q(), any({ thetha: 1e6 }))).toThrow('rope: unknown option "thetha"');
    expect(() => randomUniform([2], any({ backend: reference, seed: 1, hi: 2 }))).toThrow(
      'randomUniform: unknown option "hi" (expected backend, seed, low, high)',
    );
    expect(() => multinomial(f32([2, 3]), any({ seed: 1, num_samples: 2 }))).toThrow(
      'multinomial: unknown option "num_samples"',
    );
    expect(() => quantizeWeight(f32([2, 32]), any({ dtype: 'q8', blockSize: 64 }))).toThrow(
      'quantizeWeight: unknown option "blockSize"',
    );
  });

  test('a flag that is not a boolean is an error (the string "false" is truthy)', () => {
    expect(() => attention(q(), q(), q(), any({ causal: 'false' }))).toThrow(
      'attention: options.causal must be true or false, got the string "false"',
    );
    expect(() => attentionQkv(f32([1, 3, 6]), any({ heads: 1, causal: 1 }))).toThrow(
      'attentionQkv: options.causal must be true or false, got the number 1',
    );
    expect(() => matmul(f32([2, 3]), f32([2, 3]), any({ transposeB: 'no' }))).toThrow(
      'matmul: options.transposeB must be true or false, got the string "no"',
    );
  });
});

describe('oneHot', () => {
  test('depth 0 and 1 agree on every backend', async () => {
    for (const backend of all) {
      const ids = i32([0, 1, -1], backend);
      const one = oneHot(ids, 1);
      expect(one.shape, backend.name).toEqual([3, 1]);
      expect(Array.from(await one.read()), backend.name).toEqual([1, 0, 0]);
      const oneI = oneHot(ids, 1, 'i32');
      expect(Array.from(await oneI.read()), backend.name).toEqual([1, 0, 0]);
      const none = oneHot(ids, 0, 'bool');
      expect(none.shape, backend.name).toEqual([3, 0]);
      expect(Array.from(await none.read()), backend.name).toEqual([]);
      for (const t of [ids, one, oneI, none]) t.dispose();
    }
    expect(() => oneHot(i32([0]), any('2'))).toThrow(
      'oneHot: depth must be a non-negative integer, got "2" (a string)',
    );
  });
});

describe('tidy', () => {
  test('takes a function', () => {
    expect(() => tidy(any(5))).toThrow('tidy(): expects a function to run, got 5 (number)');
    expect(() => tidy(any(undefined))).toThrow('tidy(): expects a function to run, got undefined');
    return expect(tidyAsync(any({}))).rejects.toThrow('tidyAsync(): expects a function to run, got Object');
  });

  test('tensors hidden in a Map, a Set or a class instance throw instead of being freed silently', async () => {
    const x = f32([2]);
    const before = liveTensorCount(reference);
    class Holder {
      constructor(readonly t: Tensor) {}
    }
    const hidden: [string, () => unknown][] = [
      ['a Map', () => new Map([['a', sum(x)]])],
      ['a Set', () => ({ set: new Set([sum(x)]) })],
      ['a Holder', () => [new Holder(sum(x))]],
      // Beside a tensor tidy keeps: that one is freed as well, as the call throws.
      ['a Map', () => [mean(x), new Map([['a', sum(x)]])]],
    ];
    for (const [what, fn] of hidden) {
      expect(() => tidy(fn as () => TensorContainer), what).toThrow(
        `tidy(): the result holds tensors made inside the scope in ${what}, which tidy does not look into`,
      );
      expect(liveTensorCount(reference), what).toBe(before);
    }
    await expect(
      tidyAsync(async () => new Map([['a', sum(x)]]) as unknown as TensorContainer),
    ).rejects.toThrow('tidyAsync(): the result holds tensors made inside the scope in a Map');
    expect(liveTensorCount(reference)).toBe(before);
    // Tensors from outside the scope, or kept ones, may sit anywhere; plain containers keep theirs.
    const outside = tidy(() => new Map([['x', x]]) as unknown as TensorContainer) as unknown as Map<
      string,
      Tensor
    >;
    expect(outside.get('x')).toBe(x);
    const kept = tidy(() => new Holder(keep(sum(x))) as unknown as TensorContainer) as unknown as Holder;
    expect(await kept.t.read()).toEqual(Float32Array.of(3));
    const plain = tidy(() => ({ a: [sum(x)], b: { c: mean(x) } }));
    expect(await plain.a[0]!.read()).toEqual(Float32Array.of(3));
    for (const t of [kept.t, plain.a[0]!, plain.b.c, x]) t.dispose();
  });
});
