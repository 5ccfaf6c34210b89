// The usual transformer learning-rate schedule: linear warmup, then cosine decay to a floor.

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
 * `totalSteps`, then `minLr`. `step` counts the steps already taken (0 for the first).
 *
 * @example
 * ```ts
 * const opt = new AdamW({ lr: cosineWithWarmup({ lr: 3e-4, warmupSteps: 100, totalSteps: 5000, minLr: 3e-5 }) });
 * ```
 */
export function cosineWithWarmup(options: CosineWithWarmupOptions): (step: number) => number {
  const { lr, warmupSteps, totalSteps, minLr = 0 } = options;
  if (!(lr >= 0) || !(minLr >= 0))
    throw new RangeError(`cosineWithWarmup: lr (${lr}) and minLr (${minLr}) must be >= 0`);
  if (
    !Number.isInteger(warmupSteps) ||
    !Number.isInteger(totalSteps) ||
    warmupSteps < 0 ||
    totalSteps < warmupSteps
  ) {
    throw new RangeError(
      `cosineWithWarmup: need integers 0 <= warmupSteps (${warmupSteps}) <= totalSteps (${totalSteps})`,
    );
  }
  return (step) => {
    if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
    if (step >= totalSteps) return minLr;
    const progress = (step - warmupSteps) / (totalSteps - warmupSteps);
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
  };
}
