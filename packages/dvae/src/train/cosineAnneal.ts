// Half-cosine annealing between two values, the shape of every schedule in DALL-E's dVAE training
// (temperature 1 -> 1/16, KL weight 0 -> 6.6, learning rate 1e-4 -> 1.25e-6).
import { checkObjectArg } from '../checkArguments.js';

/**
 * Options of {@link cosineAnneal}.
 *
 * @example
 * ```ts
 * const tau: CosineAnnealOptions = { from: 1, to: 1 / 16, steps: 150_000 };
 * ```
 */
export interface CosineAnnealOptions {
  /** The value at step 0. */
  from: number;
  /** The value at `steps` and after. */
  to: number;
  /** Steps the annealing takes (0: `to` from the start). */
  steps: number;
}

/**
 * A schedule `step => value` that goes from `from` at step 0 to `to` at `steps` along a half
 * cosine, `to + (from - to) * (1 + cos(pi * step / steps)) / 2`, and stays at `to` afterwards.
 *
 * @example
 * ```ts
 * const tau = cosineAnneal({ from: 1, to: 1 / 16, steps: 150_000 });
 * tau(0); // 1
 * tau(75_000); // 0.53125
 * ```
 */
export function cosineAnneal(options: CosineAnnealOptions): (step: number) => number {
  checkObjectArg('cosineAnneal', 'options', options, 'an object { from, to, steps }');
  const { from, to, steps } = options;
  if (!Number.isFinite(from) || !Number.isFinite(to)) {
    throw new RangeError(`cosineAnneal: from (${from}) and to (${to}) must be finite numbers`);
  }
  if (!Number.isInteger(steps) || steps < 0) {
    throw new RangeError(`cosineAnneal: steps must be a non-negative integer, got ${steps}`);
  }
  return (step) => {
    if (step >= steps || steps === 0) return to; // steps 0: `to` even at a negative step, not 0 / 0
    const t = Math.max(0, step) / steps;
    return to + ((from - to) * (1 + Math.cos(Math.PI * t))) / 2;
  };
}
