// valueAndGrad mechanics, checked with small kernels defined here (so these tests depend only on the
// engine and binary.ts): values, accumulation when a tensor feeds several ops, zeros for unreached
// params (listed in `unreached`), integer outputs as constants, stopGradient, tidy inside f, cleanup,
// and the error messages (colliding key paths too).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type Backend,
  CpuBackend,
  type Kernel,
  type Tensor,
  add,
  full,
  grad,
  keep,
  mul,
  runKernel,
  stopGradient,
  tensor,
  tidy,
  valueAndGrad,
} from '../src/index.node.js';

/** Runs a single-output test kernel. */
function run1Test(kernel: Kernel<void>, ...inputs: Tensor[]): Tensor {
  return runKernel(kernel, inputs, undefined)[0]!;
}

let backend: Backend;
beforeAll(() => {
  backend = new CpuBackend({ description: 'autograd test' });
});
afterAll(() => backend.dispose());

const t = (values: number[], shape = [values.length]) => tensor(values, shape, { backend });
const read = async (x: Tensor) => Array.from(await x.read());

// Test kernels: cpu only, gradients built from binary ops.
const total: Kernel<void> = {
  name: 'test.total',
  infer: () => [{ shape: [], dtype: 'f32' }],
  cpu: ([x]) => {
    let s = 0;
    for (let i = 0; i < x!.data.length; i++) s += x!.data[i]!;
    return [Float32Array.of(s)];
  },
  // Broadcasting dy ([]) over x's shape.
  grad: ({ dy: [dy], inputs: [x] }) => [add(full(x!.shape, 0, { backend: x!.backend }), dy!)],
};
const square: Kernel<void> = {
  name: 'test.square',
  infer: ([x]) => [x!],
  cpu: ([x]) => [Float32Array.from(x!.data, (v) => v * v)],
  grad: ({ dy: [dy], inputs: [x] }) => [mul(dy!, add(x!, x!))],
};
// Returns dy itself for both inputs: exercises the bookkeeping of shared gradient tensors.
const plus: Kernel<void> = {
  name: 'test.plus',
  infer: ([a]) => [a!],
  cpu: ([a, b]) => [Float32Array.from(a!.data, (v, i) => v + Number(b!.data[i]))],
  grad: ({ dy: [dy] }) => [dy, dy],
};
const times: Kernel<void> = {
  name: 'test.times',
  infer: ([a]) => [a!],
  cpu: ([a, b]) => [Float32Array.from(a!.data, (v, i) => v * Number(b!.data[i]))],
  grad: ({ dy: [dy], inputs: [a, b] }) => [mul(dy!, b!), mul(dy!, a!)],
};
const noGrad: Kernel<void> = {
  name: 'test.noGrad',
  infer: ([x]) => [x!],
  cpu: ([x]) => [Float32Array.from(x!.data)],
};
const wrongGrad: Kernel<void> = {
  name: 'test.wrongGrad',
  infer: ([x]) => [x!],
  cpu: ([x]) => [Float32Array.from(x!.data)],
  grad: ({ inputs: [x] }) => [full([x!.size + 1], 0, { backend: x!.backend })],
};
// Integer results (an argmax, a comparison) and a kernel that reads them, neither with a rule.
const floorToInt: Kernel<void> = {
  name: 'test.floorToInt',
  infer: ([x]) => [{ shape: x!.shape, dtype: 'i32' }],
  cpu: ([x]) => [Int32Array.from(x!.data, (v) => Math.floor(v))],
};
const intToFloat: Kernel<void> = {
  name: 'test.intToFloat',
  infer: ([x]) => [{ shape: x!.shape, dtype: 'f32' }],
  cpu: ([x]) => [Float32Array.from(x!.data)],
};
const sumAll = (x: Tensor) => run1Test(total, x);
const sq = (x: Tensor) => run1Test(square, x);
const plusOp = (a: Tensor, b: Tensor) => run1Test(plus, a, b);
const timesOp = (a: Tensor, b: Tensor) => run1Test(times, a, b);

describe('valueAndGrad', () => {
  test('value and gradient of sum(x^2 * w) for a params record', async () => {
    const x = t([1, -2, 3]);
    const w = t([0.5, 2, -1]);
    const { value, grads } = valueAndGrad(() => sumAll(timesOp(sq(x), w)), { x, w });
    expect(await value.item()).toBeCloseTo(0.5 + 8 - 9, 6);
    expect(await read(grads.x)).toEqual([1, -8, -6]); // 2 x w
    expect(await read(grads.w)).toEqual([1, 4, 9]); // x^2
    for (const v of [x, w, value, grads.x, grads.w]) v.dispose();
  });

  test('arrays and nested trees keep their structure', async () => {
    const a = t([2, 3], [1, 2]);
    const b = t([3, 4], [1, 2]);
    const { value, grads } = valueAndGrad(() => sumAll(timesOp(sq(a), b)), [a, { inner: [b] }] as const);
    expect(await value.item()).toBe(48);
    expect(grads[1].inner[0].shape).toEqual([1, 2]);
    expect(await read(grads[0])).toEqual([12, 24]);
    expect(await read(grads[1].inner[0])).toEqual([4, 9]);
    for (const v of [a, b, value, grads[0], grads[1].inner[0]]) v.dispose();
  });

  test('gradients add up where a tensor feeds several ops, and where a rule returns dy twice', async () => {
    const x = t([1, 2]);
    // d/dx sum(x^2 + x + x) = 2x + 2
    const r1 = valueAndGrad(() => sumAll(plusOp(plusOp(sq(x), x), x)), [x]);
    expect(await read(r1.grads[0]!)).toEqual([4, 6]);
    // plus(x, x): the rule returns the same dy for both inputs, which are the same tensor.
    const r2 = valueAndGrad(() => sumAll(plusOp(x, x)), [x]);
    expect(await read(r2.grads[0]!)).toEqual([2, 2]);
    for (const v of [x, r1.value, r2.value, ...r1.grads, ...r2.grads]) v.dispose();
  });

  test('params the loss does not reach get zeros and are listed; the loss itself may be a param', async () => {
    const x = t([1, 2]);
    const unused = t([5, 6, 7]);
    const { value, grads, unreached } = valueAndGrad(() => sumAll(x), { x, unused });
    expect(await read(grads.unused)).toEqual([0, 0, 0]);
    expect(await read(grads.x)).toEqual([1, 1]);
    expect(unreached).toEqual(['unused']);
    // Reached only through stopGradient: no gradient either (PyTorch: grad None after detach).
    const held = t([5, 6]);
    const r1 = valueAndGrad(() => sumAll(plusOp(x, stopGradient(sq(held)))), { x, inner: { held } });
    expect(r1.unreached).toEqual(['inner.held']);
    for (const v of [held, r1.value, r1.grads.x, r1.grads.inner.held]) v.dispose();
    const s = t([4], []);
    const r = valueAndGrad(() => s, [s]);
    expect(await read(r.grads[0]!)).toEqual([1]);
    // value is a view the caller owns: disposing it leaves the param alone.
    expect(r.value).not.toBe(s);
    r.value.dispose();
    r.grads[0]!.dispose();
    expect(await read(s)).toEqual([4]);
    for (const v of [x, unused, value, grads.x, grads.unused, s]) v.dispose();
  });

  test('grad() returns only the gradients and frees the value', async () => {
    const x = t([1, 2]);
    const before = backend.stats().liveTensors;
    const g = grad(() => sumAll(sq(x)), { x });
    expect(backend.stats().liveTensors - before).toBe(1);
    expect(await read(g.x)).toEqual([2, 4]);
    for (const v of [x, g.x]) v.dispose();
  });

  test('frees every intermediate and leaves nothing tracked', async () => {
    const x = t([1, 2, 3]);
    const w = t([3, 2, 1]);
    const before = backend.stats();
    const { value, grads } = valueAndGrad(() => sumAll(timesOp(sq(plusOp(x, w)), w)), { x, w });
    const after = backend.stats();
    expect(after.liveTensors - before.liveTensors).toBe(3); // value and two gradients
    expect(after.liveBuffers - before.liveBuffers).toBe(3);
    expect([x.tracked, w.tracked, value.tracked, grads.x.tracked, grads.w.tracked]).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    // A later op on the params is not recorded anywhere.
    const y = mul(x, w);
    expect(y.tracked).toBe(false);
    for (const v of [x, w, y, value, grads.x, grads.w]) v.dispose();
  });

  test('tidy() inside f does not free tensors the backward pass needs', async () => {
    const x = t([1, -3]);
    const w = t([2, 2]);
    const { value, grads } = tidy(() =>
      valueAndGrad(
        () => {
          // sq(h) needs h in its gradient; h is made in an inner scope that ends before backward.
          const h = tidy(() => timesOp(timesOp(x, w), full([2], 1, { backend })));
          return sumAll(tidy(() => sq(h)));
        },
        { x },
      ),
    );
    expect(await read(grads.x)).toEqual([8, -24]); // 2 (x w) w
    expect(await value.item()).toBe(40);
    for (const v of [x, w, value, grads.x]) v.dispose();
  });

  test('tensors kept inside f survive; the rest of f is freed', async () => {
    const x = t([1, 2]);
    let logits: Tensor | undefined;
    const before = backend.stats().liveTensors;
    const { value, grads } = valueAndGrad(() => {
      logits = keep(sq(x));
      return sumAll(logits);
    }, [x]);
    expect(backend.stats().liveTensors - before).toBe(3);
    expect(await read(logits!)).toEqual([1, 4]);
    expect(logits!.tracked).toBe(false);
    for (const v of [x, value, logits!, ...grads]) v.dispose();
  });

  test('integer outputs of tracked tensors are constants: kernels reading them need no rule', async () => {
    const x = t([1.5, -0.5, 2.25]);
    let ints: Tensor | undefined;
    // d/dx sum(x * floor(x)) with floor(x) a constant (as PyTorch treats an argmax): floor(x).
    const { value, grads, unreached } = valueAndGrad(
      () => {
        ints = run1Test(floorToInt, x);
        expect(ints.tracked).toBe(false);
        return sumAll(timesOp(x, run1Test(intToFloat, ints)));
      },
      { x },
    );
    expect(await read(grads.x)).toEqual([1, -1, 2]);
    expect(await value.item()).toBe(1.5 - -0.5 + 4.5);
    expect(unreached).toEqual([]);
    // A loss that depends on x only through integers does not reach x.
    const r = valueAndGrad(() => sumAll(run1Test(intToFloat, run1Test(floorToInt, x))), { x });
    expect(r.unreached).toEqual(['x']);
    for (const v of [x, value, grads.x, r.value, r.grads.x]) v.dispose();
  });

  test('stopGradient blocks the gradient and hides kernels without rules', async () => {
    const x = t([1, 2]);
    const r = valueAndGrad(() => sumAll(timesOp(sq(x), stopGradient(sq(x)))), [x]);
    // d/dx (x^2 * c) with c = x^2 held constant: 2 x c = 2 x^3
    expect(await read(r.grads[0]!)).toEqual([2, 16]);
    const r2 = valueAndGrad(() => sumAll(plusOp(x, stopGradient(run1Test(noGrad, x)))), [x]);
    expect(await read(r2.grads[0]!)).toEqual([1, 1]);
    for (const v of [x, r.value, r2.value, ...r.grads, ...r2.grads]) v.dispose();
  });

  test('errors: non-scalar loss, non-tensor result, missing rule, bad rule, nesting, bad params', () => {
    const x = t([1, 2]);
    const live = backend.stats().liveTensors;
    expect(() => valueAndGrad(() => sq(x), [x])).toThrow(
      'valueAndGrad: f must return a scalar (single-element) loss, got f32[2]; reduce it first',
    );
    expect(() => valueAndGrad(() => 3 as unknown as Tensor, [x])).toThrow(
      'valueAndGrad: f must return the loss as a Tensor (got number)',
    );
    expect(() => valueAndGrad(() => sumAll(run1Test(noGrad, x)), [x])).toThrow(
      "valueAndGrad: kernel 'test.noGrad' has no gradient rule, but the loss depends on its output through input 0 f32[2]",
    );
    expect(() => valueAndGrad(() => sumAll(run1Test(wrongGrad, x)), [x])).toThrow(
      "valueAndGrad: the gradient rule of kernel 'test.wrongGrad' returned f32[3] on cpu for input 0, which is f32[2] on cpu",
    );
    expect(() =>
      valueAndGrad(() => sumAll(timesOp(x, valueAndGrad(() => sumAll(x), [x]).value)), [x]),
    ).toThrow('nested valueAndGrad (higher-order gradients) is not supported');
    expect(() => valueAndGrad(() => sumAll(x), { a: x, b: x })).toThrow(
      "params 'a' and 'b' are the same tensor",
    );
    // A dotted key and nested keys spell one path: their gradients would be swapped.
    const y = t([3]);
    expect(() => valueAndGrad(() => sumAll(x), { a: { b: x }, 'a.b': y })).toThrow(
      "valueAndGrad: two params have the key path 'a.b'",
    );
    expect(() => valueAndGrad(() => sumAll(x), { a: [x], 'a.0': y })).toThrow("key path 'a.0'");
    y.dispose();
    const ids = tensor(new Int32Array([1]), [1], { backend });
    expect(() => valueAndGrad(() => sumAll(x), { x, ids })).toThrow(
      "valueAndGrad: param 'ids' is i32[1]; gradients need f32 params",
    );
    expect(() => valueAndGrad(() => sumAll(x), { x: 'no' } as never)).toThrow(
      `valueAndGrad: params entry 'x' must be a Tensor, an array or a plain object of tensors (got the string "no")`,
    );
    // Failures clean up: nothing leaked, nothing left tracked, and the next call works.
    expect(backend.stats().liveTensors).toBe(live + 1);
    expect(x.tracked).toBe(false);
    const r = valueAndGrad(() => sumAll(x), [x]);
    for (const v of [x, ids, r.value, ...r.grads]) v.dispose();
  });

  test('a tensor disposed inside f is named when backward needs it', () => {
    const x = t([1, 2]);
    expect(() =>
      valueAndGrad(() => {
        const h = timesOp(x, x);
        const y = sumAll(sq(h));
        h.dispose();
        return y;
      }, [x]),
    ).toThrow(
      /kernel 'test.square' needs tensor #\d+ f32\[2\], which was disposed while the gradient was being recorded/,
    );
    x.dispose();
  });
});
