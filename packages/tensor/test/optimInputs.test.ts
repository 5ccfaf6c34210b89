// Bad input to the optimizer, its schedule, the loss, cast and the quantization codec: each is
// rejected with an error naming the argument and the value, the same way on every backend, and
// a failing AdamW step changes nothing.
import { describe, expect, test } from 'vitest';
import {
  AdamW,
  type AdamWUpdateAttrs,
  type Backend,
  type CrossEntropyReduction,
  type DType,
  type QuantizedDType,
  type Tensor,
  adamwUpdate,
  cast,
  cosineWithWarmup,
  crossEntropy,
  dequantize,
  dequantizeArray,
  quantizeArray,
  quantizeWeight,
  softmaxCrossEntropyWithSoftTargets,
  tensor,
  tidy,
} from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';

const { reference, others } = await suiteBackends();
const all = [{ label: 'reference', backend: reference }, ...others];
/** Backends whose kernels run on the host and can look at label values (tfjs here: its cpu backend). */
const isHost = (label: string) => label === 'reference' || label === 'cpu' || label.startsWith('tfjs-');

const f32 = (values: number[], shape: number[], backend: Backend) => tensor(values, shape, { backend });
const i32 = (values: number[], shape: number[], backend: Backend) =>
  tensor(new Int32Array(values), shape, { backend });

describe('AdamW options are validated at construction', () => {
  test.each([
    [{ lr: Number.POSITIVE_INFINITY }, 'AdamW: lr must be a finite number, got Infinity'],
    [{ lr: '0.1' }, 'AdamW: lr must be a number or a schedule function, got "0.1"'],
    [
      { weightDecay: Number.POSITIVE_INFINITY },
      'AdamW: weightDecay must be a finite number >= 0, got Infinity',
    ],
    [{ eps: Number.POSITIVE_INFINITY }, 'AdamW: eps must be a finite number > 0'],
    [{ eps: 0 }, 'AdamW: eps must be a finite number > 0 (0 divides 0 by 0 where a gradient is 0), got 0'],
    [{ betas: [0.9] }, 'AdamW: betas must be two numbers in [0, 1), got [0.9]'],
    [{ betas: [0.9, 0.99, 0.5] }, 'AdamW: betas must be two numbers in [0, 1), got [0.9,0.99,0.5]'],
    [{ betas: 0.9 }, 'AdamW: betas must be two numbers in [0, 1), got 0.9'],
    [{ betas: [0.9, '0.99'] }, 'AdamW: betas[1] must be in [0, 1), got "0.99"'],
    [
      { weight_decay: 0.1 },
      'AdamW: options has an unknown key "weight_decay" (expected lr, betas, eps, weightDecay, groups)',
    ],
    [{ groups: {} }, 'AdamW: groups must be an array'],
    [{ groups: [{}] }, 'AdamW: groups[0].match must be a function (path, param) => boolean, got undefined'],
    [{ groups: [null] }, 'AdamW: groups[0] must be an object { match, weightDecay?, lrScale? }, got null'],
    [
      { groups: [{ match: () => false }, { match: () => true, lrScale: -1 }] },
      'AdamW: groups[1].lrScale must be a finite number >= 0, got -1',
    ],
    [
      { groups: [{ match: () => true, lrScale: Number.POSITIVE_INFINITY }] },
      'AdamW: groups[0].lrScale must be a finite number >= 0, got Infinity',
    ],
    [
      { groups: [{ match: () => true, weightDecay: Number.NaN }] },
      'AdamW: groups[0].weightDecay must be a finite number >= 0, got NaN',
    ],
    [
      { groups: [{ match: () => true, lr: 0.1 }] },
      'AdamW: groups[0] has an unknown key "lr" (expected match, weightDecay, lrScale)',
    ],
  ])('%o', (options, message) => {
    expect(() => new AdamW(options as never)).toThrow(message);
  });

  test('null options and a schedule that returns Infinity', () => {
    expect(() => new AdamW(null as never)).toThrow('AdamW: options must be an object, got null');
    expect(() => new AdamW({ lr: () => Number.POSITIVE_INFINITY }).lr).toThrow(
      'AdamW: the schedule returned learning rate Infinity for step 0; it must be a finite number >= 0',
    );
    // Valid corner values still work.
    expect(new AdamW({ lr: 0, betas: [0, 0], weightDecay: 0 }).betas).toEqual([0, 0]);
  });
});

describe.each(all)('a failing AdamW step changes nothing on $label', ({ backend }) => {
  const grads = () => ({ a: f32([1, -1], [2], backend), inner: { b: f32([2, -2], [2], backend) } });

  async function expectUntouched(opt: AdamW, a: Tensor, params: { a: Tensor }, stateSize: number) {
    expect(params.a).toBe(a);
    expect(a.isDisposed).toBe(false);
    expect(Array.from(await a.read())).toEqual([1, 2]);
    expect(opt.state.size).toBe(stateSize);
  }

  test('a frozen params object is reported before any param is updated', async () => {
    const a = f32([1, 2], [2], backend);
    const b = f32([3, 4], [2], backend);
    const params = { a, inner: Object.freeze({ b }) };
    const opt = new AdamW({ lr: 0.1 });
    expect(() => tidy(() => opt.step(params, grads()))).toThrow(
      "AdamW.step: param 'inner.b' cannot be replaced: its entry is read-only",
    );
    await expectUntouched(opt, a, params, 0);
    expect(opt.stepCount).toBe(0);
    expect(b.isDisposed).toBe(false);
    opt.dispose();
    a.dispose();
    b.dispose();
  });

  test('optimizer state of the wrong shape is reported before any param is updated', async () => {
    const a = f32([1, 2], [2], backend);
    const b = f32([3, 4], [2], backend);
    const params: { a: Tensor; inner: { b: Tensor } } = { a, inner: { b } };
    const opt = new AdamW({ lr: 0 }); // lr 0: the first step leaves the values as they are
    tidy(() => opt.step(params, grads()));
    const a1 = params.a;
    params.inner.b.dispose();
    params.inner.b = f32([1, 2, 3], [3], backend);
    expect(() =>
      tidy(() =>
        opt.step(params, { a: f32([1, -1], [2], backend), inner: { b: f32([1, 1, 1], [3], backend) } }),
      ),
    ).toThrow("AdamW.step: param 'inner.b' is f32[3] on");
    await expectUntouched(opt, a1, params, 2);
    expect(opt.state.get('a')!.step).toBe(1);
    opt.dispose();
    params.a.dispose();
    params.inner.b.dispose();
  });

  test('lr * weightDecay > 1 (a negative decay factor) is reported before any param is updated', async () => {
    const a = f32([1, 2], [2], backend);
    const b = f32([3, 4], [2], backend);
    const params = { a, inner: { b } };
    const opt = new AdamW({
      lr: 2,
      weightDecay: 0.1,
      groups: [{ match: (path) => path === 'inner.b', lrScale: 10 }],
    });
    expect(() => tidy(() => opt.step(params, grads()))).toThrow(
      "AdamW.step: param 'inner.b' has learning rate 20 and weight decay 0.1: their product must be <= 1",
    );
    await expectUntouched(opt, a, params, 0);
    opt.dispose();
    a.dispose();
    b.dispose();
  });
});

describe.each(all)('adamwUpdate attrs on $label', ({ backend }) => {
  const good: AdamWUpdateAttrs = {
    decay: 1 - 1e-3 * 0.01,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    stepSize: 1e-3 / (1 - 0.9),
    bc2Sqrt: Math.sqrt(1 - 0.999),
  };
  test.each([
    [
      { decay: Number.NaN },
      'adamwUpdate: attrs.decay must be a finite number in [0, 1] (1 - lr * weightDecay), got NaN',
    ],
    [{ decay: -Number.MAX_VALUE }, 'adamwUpdate: attrs.decay must be a finite number in [0, 1]'],
    [{ decay: 1.5 }, 'adamwUpdate: attrs.decay must be a finite number in [0, 1]'],
    [{ beta1: 1 }, 'adamwUpdate: attrs.beta1 must be a finite number in [0, 1), got 1'],
    [{ beta2: -0.1 }, 'adamwUpdate: attrs.beta2 must be a finite number in [0, 1), got -0.1'],
    [{ eps: 0 }, 'adamwUpdate: attrs.eps must be a finite number > 0, got 0'],
    [{ eps: Number.POSITIVE_INFINITY }, 'adamwUpdate: attrs.eps must be a finite number > 0, got Infinity'],
    [
      { stepSize: -1 },
      'adamwUpdate: attrs.stepSize must be a finite number >= 0 (lr / (1 - beta1^t)), got -1',
    ],
    [{ stepSize: Number.POSITIVE_INFINITY }, 'adamwUpdate: attrs.stepSize must be a finite number >= 0'],
    [
      { bc2Sqrt: 0 },
      'adamwUpdate: attrs.bc2Sqrt must be a finite number in (0, 1] (sqrt(1 - beta2^t)), got 0',
    ],
    [
      { bc2Sqrt: undefined },
      'adamwUpdate: attrs.bc2Sqrt must be a finite number in (0, 1] (sqrt(1 - beta2^t)), got undefined',
    ],
    [{ size: 0 }, 'adamwUpdate: attrs has an unknown key "size"'],
  ])('%o', (change, message) => {
    const p = f32([1, 2], [2], backend);
    expect(() => adamwUpdate(p, p, p, p, { ...good, ...change } as AdamWUpdateAttrs)).toThrow(message);
    expect(() => adamwUpdate(p, p, p, p, null as never)).toThrow('adamwUpdate: attrs must be an object');
    p.dispose();
  });
});

describe('cosineWithWarmup', () => {
  const s = cosineWithWarmup({ lr: 1, warmupSteps: 1, totalSteps: 5 });

  test('rejects a negative or fractional step, and still computes the schedule', () => {
    for (const step of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => s(step)).toThrow(
        `cosineWithWarmup: step must be an integer >= 0 (the number of steps already taken), got ${step}`,
      );
    }
    expect([s(0), s(5), s(9)]).toEqual([1, 0, 0]);
  });

  test.each([
    [
      { lr: Number.POSITIVE_INFINITY, warmupSteps: 1, totalSteps: 5 },
      'cosineWithWarmup: lr must be a finite number >= 0, got Infinity',
    ],
    [
      { lr: 1, warmupSteps: 1, totalSteps: 5, minLr: Number.NaN },
      'cosineWithWarmup: minLr must be a finite number >= 0, got NaN',
    ],
    [{ lr: 1, warmupSteps: 1, totalSteps: 5, minLr: 2 }, 'cosineWithWarmup: minLr (2) must be <= lr (1)'],
    [
      { lr: 1, warmupSteps: 1, totalSteps: 5, min_lr: 0.1 },
      'cosineWithWarmup: options has an unknown key "min_lr"',
    ],
  ])('rejects %o', (options, message) => {
    expect(() => cosineWithWarmup(options as never)).toThrow(message);
  });
});

describe.each(all)('crossEntropy on $label', ({ backend }) => {
  test.each(['toString', 'constructor', 'valueOf', '__proto__', 'hasOwnProperty'])(
    'rejects reduction %s',
    (reduction) => {
      const z = f32([1, 2, 3, 4, 5, 6], [2, 3], backend);
      const t = i32([0, 2], [2], backend);
      expect(() => crossEntropy(z, t, { reduction: reduction as CrossEntropyReduction })).toThrow(
        `crossEntropy: reduction must be 'mean', 'sum' or 'none', got "${reduction}"`,
      );
      z.dispose();
      t.dispose();
    },
  );

  test('rejects unknown options', () => {
    const z = f32([1, 2, 3, 4, 5, 6], [2, 3], backend);
    const t = i32([0, 2], [2], backend);
    expect(() => crossEntropy(z, t, { ignore_index: 0 } as never)).toThrow(
      'crossEntropy: unknown option "ignore_index" (expected reduction, ignoreIndex, labelSmoothing)',
    );
    expect(() => softmaxCrossEntropyWithSoftTargets(z, z, { ignoreIndex: 0 } as never)).toThrow(
      'softmaxCrossEntropyWithSoftTargets: unknown option "ignoreIndex" (expected reduction, labelSmoothing)',
    );
    z.dispose();
    t.dispose();
  });
});

describe('crossEntropy with a label id outside [0, C)', () => {
  test.each([
    [[0, 3], [2], 'label 3 at targets[1] is outside [0, 3) (C = 3 classes) and is not ignoreIndex (-100)'],
    [[-1, 0], [2], 'label -1 at targets[0] is outside [0, 3)'],
    [[0, -100, 7, 1], [2, 2], 'label 7 at targets[1, 0] is outside [0, 3)'],
  ])('%j: the host backends name the bad one, WebGPU fails at the read', async (ids, shape, message) => {
    for (const { label, backend } of all) {
      const z = f32(
        Array.from({ length: ids.length * 3 }, (_, i) => i / 7),
        [...shape, 3],
        backend,
      );
      const t = i32(ids, shape, backend);
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        if (isHost(label)) {
          expect(() => crossEntropy(z, t, { reduction }), label).toThrow(`crossEntropy: ${message}`);
        } else {
          const loss = crossEntropy(z, t, { reduction });
          await expect(loss.read(), `${label}, ${reduction}`).rejects.toThrow(
            'WebGPU: crossEntropy met an index out of range in a kernel queued before this read',
          );
          loss.dispose();
        }
      }
      z.dispose();
      t.dispose();
    }
  });
});

describe.each(all)('cast to or from a quantized dtype on $label', ({ backend }) => {
  test.each(['q8', 'q4'] as const)('%s', (dtype) => {
    const message = `cast: ${dtype} is a block-quantized weight format, read only by matmul/linear and dequantize(); dequantize it first`;
    const x = f32(new Array(32).fill(1), [32], backend);
    const empty = f32([], [0], backend);
    expect(() => cast(x, dtype as DType)).toThrow(message);
    expect(() => cast(empty, dtype as DType)).toThrow(message);
    x.dispose();
    empty.dispose();
  });
});

describe('quantization codec', () => {
  test('quantizeArray', () => {
    expect(() => quantizeArray(new Float32Array(32), 'q2' as QuantizedDType)).toThrow(
      `quantizeArray(): unknown quantized dtype "q2" (expected 'q8' or 'q4')`,
    );
    expect(() => quantizeArray(5 as never, 'q8')).toThrow(
      'quantizeArray(): values must be an array of numbers, got the number 5',
    );
  });

  test('dequantizeArray', () => {
    expect(() => dequantizeArray(new Float32Array(9) as never, 'q8', 32)).toThrow(
      'dequantizeArray(): words must be a Uint32Array of packed q8 values and scales, got a Float32Array',
    );
    expect(() => dequantizeArray(new Uint32Array(5), 'q8', 16)).toThrow(
      'dequantizeArray(): size must be a whole number of 32-value blocks (an integer >= 0, multiple of 32), got 16',
    );
    expect(() => dequantizeArray(new Uint32Array(9), 'q2' as QuantizedDType, 32)).toThrow(
      `dequantizeArray(): unknown quantized dtype "q2" (expected 'q8' or 'q4')`,
    );
    expect(() => dequantizeArray(new Uint32Array(9), 'q8', -32)).toThrow('got -32');
    expect(() => dequantizeArray(new Uint32Array(9), 'q8', Number.NaN)).toThrow('got NaN');
    expect(Array.from(dequantizeArray(new Uint32Array(0), 'q4', 0))).toEqual([]);
  });
});

describe('quantizeWeight of NaN or Infinity', () => {
  test.each([Number.NaN, Number.POSITIVE_INFINITY])(
    '%s: the host throws, WebGPU fails at the next read and gives the block a NaN scale',
    async (bad) => {
      for (const { label, backend } of all) {
        const values = Array.from({ length: 64 }, (_, i) => (i - 32) / 10);
        values[35] = bad;
        const w = f32(values, [2, 32], backend);
        if (label.startsWith('webgpu')) {
          const wq = quantizeWeight(w, { dtype: 'q8' });
          const back = dequantize(wq);
          await expect(back.read(), label).rejects.toThrow(
            'WebGPU: quantizeWeight met NaN or an infinity in the weight in a kernel queued before this read',
          );
          // The flag is cleared by the read that reported it: the block holding the value
          // dequantizes to NaN, the other block is as usual.
          const got = await back.read();
          expect(Array.from(got.subarray(32)).every(Number.isNaN), label).toBe(true);
          expect(Array.from(got.subarray(0, 32)).every(Number.isFinite), label).toBe(true);
          wq.dispose();
          back.dispose();
        } else {
          expect(() => quantizeWeight(w, { dtype: 'q8' }), label).toThrow(
            `quantizeArray(): value ${bad} at index 35 cannot be quantized`,
          );
        }
        w.dispose();
      }
    },
  );
});
