// The dVAE training objective (DALL-E paper, section 2.1 and appendix A.2): encode, draw a relaxed
// code grid with gumbel-softmax, decode it, and score the image under the decoder's logit-Laplace
// distribution; add beta times the KL of the encoder's posterior to the uniform prior. Both sums
// are divided by the number of pixel channels, so with beta = 1 the loss is the negative ELBO in
// nats per pixel channel, and beta above 1 weights the KL up as the paper does (6.6).
import { type Rng, type Tensor, argmax, add, mean, neg, scale, sigmoid, square, sub, sum } from '@vl/tensor';
import { checkConfigArg, checkObjectArg, checkParamsPair } from '../checkArguments.js';
import { checkDvaePair, type DvaeConfig } from '../config.js';
import { dvaeDecoder } from '../dvaeDecoder.js';
import { checkImages, dvaeEncoder } from '../dvaeEncoder.js';
import type { DvaeParams } from '../dvaeShapes.js';
import { mapPixels, unmapPixels } from '../mapPixels.js';
import { gumbelSoftmax } from './gumbelSoftmax.js';
import { klToUniform } from './klToUniform.js';
import { logitLaplaceLogProb, splitDecoderStats } from './logitLaplace.js';

/**
 * Options of {@link dvaeLoss}: the annealed quantities of the current step.
 *
 * @example
 * ```ts
 * const options: DvaeLossOptions = { tau: 1, beta: 0, seed: 7 };
 * ```
 */
export interface DvaeLossOptions {
  /** Gumbel-softmax temperature (> 0). */
  tau: number;
  /** Weight of the KL term (>= 0). */
  beta: number;
  /** Seed of the Gumbel noise. */
  seed: number | Rng;
}

/**
 * The pieces of the dVAE objective for one batch. Scalars are f32 `[]`.
 *
 * @example
 * ```ts
 * const { loss, nll, kl, mse, tokens } = dvaeLoss(params, images, config, { tau, beta, seed });
 * ```
 */
export interface DvaeLossParts {
  /** `(sum(nll) + beta * sum(kl)) / (B * C * H * W)`: what training minimizes. */
  loss: Tensor;
  /** Mean negative logit-Laplace log-likelihood of the mapped pixels, nats per pixel channel. */
  nll: Tensor;
  /** Mean KL of the encoder's posterior to the uniform prior, nats per grid cell. */
  kl: Tensor;
  /** Mean squared error of the decoded image (`unmap_pixels(sigmoid(mu))`, in [0, 1]) to the input. */
  mse: Tensor;
  /** The encoder's hard codes, i32 `[B, h, w]` (argmax of its logits), for codebook statistics. */
  tokens: Tensor;
}

/**
 * @internal Checks that `config.logit_laplace_eps` suits the logit-Laplace loss: above 0 (at 0 the
 * mapped pixels reach 0 and 1, whose logits are infinite, so every loss is NaN) and below 0.5.
 * parseDvaeConfig allows 0, which encoding and decoding handle.
 */
export function checkLossEps(config: DvaeConfig, caller: string): void {
  const eps = config.logit_laplace_eps;
  if (typeof eps !== 'number' || !(eps > 0 && eps < 0.5)) {
    throw new RangeError(
      `${caller}: logit_laplace_eps must be in (0, 0.5) for the logit-Laplace loss (at 0 the mapped pixels reach 0 and 1, whose logits are infinite, and every loss is NaN), got ${eps}`,
    );
  }
}

/**
 * The dVAE objective of a batch of images (f32 `[B, C, H, W]` in [0, 1]) under `params`: encoder
 * logits, a gumbel-softmax relaxed code grid at temperature `tau`, the decoder's logit-Laplace
 * statistics, and `loss = (sum(-log p(x | z)) + beta * sum(KL(q || uniform))) / (B C H W)`.
 * Differentiable in every parameter (through the relaxation); call it inside `valueAndGrad`. The
 * config's halves must make a pair (equal `group_count`, decoder `output_channels` equal to encoder
 * `input_channels`) and its `logit_laplace_eps` must be above 0.
 *
 * @example
 * ```ts
 * const { value, grads } = valueAndGrad(() => dvaeLoss(params, images, config, { tau, beta, seed }).loss, tree);
 * ```
 */
export function dvaeLoss(
  params: { readonly encoder: DvaeParams; readonly decoder: DvaeParams },
  images: Tensor,
  config: DvaeConfig,
  options: DvaeLossOptions,
): DvaeLossParts {
  const caller = 'dvaeLoss';
  checkParamsPair(caller, 'params', params);
  checkConfigArg(caller, config);
  checkObjectArg(caller, 'options', options, 'an object { tau, beta, seed }');
  const { tau, beta, seed } = options;
  // Checked before any work: outside a tidy, a late error would leave the encoder's tensors behind.
  if (!(tau > 0) || !Number.isFinite(tau)) {
    throw new RangeError(`dvaeLoss: tau must be a finite number > 0, got ${tau}`);
  }
  if (!(beta >= 0) || !Number.isFinite(beta)) {
    throw new RangeError(`dvaeLoss: beta must be a finite number >= 0, got ${beta}`);
  }
  checkDvaePair(config, 'dvaeLoss');
  checkLossEps(config, 'dvaeLoss');
  checkImages(caller, 'images', images, config.encoder); // before mapPixels, so the error speaks of images
  if (images.shape[0] === 0) {
    // The means would divide by 0 pixel channels.
    throw new RangeError(`dvaeLoss: images ${images.describe()} hold no image; the loss needs at least one`);
  }
  const eps = config.logit_laplace_eps;
  const x = mapPixels(images, eps); // [B, C, H, W] in [eps, 1 - eps]
  const logits = dvaeEncoder(params.encoder, x, config.encoder); // [B, V, h, w]
  const z = gumbelSoftmax(logits, { tau, seed, axis: 1 }); // [B, V, h, w]
  const stats = dvaeDecoder(params.decoder, z, config.decoder); // [B, 2C, H, W]
  const { mu, logScale } = splitDecoderStats(stats); // two [B, C, H, W]
  const nllSum = neg(sum(logitLaplaceLogProb(x, mu, logScale))); // []
  const klSum = sum(klToUniform(logits, 1)); // []
  const dims = images.size; // B * C * H * W
  const cells = logits.size / config.encoder.vocab_size; // B * h * w
  const loss = scale(add(nllSum, scale(klSum, beta)), 1 / dims); // []
  const decoded = unmapPixels(sigmoid(mu), eps); // [B, C, H, W] in [0, 1]
  return {
    loss,
    nll: scale(nllSum, 1 / dims), // []
    kl: scale(klSum, 1 / cells), // []
    mse: mean(square(sub(decoded, images))), // []
    tokens: argmax(logits, 1), // i32 [B, h, w]
  };
}
