// Gradient checks: the autograd gradient of a function against central finite differences.
import type { Backend } from '../backend.js';
import { full, tensor } from '../create.js';
import { checkTensor } from '../checkTensor.js';
import { describeValue } from '../describeValue.js';
import { tidy } from '../engine.js';
import { showValue } from '../shape.js';
import { Tensor } from '../tensor.js';
import { backward, record, untrack } from './backprop.js';

/**
 * Options of {@link gradCheck}.
 *
 * @example
 * ```ts
 * const options: GradCheckOptions = { eps: 1e-3, rtol: 5e-2, wrt: [0, 1], numericBackend: cpu };
 * ```
 */
export interface GradCheckOptions {
  /** Finite-difference step (default 1e-2, which suits f32 inputs of magnitude ~1). */
  readonly eps?: number;
  /** Relative tolerance (default 1e-2). */
  readonly rtol?: number;
  /** Absolute tolerance (default 1e-3). */
  readonly atol?: number;
  /** Indexes of the inputs to differentiate (default: every f32 input). */
  readonly wrt?: readonly number[];
  /** Seed of the random output weights the outputs are reduced with (default 1). */
  readonly seed?: number;
  /**
   * Computes the finite differences on this backend (e.g. a CPU backend) instead of the inputs'
   * one. The many small forward passes are much cheaper there, and the forward kernels of both
   * backends are checked against each other by the kernel tests; autograd still runs on the inputs'
   * backend.
   */
  readonly numericBackend?: Backend;
}

/**
 * One differentiated input of a {@link GradCheckResult}: both gradients of `sum(w * f)`.
 *
 * @example
 * ```ts
 * const { analytic, numeric } = (await gradCheck(f, [x])).inputs[0]!;
 * ```
 */
export interface GradCheckInput {
  readonly input: number;
  readonly analytic: Float32Array;
  readonly numeric: Float64Array;
}

/**
 * What {@link gradCheck} found.
 *
 * @example
 * ```ts
 * const result: GradCheckResult = await gradCheck((a, b) => matmul(a, b), [a, b]);
 * expect(result.ok, result.message).toBe(true);
 * ```
 */
export interface GradCheckResult {
  /** Every element is within `atol + rtol * |numeric|`. */
  readonly ok: boolean;
  /** Largest `|analytic - numeric|`. */
  readonly maxAbsError: number;
  /** The worst element, or `ok` with the error; for assertion messages. */
  readonly message: string;
  readonly inputs: readonly GradCheckInput[];
}

/**
 * Checks the autograd gradient of `f` at `inputs` against central finite differences computed
 * in f32 on the inputs' backend. A non-scalar output is reduced to `sum(w * f(...))` with fixed
 * random weights `w`, so one backward pass checks every output. Needs `2 * size` forward passes per
 * differentiated input: keep inputs small. Inputs should sit away from kinks (relu at 0, ties of
 * max). Frees everything it creates.
 *
 * @example
 * ```ts
 * const x = tensor([0.3, -1.2, 2], [3], { backend });
 * const r = await gradCheck((a) => mul(a, a), [x]);
 * if (!r.ok) throw new Error(r.message);
 * ```
 */
export async function gradCheck(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options: GradCheckOptions = {},
): Promise<GradCheckResult> {
  checkArguments(f, inputs, options);
  const { eps = 1e-2, rtol = 1e-2, atol = 1e-3, seed = 1 } = options;
  const wrt = options.wrt ?? inputs.flatMap((t, i) => (t.dtype === 'f32' ? [i] : []));
  for (const i of wrt) {
    const t = inputs[i];
    if (!(t instanceof Tensor))
      throw new RangeError(`gradCheck: wrt names input ${i}, but there are ${inputs.length} inputs`);
    if (t.dtype !== 'f32')
      throw new TypeError(`gradCheck: input ${i} is ${t.describe()}; only f32 inputs can be differentiated`);
  }
  const call = (xs: readonly Tensor[]): Tensor => {
    const y = f(...xs);
    if (!(y instanceof Tensor) || y.dtype !== 'f32') {
      throw new TypeError(
        `gradCheck: f must return an f32 Tensor (got ${y instanceof Tensor ? y.describe() : typeof y})`,
      );
    }
    return y;
  };

  let weights: Float32Array | undefined;
  const analyticTensors = tidy(() => {
    const wrtTensors = wrt.map((i) => inputs[i]!);
    const { tape, result: y } = record('gradCheck', wrtTensors, () => call(inputs));
    try {
      weights = randomWeights(y.size, seed);
      const seedGrad = tensor(weights, y.shape, { backend: y.backend });
      const grads = backward('gradCheck', tape, new Map([[y, seedGrad]]), wrtTensors);
      return grads.map((g, k) => g ?? full(wrtTensors[k]!.shape, 0, { backend: wrtTensors[k]!.backend }));
    } finally {
      untrack(tape, wrtTensors);
    }
  });
  const analytic = await Promise.all(analyticTensors.map((g) => g.read() as Promise<Float32Array>));
  for (const g of analyticTensors) g.dispose();
  const w = weights!;

  const numericBackend = options.numericBackend;
  const numericInputs = numericBackend
    ? await Promise.all(inputs.map((t) => toBackendCopy(t, numericBackend)))
    : inputs;
  const checked: GradCheckInput[] = [];
  let ok = true;
  let maxAbsError = 0;
  let worst = { ratio: -1, text: '' };
  for (const [k, i] of wrt.entries()) {
    const x = inputs[i]!;
    const base = (await x.read()) as Float32Array;
    const numeric = await finiteDifferences(call, numericInputs, i, base, eps, w);
    const a = analytic[k]!;
    for (let e = 0; e < base.length; e++) {
      const err = Math.abs(a[e]! - numeric[e]!);
      const tol = atol + rtol * Math.abs(numeric[e]!);
      const ratio = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err / tol;
      if (!(err <= tol)) ok = false;
      if (!Number.isNaN(err)) maxAbsError = Math.max(maxAbsError, err);
      if (ratio > worst.ratio) {
        worst = {
          ratio,
          text: `input ${i} ${x.describe()} element ${e}: analytic ${a[e]}, numeric ${numeric[e]} (|diff| ${err.toExponential(2)}, tolerance ${tol.toExponential(2)})`,
        };
      }
    }
    checked.push({ input: i, analytic: a, numeric });
  }
  if (numericBackend) for (const t of numericInputs) t.dispose();
  const message = ok
    ? `gradCheck ok (max abs error ${maxAbsError.toExponential(2)})`
    : `gradCheck failed: worst at ${worst.text}`;
  return { ok, maxAbsError, message, inputs: checked };
}

/** Throws naming gradCheck and the argument (or option) that is wrong, before any work. */
function checkArguments(f: unknown, inputs: unknown, options: unknown): asserts options is GradCheckOptions {
  if (typeof f !== 'function')
    throw new TypeError(`gradCheck: f must be a function of the inputs, got ${describeValue(f)}`);
  if (!Array.isArray(inputs))
    throw new TypeError(`gradCheck: inputs must be an array of tensors, got ${describeValue(inputs)}`);
  for (const [i, t] of inputs.entries()) checkTensor(t, 'gradCheck', `inputs[${i}]`);
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`gradCheck: options must be an object, got ${describeValue(options)}`);
  const o = options as GradCheckOptions;
  const number = (key: 'eps' | 'rtol' | 'atol' | 'seed', range: '' | ' > 0' | ' >= 0'): void => {
    const v: unknown = o[key];
    if (v === undefined) return;
    const fits =
      typeof v === 'number' && Number.isFinite(v) && (range === ' > 0' ? v > 0 : range === '' || v >= 0);
    if (!fits)
      throw new RangeError(`gradCheck: options.${key} must be a finite number${range}, got ${showValue(v)}`);
  };
  number('eps', ' > 0'); // a step of 0 divides by 0
  number('rtol', ' >= 0');
  number('atol', ' >= 0');
  number('seed', '');
  if (o.wrt !== undefined && !Array.isArray(o.wrt))
    throw new TypeError(`gradCheck: options.wrt must be an array of input indexes, got ${showValue(o.wrt)}`);
}

/** A copy of `t` on `backend` (always a new tensor, so it can be disposed). */
async function toBackendCopy(t: Tensor, backend: Backend): Promise<Tensor> {
  return tensor(await t.read(), t.shape, { backend, dtype: t.dtype });
}

/** d(sum(w * f))/dx[e] for each element e of input `i` by central differences. */
async function finiteDifferences(
  call: (xs: readonly Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  i: number,
  base: Float32Array,
  eps: number,
  w: Float32Array,
): Promise<Float64Array> {
  const x = inputs[i]!;
  const steps: number[] = [];
  // Every perturbed forward pass is queued before any is read, so the device works meanwhile.
  const outputs = tidy(() => {
    const outs: Tensor[] = [];
    for (let e = 0; e < base.length; e++) {
      const v = base[e]!;
      const up = Math.fround(v + eps);
      const down = Math.fround(v - eps);
      steps.push(up - down);
      for (const value of [up, down]) {
        const data = base.slice();
        data[e] = value;
        const xs = [...inputs];
        xs[i] = tensor(data, x.shape, { backend: x.backend });
        outs.push(call(xs));
      }
    }
    return outs;
  });
  const values = await Promise.all(outputs.map((o) => o.read()));
  for (const o of outputs) o.dispose();
  const numeric = new Float64Array(base.length);
  for (let e = 0; e < base.length; e++) {
    numeric[e] = (dot(values[2 * e]!, w) - dot(values[2 * e + 1]!, w)) / steps[e]!;
  }
  return numeric;
}

function dot(a: ArrayLike<number>, b: Float32Array): number {
  let s = 0;
  for (let j = 0; j < b.length; j++) s += a[j]! * b[j]!;
  return s;
}

/** Fixed pseudo-random weights in [-1, 1] (mulberry32), so a check is reproducible. */
function randomWeights(n: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  });
}
