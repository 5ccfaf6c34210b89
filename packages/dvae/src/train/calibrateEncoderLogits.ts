// Data-dependent initialization of the encoder's logits layer (Salimans & Kingma 2016, applied to
// the last 1x1 conv): rescale and shift each code's row so that, over a batch of real images, its
// logit has mean 0 and a chosen standard deviation. A fresh dall_e encoder's logits are small
// (std ~0.3 on flat shapes-world images) and share a large common component, so the Gumbel noise
// drowns them and every cell draws noise; calibrated, different image patches already pick
// different codes at step 0 and the codes carry information the decoder can learn from.
import { type Tensor, keep, mean, mul, reshape, rsqrt, scale, sub, tidy, variance } from '@vl/tensor';
import type { DvaeConfig } from '../config.js';
import { checkEncoderInput, dvaeEncoder } from '../dvaeEncoder.js';
import { checkDvaeParams, type DvaeParams, encoderShapes } from '../dvaeShapes.js';
import { mapPixels } from '../mapPixels.js';

/** Options of {@link calibrateEncoderLogits}. */
export interface CalibrateEncoderLogitsOptions {
  /** Standard deviation each code's logit gets over the images (default 3, above the Gumbel noise's 1.28). */
  std?: number;
}

const W = 'blocks.output.conv.w';
const B = 'blocks.output.conv.b';

/**
 * Returns encoder params whose logits layer (`blocks.output.conv`) is rescaled so that each code's
 * logit over `images` (f32 `[B, C, H, W]` in [0, 1]) has mean 0 and standard deviation `std`:
 * `w'[k] = w[k] * std / sd[k]`, `b'[k] = (b[k] - mean[k]) * std / sd[k]`. The returned map holds
 * two new tensors (owned by the caller) and shares every other tensor with `encoder`, which is not
 * modified. Use it on freshly initialized params before training. Pixel values are not checked
 * (it is synchronous, and a check would read the images back): 8-bit pixels or NaN give meaningless
 * weights without an error, so run `checkImageRange` on images you are unsure of.
 *
 * @example
 * ```ts
 * const params = initDvaeParams(config, { backend, seed: 0 });
 * const encoder = calibrateEncoderLogits(params.encoder, config, firstBatch); // [16, 3, 64, 64]
 * const trainer = new DvaeTrainer({ encoder, decoder: params.decoder }, config);
 * ```
 */
export function calibrateEncoderLogits(
  encoder: DvaeParams,
  config: DvaeConfig,
  images: Tensor,
  options: CalibrateEncoderLogitsOptions = {},
): Map<string, Tensor> {
  const { std = 3 } = options;
  if (!(std > 0) || !Number.isFinite(std)) {
    throw new RangeError(`calibrateEncoderLogits: std must be a finite number > 0, got ${std}`);
  }
  checkDvaeParams(encoder, encoderShapes(config.encoder), 'encoder');
  checkEncoderInput(images, config.encoder);
  const V = config.encoder.vocab_size;
  const [w, b] = tidy(() => {
    const logits = dvaeEncoder(encoder, mapPixels(images, config.logit_laplace_eps), config.encoder); // [N, V, h, w]
    const mu = mean(logits, [0, 2, 3]); // [V]
    const factor = scale(rsqrt(scale(variance(logits, [0, 2, 3]), 1, 1e-12)), std); // [V]
    const w2 = mul(encoder.get(W)!, reshape(factor, [V, 1, 1, 1])); // [V, n_hid, 1, 1]
    const b2 = mul(sub(encoder.get(B)!, mu), factor); // [V]
    return [keep(w2), keep(b2)];
  });
  const out = new Map(encoder);
  out.set(W, w!);
  out.set(B, b!);
  return out;
}
