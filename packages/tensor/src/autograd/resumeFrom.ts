// What a training loop needs to continue a stopped run exactly: the optimizer state its trainer
// saved and the steps it had done, both of which a TrainingInterruptedError carries.
import { describeValue } from '../describeValue.js';
import type { SafetensorsSource } from '../io/locateSource.js';

/**
 * A stopped run to continue (a loop's `resumeFrom` option): a {@link TrainingInterruptedError}
 * has both fields, so the error itself can be passed.
 *
 * @example
 * ```ts
 * const resumeFrom: ResumeFrom = { state: await readFile('run/optimizer.safetensors'), steps: 1200 };
 * ```
 */
export interface ResumeFrom {
  /** The optimizer state (the trainer's `saveState()` file), or undefined when none was saved. */
  readonly state: SafetensorsSource | undefined;
  /** Steps the stopped run had done (its loop's step count, skipped steps included). */
  readonly steps: number;
}

/**
 * The first step of a loop resumed from `resumeFrom` (0 without one), checked: a state to load
 * and a step count within the run's `steps`. `caller` names the loop in errors.
 *
 * @example
 * ```ts
 * for (let step = resumeStep(options.resumeFrom, steps, 'myLoop'); step < steps; step++) { ... }
 * ```
 */
export function resumeStep(resumeFrom: ResumeFrom | undefined, steps: number, caller: string): number {
  if (resumeFrom === undefined) return 0;
  // The loop's own arguments first: `caller` starts every other message.
  if (typeof caller !== 'string' || caller === '')
    throw new TypeError(`resumeStep: caller must name the loop (a string), got ${describeValue(caller)}`);
  if (typeof steps !== 'number' || !(steps >= 0))
    throw new RangeError(
      `resumeStep: steps must be a number >= 0 (the run's steps), got ${describeValue(steps)}`,
    );
  if (typeof resumeFrom !== 'object' || resumeFrom === null || Array.isArray(resumeFrom)) {
    throw new TypeError(
      `${caller}: resumeFrom must be { state, steps } (a TrainingInterruptedError is one), got ${describeValue(resumeFrom)}`,
    );
  }
  const { state, steps: done } = resumeFrom as Partial<ResumeFrom>;
  if (state === undefined || state === null) {
    throw new TypeError(
      `${caller}: resumeFrom.state is missing (the stopped run saved no optimizer state, so it cannot be resumed exactly; continue its params without resumeFrom)`,
    );
  }
  if (!Number.isInteger(done) || (done as number) < 0 || (done as number) > steps) {
    throw new RangeError(
      `${caller}: resumeFrom.steps must be an integer from 0 to steps (${steps}), got ${String(done)}`,
    );
  }
  return done as number;
}
