import type { Tensor } from '@vl/tensor';
import type { ClipConfig } from '../model/config.js';
import { type ClipBatch, ClipTrainer, type ClipTrainerOptions } from './ClipTrainer.js';

/** Progress of {@link fineTuneClip}, reported after every step. */
export interface ClipTrainProgress {
  step: number;
  steps: number;
  loss: number;
  /** Mean loss over the last (up to) 20 steps. */
  smoothedLoss: number;
  /** Milliseconds since the loop started. */
  elapsedMs: number;
}

/** Options for {@link fineTuneClip}. */
export interface FineTuneClipOptions extends ClipTrainerOptions {
  /** Number of optimizer steps. */
  steps: number;
  onProgress?: (progress: ClipTrainProgress) => void;
  signal?: AbortSignal;
}

/**
 * A contrastive fine-tuning loop: draws `steps` batches from `batches` (called with the step index;
 * the loop disposes each batch after its step) and returns the trained parameters. The input
 * `params` are taken over (their tensors are replaced as training proceeds).
 *
 * @example
 * ```ts
 * const trained = await fineTuneClip(model.params, model.config, (i) => makeBatch(i), {
 *   steps: 500,
 *   lr: 1e-5,
 *   onProgress: ({ step, steps, smoothedLoss }) => console.log(`${step}/${steps} ${smoothedLoss.toFixed(3)}`),
 * });
 * ```
 */
export async function fineTuneClip(
  params: ReadonlyMap<string, Tensor>,
  config: ClipConfig,
  batches: (step: number) => ClipBatch | Promise<ClipBatch>,
  options: FineTuneClipOptions,
): Promise<Map<string, Tensor>> {
  const { steps, onProgress, signal, ...trainerOptions } = options;
  if (!Number.isInteger(steps) || steps < 0)
    throw new RangeError(`fineTuneClip: steps must be a non-negative integer, got ${steps}`);
  const trainer = new ClipTrainer(params, config, trainerOptions);
  const start = performance.now();
  const recent: number[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      signal?.throwIfAborted();
      const batch = await batches(step);
      let loss: number;
      try {
        loss = await trainer.step(batch);
      } finally {
        for (const t of [batch.pixelValues, batch.inputIds, batch.attentionMask]) t?.dispose();
      }
      recent.push(loss);
      if (recent.length > 20) recent.shift();
      onProgress?.({
        step: step + 1,
        steps,
        loss,
        smoothedLoss: recent.reduce((a, b) => a + b, 0) / recent.length,
        elapsedMs: performance.now() - start,
      });
    }
    return trainer.params;
  } finally {
    trainer.dispose();
  }
}
