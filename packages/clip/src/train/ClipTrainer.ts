import {
  AdamW,
  type AdamWOptions,
  Tensor,
  clamp,
  clipGradNorm,
  isBiasOrNorm,
  keep,
  tidy,
  valueAndGrad,
} from '@vl/tensor';
import { clipLogits, clipLoss, getImageFeatures, getTextFeatures, l2Normalize } from '../model/clipModel.js';
import type { ClipConfig } from '../model/config.js';

/** One contrastive batch: matching image/text pairs at the same row. */
export interface ClipBatch {
  /** Normalized pixels `[B, 3, S, S]`. */
  pixelValues: Tensor;
  /** i32 `[B, T]`. */
  inputIds: Tensor;
  /** `[B, T]`, 1 for real tokens. */
  attentionMask?: Tensor;
}

/** Options for {@link ClipTrainer}. */
export interface ClipTrainerOptions extends AdamWOptions {
  /** Clip the global gradient norm to this, > 0 (default 1; `Infinity` disables). */
  maxGradNorm?: number;
}

/** Names the batch's tensors when they do not agree on the batch size `B`. */
function checkBatchSizes(batch: ClipBatch): void {
  const named = Object.entries({
    pixelValues: batch.pixelValues,
    inputIds: batch.inputIds,
    attentionMask: batch.attentionMask,
  }).filter((entry): entry is [string, Tensor] => entry[1] instanceof Tensor);
  const [first, ...rest] = named;
  for (const [name, t] of rest) {
    if (t.shape[0] !== first![1].shape[0]) {
      throw new RangeError(
        `ClipTrainer: the batch's tensors differ in batch size: ${first![0]} ${first![1].describe()}, ${name} ${t.describe()}`,
      );
    }
  }
}

/**
 * `ln(100)`: CLIP clamps the learned temperature so logits are scaled by at most 100.
 * {@link ClipTrainer} clamps the `logit_scale` parameter to it after every step.
 *
 * @example
 * ```ts
 * Math.exp(MAX_LOGIT_SCALE); // ~100
 * const scale = await trainer.params.get('logit_scale')!.item(); // <= MAX_LOGIT_SCALE
 * ```
 */
export const MAX_LOGIT_SCALE = Math.log(100);

/**
 * Contrastive training of CLIP parameters with AdamW (no weight decay on biases and norms),
 * gradient clipping, and the logit scale clamped at ln(100) after every step, as in the paper.
 * The trainer owns `params` from now on: each step replaces their tensors.
 *
 * @example
 * ```ts
 * const trainer = new ClipTrainer(params, config, { lr: 5e-4 });
 * for (const batch of batches) console.log(await trainer.step(batch));
 * trainer.dispose(); // optimizer state; params stay usable via trainer.params
 * ```
 */
export class ClipTrainer {
  readonly #tree: Record<string, Tensor>;
  readonly #opt: AdamW;
  readonly #maxGradNorm: number;

  constructor(
    params: ReadonlyMap<string, Tensor>,
    readonly config: ClipConfig,
    options: ClipTrainerOptions = {},
  ) {
    this.#tree = Object.fromEntries(params);
    const { maxGradNorm = 1, ...adam } = options;
    if (!(maxGradNorm > 0)) throw new RangeError(`ClipTrainer: maxGradNorm must be > 0, got ${maxGradNorm}`);
    this.#maxGradNorm = maxGradNorm;
    this.#opt = new AdamW({ weightDecay: 0.1, groups: [{ match: isBiasOrNorm, weightDecay: 0 }], ...adam });
  }

  /** The current parameters, by checkpoint name. */
  get params(): Map<string, Tensor> {
    return new Map(Object.entries(this.#tree));
  }

  /** Steps taken. */
  get stepCount(): number {
    return this.#opt.stepCount;
  }

  /**
   * The symmetric contrastive loss of a batch under the current parameters; its tensors must agree
   * on the batch size.
   */
  loss(batch: ClipBatch, params: ReadonlyMap<string, Tensor> = this.params): Tensor {
    checkBatchSizes(batch);
    const image = l2Normalize(getImageFeatures(params, batch.pixelValues, this.config)); // [B, P]
    const text = l2Normalize(getTextFeatures(params, batch.inputIds, batch.attentionMask, this.config)); // [B, P]
    const scale = params.get('logit_scale');
    if (!scale) throw new Error('ClipTrainer: the params have no logit_scale');
    return clipLoss(clipLogits(image, text, scale).logitsPerText); // []
  }

  /** One optimizer step; resolves to the batch's loss before the update. */
  async step(batch: ClipBatch): Promise<number> {
    const loss = tidy(() => {
      const { value, grads } = valueAndGrad(
        () => this.loss(batch, new Map(Object.entries(this.#tree))),
        this.#tree,
      );
      if (Number.isFinite(this.#maxGradNorm)) clipGradNorm(grads, this.#maxGradNorm);
      this.#opt.step(this.#tree, grads);
      const scale = this.#tree.logit_scale!;
      this.#tree.logit_scale = keep(clamp(scale, Number.NEGATIVE_INFINITY, MAX_LOGIT_SCALE));
      scale.dispose();
      return value;
    });
    const v = await loss.item();
    loss.dispose();
    return v;
  }

  /** Frees the optimizer state (the params stay with the caller). */
  dispose(): void {
    this.#opt.dispose();
  }
}
