import {
  AdamW,
  type Backend,
  type Tensor,
  argmax,
  crossEntropy,
  keep,
  matmul,
  randomNormal,
  tensor,
  tidy,
  valueAndGrad,
  zeros,
} from '@vl/tensor';

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
  if (!Array.isArray(rows))
    throw new TypeError(`${what}: features must be an array of rows, got ${String(rows)}`);
  const flat = new Float32Array(rows.length * D);
  rows.forEach((row, i) => {
    if (row?.length !== D) throw new RangeError(`${what}: row ${i} has ${row?.length} values, ${expected}`);
    for (let j = 0; j < D; j++) {
      flat[i * D + j] = row[j]!;
      if (!Number.isFinite(flat[i * D + j]))
        throw new RangeError(`${what}: row ${i} has ${row[j]} at index ${j}, not a finite float32`);
    }
  });
  return flat;
}

function checkOption(ok: boolean, name: string, rule: string, value: unknown): void {
  if (!ok) throw new RangeError(`linearProbe: ${name} must be ${rule}, got ${String(value)}`);
}

/** Options for {@link linearProbe}. */
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
}

/** A trained linear classifier over frozen embeddings. */
export interface LinearProbe {
  /** `[D, classes]` */
  weight: Tensor;
  /** `[classes]` */
  bias: Tensor;
  /** Predicted class per row of features. */
  predict(features: readonly ArrayLike<number>[]): Promise<number[]>;
  dispose(): void;
}

/**
 * Trains a multinomial logistic-regression classifier on frozen features (the CLIP paper's
 * linear-probe evaluation), with full-batch AdamW on the cross-entropy. The feature rows must have
 * one length and finite values; `classes` is an integer >= 1 and each label is in [0, classes).
 *
 * @example
 * ```ts
 * const probe = await linearProbe(await clip.embedImages(trainImages), trainLabels, 10, { backend });
 * const predicted = await probe.predict(await clip.embedImages(testImages));
 * ```
 */
export async function linearProbe(
  features: readonly ArrayLike<number>[],
  labels: readonly number[],
  classes: number,
  options: LinearProbeOptions,
): Promise<LinearProbe> {
  const { backend, steps = 300, lr = 0.05, weightDecay = 1e-4, seed = 0 } = options;
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
  if (!Array.isArray(features) || features.length === 0)
    throw new RangeError('linearProbe: no features given');
  if (!Array.isArray(labels) || features.length !== labels.length) {
    throw new RangeError(`linearProbe: ${features.length} feature rows but ${labels?.length} labels`);
  }
  const D = features[0]?.length ?? 0;
  if (!(D >= 1)) throw new RangeError(`linearProbe: row 0 has ${D} values, at least 1 is needed`);
  const bad = labels.findIndex((l) => !Number.isInteger(l) || l < 0 || l >= classes);
  if (bad >= 0)
    throw new RangeError(`linearProbe: label ${labels[bad]} at row ${bad} is outside [0, ${classes})`);
  const flat = flatRows(features, D, 'linearProbe', `row 0 has ${D}`);
  const x = tensor(flat, [features.length, D], { backend }); // [N, D]
  const y = tensor(Int32Array.from(labels), [labels.length], { backend }); // [N]
  const params = {
    weight: randomNormal([D, classes], { backend, seed, std: 0.01 }),
    bias: zeros([classes], { backend }),
  };
  const opt = new AdamW({ lr, weightDecay });
  try {
    for (let i = 0; i < steps; i++) {
      tidy(() => {
        const { grads } = valueAndGrad(
          () => crossEntropy(matmul(x, params.weight, { bias: params.bias }), y),
          params,
        );
        opt.step(params, grads);
        return undefined;
      });
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
  return {
    weight: params.weight,
    bias: params.bias,
    async predict(rows) {
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
      params.weight.dispose();
      params.bias.dispose();
    },
  };
}
