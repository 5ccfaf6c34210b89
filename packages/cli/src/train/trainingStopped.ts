import { type Tensor, TrainingInterruptedError } from '@vl/tensor';
import { CliError, type CliIo } from '../io.js';

/**
 * A `vl train` run stopped by Ctrl-C after it had trained: the weights so far were written to
 * `out`, and the command exits with 130 (as a shell reports an interrupt) saying how to go on.
 */
export class TrainingStopped extends CliError {
  /** The run's `training.json` record, once written (for the stages' record). */
  record?: object;
  /**
   * The optimizer state at the stop, which `vl train` writes after the record (so that a state
   * file in a folder always goes with its weights and record) and `--resume` reads.
   */
  state?: Uint8Array;

  constructor(
    readonly out: string,
    /** Steps done when it stopped. */
    readonly steps: number,
    readonly of: number,
    options: {
      /** The optimizer state at the stop, if the loop saved one. */
      state?: Uint8Array | undefined;
      /** The kind trained, once its optimizer state is written too (`--resume` can continue it). */
      resumable?: string;
    } = {},
  ) {
    const { resumable } = options;
    super(
      resumable
        ? `interrupted after ${steps} of ${of} steps: wrote the weights trained so far and the optimizer state to ${out}; ` +
            `vl train ${resumable} --resume ${out} continues the run exactly (--init ${out} with a fresh optimizer)`
        : `interrupted after ${steps} of ${of} steps: wrote the weights trained so far to ${out}; ` +
            `continue them with --init ${out}`,
      130,
    );
    this.name = 'TrainingStopped';
    this.state = options.state;
  }
}

/**
 * The params a training loop stopped by `signal` handed back (an abort after an update), or
 * undefined when `e` is anything else: a failure, whose params are freed here, or an abort before
 * the first update (nothing trained, nothing to write).
 */
export function stoppedParams<P>(
  e: unknown,
  free: (params: P) => void,
): { params: P; steps: number; state: Uint8Array | undefined } | undefined {
  if (!(e instanceof TrainingInterruptedError)) return undefined;
  if (!e.aborted) {
    free(e.params as P);
    return undefined;
  }
  return { params: e.params as P, steps: e.steps, state: e.state };
}

/** Disposes a map of tensors (some may be shared: each once). */
export function disposeAll(params: ReadonlyMap<string, Tensor>): void {
  for (const t of new Set(params.values())) t.dispose();
}

/**
 * Turns the first Ctrl-C into an abort of the returned signal (training stops after its current
 * step and writes what it has), saying so; a second Ctrl-C quits at once. `release` removes the
 * handler.
 */
export function abortOnInterrupt(io: CliIo): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onInterrupt = (): void => {
    if (controller.signal.aborted) process.exit(130);
    io.stderr.write(
      '\nvl: stopping after this step; the weights trained so far will be written (Ctrl-C again quits without them)\n',
    );
    controller.abort(new DOMException('vl train was interrupted (Ctrl-C)', 'AbortError'));
  };
  process.on('SIGINT', onInterrupt);
  return { signal: controller.signal, release: () => process.off('SIGINT', onInterrupt) };
}
