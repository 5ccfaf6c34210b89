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

/** Options for {@link linearProbe}. */
export interface LinearProbeOptions {
  backend: Backend;
  /** Full-batch optimizer steps (default 300). */
  steps?: number;
  /** Learning rate (default 0.05). */
  lr?: number;
  /** L2 regularization as decoupled weight decay (default 1e-4). */
  weightDecay?: number;
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
 * linear-probe evaluation), with full-batch AdamW on the cross-entropy.
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
  const { backend, steps = 300, lr = 0.05, weightDecay = 1e-4 } = options;
  if (features.length === 0) throw new RangeError('linearProbe: no features given');
  if (features.length !== labels.length) {
    throw new RangeError(`linearProbe: ${features.length} feature rows but ${labels.length} labels`);
  }
  const D = features[0]!.length;
  const bad = labels.findIndex((l) => !Number.isInteger(l) || l < 0 || l >= classes);
  if (bad >= 0)
    throw new RangeError(`linearProbe: label ${labels[bad]} at row ${bad} is outside [0, ${classes})`);
  const flat = new Float32Array(features.length * D);
  features.forEach((f, i) => {
    if (f.length !== D) throw new RangeError(`linearProbe: row ${i} has ${f.length} values, row 0 has ${D}`);
    flat.set(Array.from(f), i * D);
  });
  const x = tensor(flat, [features.length, D], { backend }); // [N, D]
  const y = tensor(Int32Array.from(labels), [labels.length], { backend }); // [N]
  const params = {
    weight: randomNormal([D, classes], { backend, seed: options.seed ?? 0, std: 0.01 }),
    bias: zeros([classes], { backend }),
  };
  const opt = new AdamW({ lr, weightDecay });
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
  opt.dispose();
  x.dispose();
  y.dispose();
  return {
    weight: params.weight,
    bias: params.bias,
    async predict(rows) {
      const n = rows.length;
      const data = new Float32Array(n * D);
      for (const [i, r] of rows.entries()) data.set(Array.from(r), i * D);
      const pred = tidy(() =>
        keep(argmax(matmul(tensor(data, [n, D], { backend }), params.weight, { bias: params.bias }), -1)),
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
