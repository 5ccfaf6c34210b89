// The error a training loop throws when an abort or a failure stops it after it has updated the
// params: it hands the latest params to the caller, so a stopped run neither leaks them nor loses
// its work.

/**
 * What {@link TrainingInterruptedError} is made from.
 *
 * @example
 * ```ts
 * const options: TrainingInterruptedOptions<Map<string, Tensor>> = { params, steps: 3, cause: e, signal };
 * throw new TrainingInterruptedError('myTrainingLoop', options);
 * ```
 */
export interface TrainingInterruptedOptions<P> {
  /** The latest params, handed to the caller. */
  readonly params: P;
  /** Steps the loop completed before it stopped. */
  readonly steps: number;
  /** The abort reason or the error that stopped the loop. */
  readonly cause: unknown;
  /** The loop's abort signal: a cause that is its reason counts as an abort. */
  readonly signal?: AbortSignal;
  /**
   * The loop's optimizer state as its trainer's `saveState()` wrote it, when the loop could save it:
   * with the params, what resumes the run exactly.
   */
  readonly state?: Uint8Array;
}

/** `'AbortError'` or `'TimeoutError'` for an abort, undefined when `cause` is no abort. */
function abortName(cause: unknown, signal: AbortSignal | undefined): string | undefined {
  const name = (cause as { name?: unknown } | null)?.name;
  const fromSignal = signal?.aborted === true && cause === signal.reason;
  if (!fromSignal && name !== 'AbortError') return undefined;
  return name === 'TimeoutError' ? name : 'AbortError';
}

/**
 * Thrown by a training loop (`fineTuneClip`, `trainDvae`) that an abort or an error stopped after
 * it had updated the params. `params` holds the latest params, which the caller now owns (save
 * them, or dispose them); `steps` counts the steps completed; `cause` is the original error or abort
 * reason, whose message this error's message includes.
 *
 * An abort keeps the name of one, so `err.name === 'AbortError'` checks still hold: the name is
 * `'AbortError'` when the cause is the loop's signal's reason (whatever the reason is) or an error
 * named `'AbortError'`, and `'TimeoutError'` when that reason is a timeout (`AbortSignal.timeout`).
 * Any other cause gives the name `'TrainingInterruptedError'`. Test with `instanceof` to tell
 * either from an error thrown before any update, which leaves the caller's params as they were.
 *
 * @example
 * ```ts
 * try {
 *   params = await fineTuneClip(params, config, batches, { steps: 1000, signal });
 * } catch (e) {
 *   if (!(e instanceof TrainingInterruptedError)) throw e; // nothing was updated
 *   params = e.params as Map<string, Tensor>; // the weights after e.steps steps
 * }
 * ```
 */
export class TrainingInterruptedError<P = unknown> extends Error {
  /** The latest params, owned by the caller. */
  readonly params: P;
  /** Steps completed before the loop stopped. */
  readonly steps: number;
  /** Whether an abort (rather than a failure) stopped the loop. */
  readonly aborted: boolean;
  /**
   * The optimizer state at the stop (a trainer's `saveState()` file), when the loop saved it: pass
   * the error back as the loop's `resumeFrom` option, with {@link TrainingInterruptedError.params}
   * as its params, to resume exactly (on the same kind of backend).
   */
  readonly state: Uint8Array | undefined;

  /** `op` names the loop (`'fineTuneClip'`); the message adds the steps and the cause's message. */
  constructor(op: string, options: TrainingInterruptedOptions<P>) {
    const { cause, steps } = options;
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `${op}: stopped after ${steps} step${steps === 1 ? '' : 's'}: ${reason} ` +
        "(the latest params are on this error's .params, which the caller now owns)",
      { cause },
    );
    const abort = abortName(options.cause, options.signal);
    this.name = abort ?? 'TrainingInterruptedError';
    this.aborted = abort !== undefined;
    this.params = options.params;
    this.steps = options.steps;
    this.state = options.state;
  }
}
