// The logit-Laplace distribution of the DALL-E paper (Ramesh et al. 2021, section A.3): a Laplace
// distribution on logit(x), pushed through the sigmoid so that its support is (0, 1) like a
// pixel's. With y = logit(x) = ln x - ln(1 - x) and dy/dx = 1 / (x (1 - x)), the density is
//   f(x | mu, b) = exp(-|logit(x) - mu| / b) / (2 b x (1 - x)),
// so its log is
//   ln f = -ln 2 - ln b - ln x - ln(1 - x) - |logit(x) - mu| / b.
// The decoder predicts mu and ln b per pixel channel; x is the image after mapPixels, which keeps it
// inside [eps, 1 - eps] where every term is finite.
import { type Tensor, abs, add, exp, log, mul, neg, scale, slice, sub } from '@vl/tensor';
import { checkTensorArg } from '../checkArguments.js';

function sameShape(a: Tensor, b: Tensor): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/**
 * The exact log-density of the logit-Laplace distribution at `x` (values strictly inside (0, 1),
 * e.g. pixels after {@link mapPixels}), with location `mu` and log-scale `logScale` (both in
 * logit space): `-ln 2 - ln b - ln x - ln(1 - x) - |logit(x) - mu| / b`, elementwise.
 * All three tensors share one shape; the result has it too. Differentiable in `mu` and `logScale`.
 *
 * @example
 * ```ts
 * const lp = logitLaplaceLogProb(mapPixels(images), mu, logScale); // [B, 3, H, W]
 * const nll = neg(mean(lp)); // nats per pixel channel
 * ```
 */
export function logitLaplaceLogProb(x: Tensor, mu: Tensor, logScale: Tensor): Tensor {
  checkTensorArg('logitLaplaceLogProb', 'x', x);
  checkTensorArg('logitLaplaceLogProb', 'mu', mu);
  checkTensorArg('logitLaplaceLogProb', 'logScale', logScale);
  if (!sameShape(x, mu) || !sameShape(x, logScale)) {
    throw new RangeError(
      `logitLaplaceLogProb: x ${x.describe()}, mu ${mu.describe()} and logScale ${logScale.describe()} must have one shape`,
    );
  }
  const lnX = log(x); // [...]
  const ln1mX = log(scale(x, -1, 1)); // [...] ln(1 - x)
  const y = sub(lnX, ln1mX); // [...] logit(x)
  const dist = mul(abs(sub(y, mu)), exp(neg(logScale))); // [...] |logit(x) - mu| / b
  // -ln 2 - ln b - ln x - ln(1 - x) - dist
  return scale(neg(add(add(logScale, add(lnX, ln1mX)), dist)), 1, -Math.LN2); // [...]
}

/**
 * Splits decoder statistics `[B, 2C, H, W]` into the logit-Laplace location (channels `0..C-1`)
 * and log-scale (channels `C..2C-1`), as dall_e's decoder lays them out.
 *
 * @example
 * ```ts
 * const { mu, logScale } = splitDecoderStats(stats); // [B, 6, H, W] -> two [B, 3, H, W]
 * ```
 */
export function splitDecoderStats(stats: Tensor): { mu: Tensor; logScale: Tensor } {
  checkTensorArg('splitDecoderStats', 'stats', stats, 'an f32 [B, 2C, H, W] tensor');
  if (stats.shape.length !== 4 || (stats.shape[1] ?? 0) % 2 !== 0) {
    throw new RangeError(
      `splitDecoderStats: stats must be [B, 2C, H, W] (location then log-scale channels), got ${stats.describe()}`,
    );
  }
  const [b, c2, h, w] = stats.shape as [number, number, number, number];
  const c = c2 / 2;
  return {
    mu: slice(stats, [0, 0, 0, 0], [b, c, h, w]), // [B, C, H, W]
    logScale: slice(stats, [0, c, 0, 0], [b, c, h, w]), // [B, C, H, W]
  };
}
