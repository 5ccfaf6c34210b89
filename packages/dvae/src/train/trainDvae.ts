// A dVAE training loop with progress reports, abort, and codebook-usage statistics over a window
// of recent batches (one batch is too small to tell a dead code from a rare one).
import {
  type ResumeFrom,
  Tensor,
  TrainingInterruptedError,
  checkOptionKeys,
  resumeStep,
  yieldToEventLoop,
} from '@vl/tensor';
import type { DvaeConfig } from '../config.js';
import { describeValue } from '../describeValue.js';
import type { DvaeParams } from '../dvaeShapes.js';
import { codebookUsageFromCounts } from './codebookUsage.js';
import {
  checkTrainerArguments,
  DVAE_TRAINER_OPTION_KEYS,
  type DvaeStepResult,
  DvaeTrainer,
  type DvaeTrainerOptions,
} from './DvaeTrainer.js';
import type { DvaeParamsPair } from './initDvaeParams.js';

/**
 * Progress of {@link trainDvae}, reported after every step.
 *
 * @example
 * ```ts
 * const onProgress = (p: DvaeTrainProgress) => console.log(p.step, p.loss, p.tau, p.beta, p.perplexity);
 * ```
 */
export interface DvaeTrainProgress {
  /** Steps done, skipped ones included (1 after the first). */
  step: number;
  /** Steps in the run. */
  steps: number;
  /** The minimized objective of this step's batch (nats per pixel channel). */
  loss: number;
  /** Its negative log-likelihood part, nats per pixel channel. */
  nll: number;
  /** Its KL to the uniform prior, nats per grid cell (weighted by `beta` in `loss`). */
  kl: number;
  /** Mean squared error of the relaxed reconstruction (pixels in [0, 1]). */
  mse: number;
  /** Gumbel-softmax temperature of this step. */
  tau: number;
  /** KL weight of this step. */
  beta: number;
  /** Learning rate of this step. */
  lr: number;
  /**
   * This step's batch had a loss or gradient norm that was not finite: no update was made (the
   * loss parts are those of the refused batch, and its codes are left out of the usage window).
   */
  skipped: boolean;
  /** Steps skipped so far. */
  skippedSteps: number;
  /** Perplexity of the code usage over the last `usageWindow` batches. */
  perplexity: number;
  /** Codes unused over the last `usageWindow` batches. */
  deadCodes: number;
  /** Milliseconds since the loop started. */
  elapsedMs: number;
}

/**
 * Options of {@link trainDvae}: the trainer's, plus the loop's.
 *
 * @example
 * ```ts
 * const options: TrainDvaeOptions = { steps: 1000, lr: 1e-3, onProgress: (p) => console.log(p.loss) };
 * ```
 */
export interface TrainDvaeOptions extends DvaeTrainerOptions {
  /** Optimizer steps to take. */
  steps: number;
  /** Batches the codebook statistics are pooled over (default 50). */
  usageWindow?: number;
  /** Called after every step. */
  onProgress?: (progress: DvaeTrainProgress) => void;
  /**
   * Stops the loop before the next step (an abort while `batches` is pending stops once the batch
   * arrives, which is disposed untrained): the promise rejects with the abort reason, wrapped in a
   * `TrainingInterruptedError` (from `@vl/tensor`) carrying the trained params once a step has
   * updated them.
   */
  signal?: AbortSignal;
  /**
   * Continues a stopped run exactly: the `TrainingInterruptedError` it threw (its `state` and
   * `steps`), with its `params` as this call's params and the same options. The loop takes steps
   * `steps` to `options.steps - 1`, asking `batches` for the indices the unbroken run would have,
   * with the same schedules and gumbel noise.
   */
  resumeFrom?: ResumeFrom;
}

/**
 * Trains a dVAE for `steps` steps on batches from `batches` (called with the step index; each batch
 * must be an f32 `[B, C, H, W]` tensor in [0, 1] and is disposed by the loop after its step) and
 * resolves to the trained parameters, which the caller owns. The given `params` are copied, not modified. A batch
 * whose loss or gradient norm is not finite is skipped (reported with `skipped: true`) and the loop
 * goes on.
 *
 * An abort, or an error from `batches`, a step or `onProgress`, after the first update rejects with
 * a `TrainingInterruptedError` (from `@vl/tensor`) whose `params` are copies of the latest weights
 * (the caller owns them), whose `steps` counts the steps done and whose `state` is the trainer's
 * (pass the error as `resumeFrom`, with its params, to continue exactly); an abort keeps the name
 * `'AbortError'`. Before the first update the original error is thrown as it is.
 *
 * @example
 * ```ts
 * const trained = await trainDvae(initDvaeParams(config, { backend }), config, (i) => loadBatch(i), {
 *   steps: 5000,
 *   lr: 1e-3,
 *   tau: cosineAnneal({ from: 1, to: 1 / 16, steps: 5000 }),
 *   beta: cosineAnneal({ from: 0, to: 6.6, steps: 1000 }),
 *   onProgress: (p) => console.log(`${p.step} loss ${p.loss.toFixed(3)} tau ${p.tau.toFixed(3)} ppl ${p.perplexity.toFixed(1)}`),
 * });
 * ```
 */
export async function trainDvae(
  params: { readonly encoder: DvaeParams; readonly decoder: DvaeParams },
  config: DvaeConfig,
  batches: (step: number) => Tensor | Promise<Tensor>,
  options: TrainDvaeOptions,
): Promise<DvaeParamsPair> {
  checkTrainerArguments('trainDvae', params, config); // before DvaeTrainer, which would name itself
  checkOptionKeys('trainDvae', options, [
    ...DVAE_TRAINER_OPTION_KEYS,
    'steps',
    'usageWindow',
    'onProgress',
    'signal',
    'resumeFrom',
  ]);
  const { steps, usageWindow = 50, onProgress, signal, resumeFrom, ...trainerOptions } = options;
  if (!Number.isInteger(steps) || steps < 0)
    throw new RangeError(`trainDvae: steps must be a non-negative integer, got ${steps}`);
  if (!Number.isInteger(usageWindow) || usageWindow < 1)
    throw new RangeError(`trainDvae: usageWindow must be a positive integer, got ${usageWindow}`);
  // Checked before training: its first call comes after a step has already trained.
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw new TypeError(`trainDvae: onProgress must be a function, got ${describeValue(onProgress)}`);
  if (typeof batches !== 'function')
    throw new TypeError(
      `trainDvae: batches must be a function of the step index, got ${describeValue(batches)}`,
    );
  const first = resumeStep(resumeFrom, steps, 'trainDvae');
  const trainer = new DvaeTrainer(params, config, trainerOptions);
  const start = performance.now();
  const recent: Uint32Array[] = [];
  const pooled = new Uint32Array(config.encoder.vocab_size);
  let done = first;
  let skippedSteps = 0;
  let updatesBefore = 0;
  try {
    if (resumeFrom) {
      await trainer.loadState(resumeFrom.state!);
      updatesBefore = trainer.stepCount;
    }
    for (let i = first; i < steps; i++) {
      await yieldToEventLoop(); // an abort (a Ctrl-C) gets a turn between steps
      signal?.throwIfAborted();
      const images: unknown = await batches(i);
      if (signal?.aborted) {
        // Aborted while the batch was loading: stop as an abort between steps does.
        if (images instanceof Tensor) images.dispose();
        signal.throwIfAborted();
      }
      if (!(images instanceof Tensor)) {
        throw new TypeError(
          `trainDvae: batches(${i}) returned ${describeValue(images)}, not an f32 [B, C, H, W] tensor`,
        );
      }
      if (images.isDisposed) {
        // Most often a fixed batch returned at every step: the loop disposed it after the first.
        throw new Error(
          `trainDvae: batches(${i}) returned ${images.describe()}, which was disposed: the loop disposes each batch after its step, so return a new tensor for every step`,
        );
      }
      let r: DvaeStepResult;
      try {
        r = await trainer.step(images);
      } finally {
        images.dispose();
      }
      if (r.skipped) skippedSteps++;
      else {
        recent.push(r.counts);
        for (let k = 0; k < pooled.length; k++) pooled[k]! += r.counts[k]!;
        if (recent.length > usageWindow) {
          const old = recent.shift()!;
          for (let k = 0; k < pooled.length; k++) pooled[k]! -= old[k]!;
        }
      }
      done = i + 1;
      const usage = codebookUsageFromCounts(pooled);
      onProgress?.({
        step: done,
        steps,
        loss: r.loss,
        nll: r.nll,
        kl: r.kl,
        mse: r.mse,
        tau: r.tau,
        beta: r.beta,
        lr: r.lr,
        skipped: r.skipped,
        skippedSteps,
        perplexity: usage.perplexity,
        deadCodes: usage.deadCodes,
        elapsedMs: performance.now() - start,
      });
    }
    return trainer.copyParams();
  } catch (e) {
    // Before the first update the trained params equal the caller's: there is nothing to hand back.
    if (trainer.stepCount === updatesBefore) throw e;
    // The optimizers' state too, to resume exactly; a failure to save it must not lose the params.
    const state = await trainer.saveState().catch(() => undefined);
    throw new TrainingInterruptedError('trainDvae', {
      params: trainer.copyParams(),
      steps: done,
      cause: e,
      signal,
      ...(state ? { state } : {}),
    });
  } finally {
    trainer.dispose();
  }
}
