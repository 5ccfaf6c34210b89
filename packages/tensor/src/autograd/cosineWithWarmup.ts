// The usual transformer learning-rate schedule: linear warmup, then cosine decay to a floor.
import { showValue } from '../shape.js';

const OPTION_KEYS = ['lr', 'warmupSteps', 'totalSteps', 'minLr'];

/**
 * Options of {@link cosineWithWarmup}.
 *
 * @example
 * ```ts
 * const options: CosineWithWarmupOptions = { lr: 6e-4, warmupSteps: 2000, totalSteps: 600_000, minLr: 6e-5 };
 * ```
 */
export interface CosineWithWarmupOptions {
  /** Peak learning rate, reached at the end of the warmup. */
  readonly lr: number;
  /** Steps of linear warmup (0 for none). */
  readonly warmupSteps: number;
  /** Step at which the decay reaches `minLr` (and stays). */
  readonly totalSteps: number;
  /** Final learning rate (default 0). */
  readonly minLr?: number;
}

/**
 * A learning-rate schedule for {@link AdamW}: `lr * (step + 1) / warmupSteps` during the warmup
 * (so the first step is not wasted at 0), then a half cosine from `lr` down to `minLr` at
 * `totalSteps`, then `minLr`. `step` counts the steps already taken (0 for the first): the
 * schedule throws a RangeError for a negative or fractional step. Throws at once unless
 * `0 <= minLr <= lr` (finite) and `0 <= warmupSteps <= totalSteps` (integers).
 *
 * @example
 * ```ts
 * const opt = new AdamW({ lr: cosineWithWarmup({ lr: 3e-4, warmupSteps: 100, totalSteps: 5000, minLr: 3e-5 }) });
 * ```
 */
export function cosineWithWarmup(options: CosineWithWarmupOptions): (step: number) => number {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      `cosineWithWarmup: options must be an object { lr, warmupSteps, totalSteps, minLr? }, got ${String(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) {
      throw new TypeError(
        `cosineWithWarmup: options has an unknown key ${JSON.stringify(key)} (expected ${OPTION_KEYS.join(', ')})`,
      );
    }
  }
  const { lr, warmupSteps, totalSteps, minLr = 0 } = options;
  for (const [name, value] of [
    ['lr', lr],
    ['minLr', minLr],
  ] as const) {
    if (!(typeof value === 'number' && value >= 0 && Number.isFinite(value))) {
      throw new RangeError(`cosineWithWarmup: ${name} must be a finite number >= 0, got ${showValue(value)}`);
    }
  }
  if (minLr > lr) throw new RangeError(`cosineWithWarmup: minLr (${minLr}) must be <= lr (${lr})`);
  if (
    !Number.isSafeInteger(warmupSteps) ||
    !Number.isSafeInteger(totalSteps) ||
    warmupSteps < 0 ||
    totalSteps < warmupSteps
  ) {
    throw new RangeError(
      `cosineWithWarmup: need integers 0 <= warmupSteps (${showValue(warmupSteps)}) <= totalSteps (${showValue(totalSteps)})`,
    );
  }
  return (step) => {
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new RangeError(
        `cosineWithWarmup: step must be an integer >= 0 (the number of steps already taken), got ${showValue(step)}`,
      );
    }
    if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
    if (step >= totalSteps) return minLr;
    const progress = (step - warmupSteps) / (totalSteps - warmupSteps);
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
  };
}
