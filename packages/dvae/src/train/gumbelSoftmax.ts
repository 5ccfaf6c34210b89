// The gumbel-softmax (concrete) relaxation of sampling a code per grid cell (Jang et al. 2016,
// Maddison et al. 2016), which DALL-E's dVAE trains through: softmax((logits + g) / tau) with
// standard Gumbel noise g. As tau goes to 0 the samples approach one-hot codes drawn from
// softmax(logits); a larger tau gives smoother samples and lower-variance gradients.
import { type Rng, type Tensor, add, gumbelNoise, scale, softmax } from '@vl/tensor';
import { checkObjectArg, checkTensorArg } from '../checkArguments.js';
import { describeValue } from '../describeValue.js';

/**
 * Options of {@link gumbelSoftmax}.
 *
 * @example
 * ```ts
 * const options: GumbelSoftmaxOptions = { tau: 0.5, seed: rng, axis: 1 };
 * ```
 */
export interface GumbelSoftmaxOptions {
  /** Temperature, > 0 (DALL-E anneals it from 1 to 1/16). */
  tau: number;
  /** Seed of the Gumbel noise: a safe integer or an Rng to draw one from. */
  seed: number | Rng;
  /** The codebook axis (default 1: the channels of a `[B, V, h, w]` logit grid). */
  axis?: number;
}

/**
 * `softmax((logits + g) / tau)` along `axis`, with fresh standard Gumbel noise `g` from `seed`:
 * a differentiable relaxation of one-hot samples from `softmax(logits)`. Same shape as `logits`.
 *
 * @example
 * ```ts
 * const z = gumbelSoftmax(logits, { tau: 1 / 16, seed: 7 }); // [B, 8192, 32, 32], rows sum to 1
 * const stats = dvaeDecoder(decoderParams, z, config.decoder); // [B, 6, 256, 256]
 * ```
 */
export function gumbelSoftmax(logits: Tensor, options: GumbelSoftmaxOptions): Tensor {
  checkTensorArg('gumbelSoftmax', 'logits', logits, 'an f32 tensor');
  checkObjectArg('gumbelSoftmax', 'options', options, 'an object { tau, seed, axis }');
  const { tau, seed, axis = 1 } = options;
  if (!(tau > 0) || !Number.isFinite(tau)) {
    throw new RangeError(`gumbelSoftmax: tau must be a finite number > 0, got ${tau}`);
  }
  if (logits.dtype !== 'f32')
    throw new TypeError(`gumbelSoftmax: logits must be f32, got ${logits.describe()}`);
  // Before the noise is drawn: outside a tidy, softmax's own axis error would leave it behind.
  if (!Number.isInteger(axis) || axis < -logits.rank || axis >= logits.rank) {
    throw new RangeError(
      `gumbelSoftmax: axis ${describeValue(axis)} is out of range for logits ${logits.describe()}`,
    );
  }
  const g = gumbelNoise(logits.shape, { backend: logits.backend, seed }); // same shape as logits
  return softmax(scale(add(logits, g), 1 / tau), axis); // same shape as logits
}
