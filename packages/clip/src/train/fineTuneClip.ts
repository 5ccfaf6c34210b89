import {
  type ResumeFrom,
  type Tensor,
  TrainingInterruptedError,
  checkOptionKeys,
  resumeStep,
  yieldToEventLoop,
} from '@vl/tensor';
import type { ClipConfig } from '../model/config.js';
import {
  CLIP_TRAINER_OPTION_KEYS,
  type ClipBatch,
  type ClipStepResult,
  ClipTrainer,
  type ClipTrainerOptions,
  checkClipBatch,
  disposeBatch,
} from './ClipTrainer.js';
import { describeInput } from '../task/describeInput.js';

/** Progress of {@link fineTuneClip}, reported after every step. */
export interface ClipTrainProgress {
  /** Steps done, skipped ones included (1 after the first). */
  step: number;
  steps: number;
  loss: number;
  /** Mean loss over the last (up to) 20 steps that were not skipped (NaN before the first). */
  smoothedLoss: number;
  /** This step's batch had a loss or gradient norm that was not finite: no update was made. */
  skipped: boolean;
  /** Steps skipped so far. */
  skippedSteps: number;
  /** Milliseconds since the loop started. */
  elapsedMs: number;
}

/** Options for {@link fineTuneClip}. */
export interface FineTuneClipOptions extends ClipTrainerOptions {
  /** Number of optimizer steps. */
  steps: number;
  onProgress?: (progress: ClipTrainProgress) => void;
  signal?: AbortSignal;
  /**
   * Continues a stopped run exactly: the `state` and `steps` of the `TrainingInterruptedError` it
   * threw (pass the error itself), with its `params` as this call's params and the same options.
   * The loop takes steps `steps` to `options.steps - 1`, asking `batches` for the same indices as
   * the run that did not stop.
   */
  resumeFrom?: ResumeFrom;
}

/**
 * A contrastive fine-tuning loop: draws `steps` batches from `batches` (called with the step index;
 * the loop disposes each batch after its step) and returns the trained parameters. The input
 * `params` are taken over (their tensors are replaced as training proceeds). A batch whose loss or
 * gradient norm is not finite is skipped (see {@link ClipTrainer.step}) and the loop goes on.
 *
 * An abort, or an error from `batches`, a step or `onProgress`, after the first update rejects with
 * a `TrainingInterruptedError` (from `@vl/tensor`) whose `params` are the latest weights (the
 * caller owns them; the given ones are gone), whose `steps` counts the steps done and whose `state`
 * is the optimizer's (pass the error as `resumeFrom`, with its params, to continue exactly); an
 * abort keeps the name `'AbortError'`. Before the first update the original error is thrown as it is,
 * and the given `params` are untouched. An abort while `batches(step)` is pending takes no step on
 * that batch (its tensors are disposed) and stops the same way.
 *
 * A batch that is not `{ pixelValues, inputIds, attentionMask? }` of Tensors fails with a TypeError
 * naming the call (`batches(3) returned undefined, ...`); an unknown option key throws a TypeError
 * listing the accepted ones.
 *
 * @example
 * ```ts
 * const trained = await fineTuneClip(model.params, model.config, (i) => makeBatch(i), {
 *   steps: 500,
 *   lr: 1e-5,
 *   onProgress: ({ step, steps, smoothedLoss }) => console.log(`${step}/${steps} ${smoothedLoss.toFixed(3)}`),
 * });
 * // `model` no longer has weights; the trained ones make a new model
 * const { config, tokenizer, backend, preprocessOptions: preprocess, templates } = model;
 * const tuned = new ClipModel({ config, params: trained, tokenizer, backend, preprocess, templates });
 *
 * // Stopped (an abort): the same run goes on from where it stopped, as if it had not
 * try {
 *   await fineTuneClip(params, config, makeBatch, { steps: 500, lr: 1e-5, signal });
 * } catch (e) {
 *   if (!(e instanceof TrainingInterruptedError)) throw e;
 *   await fineTuneClip(e.params as Map<string, Tensor>, config, makeBatch, { steps: 500, lr: 1e-5, resumeFrom: e });
 * }
 * ```
 */
export async function fineTuneClip(
  params: ReadonlyMap<string, Tensor>,
  config: ClipConfig,
  batches: (step: number) => ClipBatch | Promise<ClipBatch>,
  options: FineTuneClipOptions,
): Promise<Map<string, Tensor>> {
  checkOptionKeys('fineTuneClip', options, [
    'steps',
    'onProgress',
    'signal',
    'resumeFrom',
    ...CLIP_TRAINER_OPTION_KEYS,
  ]);
  if (typeof batches !== 'function')
    throw new TypeError(
      `fineTuneClip: batches must be a function of the step index, got ${describeInput(batches)}`,
    );
  const { steps, onProgress, signal, resumeFrom, ...trainerOptions } = options;
  if (!Number.isInteger(steps) || steps < 0)
    throw new RangeError(`fineTuneClip: steps must be a non-negative integer, got ${steps}`);
  const first = resumeStep(resumeFrom, steps, 'fineTuneClip');
  const trainer = new ClipTrainer(params, config, trainerOptions);
  const start = performance.now();
  const recent: number[] = [];
  let done = first;
  let skippedSteps = 0;
  let updatesBefore = 0;
  try {
    if (resumeFrom) {
      await trainer.loadState(resumeFrom.state!);
      updatesBefore = trainer.stepCount;
    }
    for (let step = first; step < steps; step++) {
      await yieldToEventLoop(); // an abort (a Ctrl-C) gets a turn between steps
      signal?.throwIfAborted();
      const batch: unknown = await batches(step);
      let r: ClipStepResult;
      try {
        signal?.throwIfAborted(); // aborted while batches() was pending: no step on this batch
        checkClipBatch(batch, 'fineTuneClip', `batches(${step})`);
        r = await trainer.step(batch);
      } finally {
        disposeBatch(batch);
      }
      if (r.skipped) skippedSteps++;
      else {
        recent.push(r.loss);
        if (recent.length > 20) recent.shift();
      }
      done = step + 1;
      onProgress?.({
        step: done,
        steps,
        loss: r.loss,
        smoothedLoss: recent.reduce((a, b) => a + b, 0) / recent.length,
        skipped: r.skipped,
        skippedSteps,
        elapsedMs: performance.now() - start,
      });
    }
    return trainer.params;
  } catch (e) {
    // Before the first update the caller's tensors are as they were; after it they are disposed,
    // and the trained ones must reach the caller or they would leak.
    if (trainer.stepCount === updatesBefore) throw e;
    // The optimizer state too, to resume exactly; a failure to save it must not lose the params.
    const state = await trainer.saveState().catch(() => undefined);
    throw new TrainingInterruptedError('fineTuneClip', {
      params: trainer.params,
      steps: done,
      cause: e,
      signal,
      ...(state ? { state } : {}),
    });
  } finally {
    trainer.dispose();
  }
}
