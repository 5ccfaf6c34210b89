import {
  AdamW,
  type Backend,
  type Tensor,
  argmax,
  checkOptionKeys,
  crossEntropy,
  keep,
  matmul,
  randomNormal,
  tensor,
  tidy,
  valueAndGrad,
  yieldToEventLoop,
  zeros,
} from '@vl/tensor';
import { describeInput } from '../task/describeInput.js';

// Milliseconds of training between two turns of the event loop, and the most steps between two.
// The step cap makes a short run yield too (cheap: a yield costs microseconds), so timers, input and
// an abort are never held up by more than a few steps.
const YIELD_AFTER_MS = 50;
const YIELD_AFTER_STEPS = 16;

/** An array or typed array (not a string, an ArrayBuffer or a DataView). */
function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

/** `features must be an array of rows (got ...)`, with a hint when one row came unwrapped. */
function notRows(what: string, rows: unknown): TypeError {
  const hint = ArrayBuffer.isView(rows) ? '; wrap one row in [ ]' : '';
  return new TypeError(`${what}: features must be an array of rows (got ${describeInput(rows)}${hint})`);
}

/**
 * Copies rows of `D` numbers into a `[rows, D]` float32 array, naming a row of another length or
 * with a value that is not finite.
 */
function flatRows(
  rows: readonly ArrayLike<number>[],
  D: number,
  what: string,
  expected: string,
): Float32Array {
  if (!Array.isArray(rows)) throw notRows(what, rows);
  const flat = new Float32Array(rows.length * D);
  // A for loop, not forEach: a hole in a sparse array is a missing row (forEach skipped it, and it
  // trained as zeros).
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!isArrayLike(row))
      throw new TypeError(`${what}: row ${i} is ${describeInput(row)}, not an array of numbers`);
    if (row.length !== D) throw new RangeError(`${what}: row ${i} has ${row.length} values, ${expected}`);
    for (let j = 0; j < D; j++) {
      const v = row[j];
      flat[i * D + j] = v as number;
      if (typeof v !== 'number' || !Number.isFinite(flat[i * D + j]))
        throw new RangeError(
          `${what}: row ${i} has ${typeof v === 'number' ? v : describeInput(v)} at index ${j}, not a finite float32`,
        );
    }
  }
  return flat;
}

function checkOption(ok: boolean, name: string, rule: string, value: unknown): void {
  if (!ok) throw new RangeError(`linearProbe: ${name} must be ${rule}, got ${String(value)}`);
}

/**
 * Options for {@link linearProbe}; any other key throws a TypeError that lists these.
 *
 * @example
 * ```ts
 * const options: LinearProbeOptions = {
 *   backend,
 *   signal: AbortSignal.timeout(60_000),
 *   onProgress: ({ step, steps }) => bar.update(step / steps),
 * };
 * ```
 */
export interface LinearProbeOptions {
  backend: Backend;
  /** Full-batch optimizer steps, an integer >= 1 (default 300). */
  steps?: number;
  /** Learning rate, > 0 (default 0.05). */
  lr?: number;
  /** L2 regularization as decoupled weight decay, >= 0 (default 1e-4). */
  weightDecay?: number;
  /** Seed of the initial weights, a safe integer (default 0). */
  seed?: number;
  /** Stops training: the promise rejects with the signal's reason, and nothing is left allocated. */
  signal?: AbortSignal;
  /**
   * Called after every step with the steps done (1 after the first) and the total. There is no loss:
   * reading it back would cost a GPU round trip per step.
   */
  onProgress?: (progress: { step: number; steps: number }) => void;
}

/** A trained linear classifier over frozen embeddings. */
export interface LinearProbe {
  /** `[D, classes]` */
  weight: Tensor;
  /** `[classes]` */
  bias: Tensor;
  /**
   * Predicted class per row of features (an array of rows, each of the trained length); throws after
   * {@link LinearProbe.dispose}.
   */
  predict(features: readonly ArrayLike<number>[]): Promise<number[]>;
  /** Frees `weight` and `bias`. */
  dispose(): void;
}

/**
 * Trains a multinomial logistic-regression classifier on frozen features (the CLIP paper's
 * linear-probe evaluation), with full-batch AdamW on the cross-entropy. `features` is an array of
 * rows (arrays or typed arrays) of one length and finite values; `labels` is an array or typed array
 * (copied, never modified) of integers in [0, classes), one per row; `classes` is an integer >= 1.
 *
 * Training gives the event loop a turn every few steps (timers, input, painting, an abort run), calls
 * `onProgress` after each step, and on an abort of `signal` rejects with its reason, freeing
 * everything it allocated.
 *
 * @example
 * ```ts
 * const probe = await linearProbe(await clip.embedImages(trainImages), trainLabels, 10, { backend });
 * const predicted = await probe.predict(await clip.embedImages(testImages));
 * probe.dispose();
 * ```
 */
export async function linearProbe(
  features: readonly ArrayLike<number>[],
  labels: ArrayLike<number>,
  classes: number,
  options: LinearProbeOptions,
): Promise<LinearProbe> {
  checkOptionKeys('linearProbe', options, [
    'backend',
    'steps',
    'lr',
    'weightDecay',
    'seed',
    'signal',
    'onProgress',
  ]);
  const { backend, steps = 300, lr = 0.05, weightDecay = 1e-4, seed = 0, signal, onProgress } = options;
  checkOption(Number.isInteger(steps) && steps >= 1, 'steps', 'an integer >= 1', steps);
  checkOption(Number.isInteger(classes) && classes >= 1, 'classes', 'an integer >= 1', classes);
  checkOption(Number.isFinite(lr) && lr > 0, 'lr', 'a finite number > 0', lr);
  checkOption(
    Number.isFinite(weightDecay) && weightDecay >= 0,
    'weightDecay',
    'a finite number >= 0',
    weightDecay,
  );
  checkOption(Number.isSafeInteger(seed), 'seed', 'a safe integer', seed);
  // Else tensor() said its own name ("options.backend is required") for the missing option.
  checkOption(
    typeof backend === 'object' && backend !== null && typeof backend.upload === 'function',
    'backend',
    'a Backend from createBackend()',
    backend,
  );
  if (!Array.isArray(features)) throw notRows('linearProbe', features);
  if (features.length === 0) throw new RangeError('linearProbe: no features given');
  if (!isArrayLike(labels)) {
    throw new TypeError(
      `linearProbe: labels must be an array or typed array of class ids, got ${describeInput(labels)}`,
    );
  }
  if (features.length !== labels.length)
    throw new RangeError(`linearProbe: ${features.length} feature rows but ${labels.length} labels`);
  const D = isArrayLike(features[0]) ? features[0].length : 0;
  if (D === 0 && isArrayLike(features[0]))
    throw new RangeError(`linearProbe: row 0 has ${D} values, at least 1 is needed`);
  const y32 = new Int32Array(labels.length); // a copy: the caller's labels stay as they are
  for (let i = 0; i < labels.length; i++) {
    const l: unknown = labels[i];
    if (typeof l !== 'number' || !Number.isInteger(l) || l < 0 || l >= classes) {
      const shown = typeof l === 'number' ? String(l) : describeInput(l);
      throw new RangeError(`linearProbe: label ${shown} at row ${i} is not an integer in [0, ${classes})`);
    }
    y32[i] = l;
  }
  const flat = flatRows(features, D, 'linearProbe', `row 0 has ${D}`);
  signal?.throwIfAborted();
  const x = tensor(flat, [features.length, D], { backend }); // [N, D]
  const y = tensor(y32, [labels.length], { backend }); // [N]
  const params = {
    weight: randomNormal([D, classes], { backend, seed, std: 0.01 }),
    bias: zeros([classes], { backend }),
  };
  const opt = new AdamW({ lr, weightDecay });
  let yieldedAt = performance.now();
  let sinceYield = 0;
  try {
    for (let i = 0; i < steps; i++) {
      if (++sinceYield > YIELD_AFTER_STEPS || performance.now() - yieldedAt >= YIELD_AFTER_MS) {
        await yieldToEventLoop();
        signal?.throwIfAborted();
        yieldedAt = performance.now();
        sinceYield = 1;
      }
      tidy(() => {
        const { grads } = valueAndGrad(
          () => crossEntropy(matmul(x, params.weight, { bias: params.bias }), y),
          params,
        );
        opt.step(params, grads);
        return undefined;
      });
      onProgress?.({ step: i + 1, steps });
    }
  } catch (e) {
    params.weight.dispose();
    params.bias.dispose();
    throw e;
  } finally {
    opt.dispose();
    x.dispose();
    y.dispose();
  }
  let disposed = false;
  return {
    weight: params.weight,
    bias: params.bias,
    async predict(rows) {
      if (disposed) throw new Error('linearProbe: predict() after dispose()');
      const data = flatRows(rows, D, 'linearProbe.predict', `the probe was trained on ${D}`);
      if (rows.length === 0) return [];
      const pred = tidy(() =>
        keep(
          argmax(
            matmul(tensor(data, [rows.length, D], { backend }), params.weight, { bias: params.bias }),
            -1,
          ),
        ),
      );
      const out = Array.from(await pred.read());
      pred.dispose();
      return out;
    },
    dispose() {
      disposed = true;
      params.weight.dispose();
      params.bias.dispose();
    },
  };
}
