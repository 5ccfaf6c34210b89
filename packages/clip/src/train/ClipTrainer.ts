import {
  AdamW,
  type AdamWOptions,
  type SafetensorsSource,
  Tensor,
  checkOptionKeys,
  clamp,
  guardedStep,
  isBiasOrNorm,
  keep,
  loadOptimizers,
  saveOptimizers,
} from '@vl/tensor';
import { checkConfigArg, checkParamsMap } from '../checkArguments.js';
import { describeInput } from '../task/describeInput.js';
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

/**
 * What one {@link ClipTrainer.step} measured, before the update.
 *
 * @example
 * ```ts
 * const { loss, gradNorm, skipped }: ClipStepResult = await trainer.step(batch);
 * ```
 */
export interface ClipStepResult {
  /** Optimizer steps taken, this one included (a skipped step does not count). */
  step: number;
  /** The batch's contrastive loss. */
  loss: number;
  /** The global L2 norm of the gradients, before clipping. */
  gradNorm: number;
  /** Learning rate of the step. */
  lr: number;
  /**
   * True when the loss or the gradient norm was not finite (a NaN pixel, an overflow): the update
   * was skipped, leaving the weights and the optimizer state as they were.
   */
  skipped: boolean;
}

// Every key ClipTrainerOptions has, so a misspelt one is named with the full list (AdamW alone
// would not list maxGradNorm); the Record type makes tsc flag a key added to the options but not here.
const OPTION_KEYS: Record<keyof ClipTrainerOptions, true> = {
  lr: true,
  betas: true,
  eps: true,
  weightDecay: true,
  groups: true,
  maxGradNorm: true,
};

/** @internal The keys {@link ClipTrainer} accepts in its options. */
export const CLIP_TRAINER_OPTION_KEYS: readonly string[] = Object.keys(OPTION_KEYS);

const BATCH_FIELDS = ['pixelValues', 'inputIds', 'attentionMask'] as const;

/**
 * @internal Throws a TypeError unless `batch` is an object whose `pixelValues` and `inputIds` are
 * live Tensors (and `attentionMask` too, when present). `source` names where the batch came from
 * (`batches(3)`); without it the message says "the batch".
 */
export function checkClipBatch(batch: unknown, op: string, source?: string): asserts batch is ClipBatch {
  if (typeof batch !== 'object' || batch === null || Array.isArray(batch) || batch instanceof Tensor) {
    throw new TypeError(
      `${op}: ${source ? `${source} returned` : 'the batch is'} ${describeInput(batch)}, not a batch ` +
        '(an object { pixelValues, inputIds, attentionMask? } of Tensors)',
    );
  }
  for (const key of BATCH_FIELDS) {
    const value: unknown = (batch as Record<string, unknown>)[key];
    if (key === 'attentionMask' && value === undefined) continue;
    if (value instanceof Tensor && !value.isDisposed) continue;
    throw new TypeError(
      `${op}: ${source ? `${source} returned a batch whose ${key} is` : `the batch's ${key} is`} ` +
        `${describeInput(value)}, not a ${value instanceof Tensor ? 'live ' : ''}Tensor`,
    );
  }
}

/** @internal Disposes whatever Tensors a batch (well formed or not) holds. */
export function disposeBatch(batch: unknown): void {
  if (typeof batch !== 'object' || batch === null) return;
  for (const key of BATCH_FIELDS) {
    const value: unknown = (batch as Record<string, unknown>)[key];
    if (value instanceof Tensor) value.dispose();
  }
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
 * A batch whose loss or gradient norm is not finite is skipped (no update; the result says so),
 * so one bad batch cannot turn the weights into NaN.
 * The trainer owns `params` from now on: each step replaces their tensors.
 *
 * The options are AdamW's (`lr`, `betas`, `eps`, `weightDecay`, `groups`) and `maxGradNorm`; any
 * other key throws a TypeError that lists them. A batch that is not an object with Tensors for
 * `pixelValues` and `inputIds` (and `attentionMask`, when given) throws a TypeError naming the field
 * and what it held.
 *
 * @example
 * ```ts
 * const trainer = new ClipTrainer(params, config, { lr: 5e-4 });
 * for (const batch of batches) console.log((await trainer.step(batch)).loss);
 * trainer.dispose(); // optimizer state; params stay usable via trainer.params
 * ```
 */
export class ClipTrainer {
  readonly #tree: Record<string, Tensor>;
  readonly #opt: AdamW;
  readonly #maxGradNorm: number;
  #disposed = false;

  constructor(
    params: ReadonlyMap<string, Tensor>,
    readonly config: ClipConfig,
    options: ClipTrainerOptions = {},
  ) {
    checkOptionKeys('ClipTrainer', options, CLIP_TRAINER_OPTION_KEYS);
    // Any ReadonlyMap (its entries are read): a plain object failed in Object.fromEntries.
    if (typeof (params as { entries?: unknown } | null)?.entries !== 'function' || Array.isArray(params)) {
      throw new TypeError(
        `ClipTrainer: params must be a Map of tensors by checkpoint name (initClipParams, or a model's params), got ${describeInput(params)}`,
      );
    }
    checkConfigArg('ClipTrainer', config);
    this.#tree = Object.fromEntries(params.entries());
    const { maxGradNorm = 1, ...adam } = options;
    if (!(typeof maxGradNorm === 'number' && maxGradNorm > 0))
      throw new RangeError(
        `ClipTrainer: maxGradNorm must be a number > 0, got ${describeInput(maxGradNorm)}`,
      );
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
    checkClipBatch(batch, 'ClipTrainer.loss');
    checkParamsMap('ClipTrainer.loss', params);
    checkBatchSizes(batch);
    const image = l2Normalize(getImageFeatures(params, batch.pixelValues, this.config)); // [B, P]
    const text = l2Normalize(getTextFeatures(params, batch.inputIds, batch.attentionMask, this.config)); // [B, P]
    const scale = params.get('logit_scale');
    if (!scale) throw new Error('ClipTrainer: the params have no logit_scale');
    return clipLoss(clipLogits(image, text, scale).logitsPerText); // []
  }

  /**
   * One optimizer step (await it before the next); resolves to the batch's loss and gradient norm
   * before the update. A batch whose loss or gradient norm is not finite is skipped: no update,
   * `skipped: true`. A batch that is not `{ pixelValues, inputIds, attentionMask? }` of live Tensors
   * rejects with a TypeError naming the field, before any work.
   *
   * @example
   * ```ts
   * const { loss, skipped } = await trainer.step({ pixelValues, inputIds, attentionMask });
   * ```
   */
  async step(batch: ClipBatch): Promise<ClipStepResult> {
    checkClipBatch(batch, 'ClipTrainer.step');
    const lr = this.#opt.lr;
    const r = await guardedStep(
      this.#opt,
      this.#tree,
      () => this.loss(batch, new Map(Object.entries(this.#tree))),
      {
        maxGradNorm: this.#maxGradNorm,
        afterUpdate: () => {
          const scale = this.#tree.logit_scale!;
          this.#tree.logit_scale = keep(clamp(scale, Number.NEGATIVE_INFINITY, MAX_LOGIT_SCALE));
          scale.dispose();
        },
      },
    );
    return { step: this.stepCount, ...r, lr };
  }

  /**
   * The optimizer's state (the AdamW moments and step counts) as a safetensors file, to resume
   * the run exactly with {@link ClipTrainer.loadState} (on the same kind of backend); save the
   * params beside it (`clipCheckpointFiles(trainer.params, config)`, or `saveSafetensors` for a
   * ModifiedResNet tower, which has no HF layout).
   *
   * @example
   * ```ts
   * await writeFile('run/optimizer.safetensors', await trainer.saveState());
   * ```
   */
  async saveState(): Promise<Uint8Array> {
    if (this.#disposed) throw new Error('ClipTrainer.saveState: the trainer was disposed');
    return saveOptimizers({ adamw: this.#opt });
  }

  /**
   * Continues a run from {@link ClipTrainer.saveState}'s file: made over the params saved with
   * it and the same options (the learning-rate schedule reads the restored step count), this
   * trainer's next steps are the ones the saved run would have taken. A state that does not fit
   * the params is refused by name, and the trainer keeps its own.
   *
   * @example
   * ```ts
   * const trainer = new ClipTrainer(savedParams, config, options); // the saved run's options
   * await trainer.loadState(await readFile('run/optimizer.safetensors'));
   * ```
   */
  async loadState(source: SafetensorsSource): Promise<void> {
    const alive = () => {
      if (this.#disposed) throw new Error('ClipTrainer.loadState: the trainer was disposed');
    };
    alive();
    // loadOptimizers says a wrong source or a missing file in the caller's name.
    await loadOptimizers(
      source,
      { adamw: { optimizer: this.#opt, params: this.#tree } },
      { backend: Object.values(this.#tree)[0]!.backend, caller: 'ClipTrainer.loadState', check: alive },
    );
  }

  /** Frees the optimizer state (the params stay with the caller). */
  dispose(): void {
    this.#disposed = true;
    this.#opt.dispose();
  }
}
