// One optimizer step of a training loop, guarded: a batch whose loss or gradient norm is not
// finite (a NaN pixel, an overflow) leaves the weights and the optimizer state as they were,
// instead of turning every weight into NaN for good.
import { describeValue } from '../describeValue.js';
import { tidy } from '../engine.js';
import { checkOptionKeys } from '../kernels/options.js';
import { showValue } from '../shape.js';
import type { Tensor } from '../tensor.js';
import type { AdamW } from './AdamW.js';
import { clipGradNorm, gradNorm } from './clipGradNorm.js';
import { flattenParams, type ParamTree } from './paramTree.js';
import { valueAndGrad } from './valueAndGrad.js';

/** Options for {@link guardedStep}. */
export interface GuardedStepOptions {
  /**
   * Clips the gradients' global norm to this, a number > 0 (default Infinity: no clipping; the norm
   * is still measured).
   */
  maxGradNorm?: number;
  /** Runs inside the update's scope right after it (a clamp of a param, say); not on a skipped batch. */
  afterUpdate?: () => void;
}

/** What {@link guardedStep} measured, and whether it updated. */
export interface GuardedStepResult {
  /** The batch's loss, before the update. */
  loss: number;
  /** The gradients' global L2 norm before clipping. */
  gradNorm: number;
  /** The loss or the norm was not finite: nothing was updated. */
  skipped: boolean;
}

/**
 * Computes `loss()` and its gradients with respect to `params`, clips them to `maxGradNorm`, and
 * applies `optimizer` unless the loss or the gradient norm is not finite (then nothing changes:
 * weights, moments and step count). Intermediates are freed; `params` is updated in place as
 * {@link AdamW.step} does. An unknown option, or a `maxGradNorm` that is not > 0, rejects before
 * any work.
 *
 * @example
 * ```ts
 * const optimizer = new AdamW({ lr: 1e-3 });
 * const { loss, skipped } = await guardedStep(optimizer, params, () => mseLoss(params, batch), { maxGradNorm: 1 });
 * ```
 */
export async function guardedStep<P extends ParamTree>(
  optimizer: AdamW,
  params: P,
  loss: () => Tensor,
  options: GuardedStepOptions = {},
): Promise<GuardedStepResult> {
  if (typeof (optimizer as { step?: unknown } | null)?.step !== 'function')
    throw new TypeError(`guardedStep: optimizer must be an AdamW, got ${describeValue(optimizer)}`);
  flattenParams(params, 'guardedStep'); // throws naming what in params is not a tensor
  if (typeof loss !== 'function')
    throw new TypeError(`guardedStep: loss must be a function () => loss tensor, got ${describeValue(loss)}`);
  // A misspelt key (`maxNorm`) or a NaN limit would train without clipping, without a word.
  checkOptionKeys('guardedStep', options, ['maxGradNorm', 'afterUpdate']);
  const { maxGradNorm = Number.POSITIVE_INFINITY, afterUpdate } = options;
  if (!(typeof maxGradNorm === 'number' && maxGradNorm > 0)) {
    throw new RangeError(
      `guardedStep: maxGradNorm must be > 0 (Infinity for no clipping), got ${showValue(maxGradNorm)}`,
    );
  }
  const { value, norm, grads } = tidy(() => {
    const { value, grads } = valueAndGrad(loss, params);
    const norm = Number.isFinite(maxGradNorm) ? clipGradNorm(grads, maxGradNorm) : gradNorm(grads); // []
    return { value, norm, grads };
  });
  try {
    const [lossValue, normValue] = await Promise.all([value.item(), norm.item()]);
    const skipped = !Number.isFinite(lossValue) || !Number.isFinite(normValue);
    if (!skipped) {
      tidy(() => {
        optimizer.step(params, grads);
        afterUpdate?.();
        return undefined;
      });
    }
    return { loss: lossValue, gradNorm: normValue, skipped };
  } finally {
    value.dispose();
    norm.dispose();
    for (const leaf of flattenParams(grads, 'guardedStep')) leaf.tensor.dispose();
  }
}
