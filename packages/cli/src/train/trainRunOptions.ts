import type { Backend } from '@vl/tensor';
import type { CliIo } from '../io.js';

/** What every `vl train` trainer takes. */
export interface TrainRunOptions {
  /** Where the checkpoint folder goes (created if missing). */
  out: string;
  /** Optimizer steps. */
  steps: number;
  /** Examples per step. */
  batchSize: number;
  /** Peak learning rate (cosine schedule with warmup, down to lr / 20). */
  lr: number;
  /** Seed of the weights and of the training stream. */
  seed: number;
  /** Square image size in pixels. */
  imageSize: number;
  backend: Backend;
  /**
   * Continue the stopped run whose weights are in `init`, exactly: its optimizer state (the bytes
   * of its `optimizer.safetensors`), and the steps it had done, from which training goes on with
   * the same schedule.
   */
  resume?: { state: Uint8Array; steps: number };
  /** Progress goes to `io.stderr`. */
  io: CliIo;
  signal?: AbortSignal;
}
