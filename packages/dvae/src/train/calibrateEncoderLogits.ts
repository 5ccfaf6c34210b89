// Data-dependent initialization of the encoder's logits layer (Salimans & Kingma 2016, applied to
// the last 1x1 conv): rescale and shift each code's row so that, over a batch of real images, its
// logit has mean 0 and a chosen standard deviation. A fresh dall_e encoder's logits are small
// (std ~0.3 on flat shapes-world images) and share a large common component, so the Gumbel noise
// drowns them and every cell draws noise; calibrated, different image patches already pick
// different codes at step 0 and the codes carry information the decoder can learn from.
import {
  checkOptionKeys,
  keep,
  mean,
  mul,
  reshape,
  rsqrt,
  scale,
  sub,
  type Tensor,
  tidy,
  variance,
} from '@vl/tensor';
import { checkConfigArg, checkParamsMap } from '../checkArguments.js';
import type { DvaeConfig } from '../config.js';
import { describeValue } from '../describeValue.js';
import { checkImages, dvaeEncoder } from '../dvaeEncoder.js';
import { checkParamsAgainst, type DvaeParams, encoderShapes, paramsBackend } from '../dvaeShapes.js';
import { checkPixelRange } from '../loadDvae.js';
import { mapPixels } from '../mapPixels.js';

/** Options of {@link calibrateEncoderLogits}. */
export interface CalibrateEncoderLogitsOptions {
  /** Standard deviation each code's logit gets over the images (default 3, above the Gumbel noise's 1.28). */
  std?: number;
}

const W = 'blocks.output.conv.w';
const B = 'blocks.output.conv.b';
const CALLER = 'calibrateEncoderLogits';

/** Everything about the arguments that can be checked without reading data back. */
function checkArguments(encoder: DvaeParams, config: DvaeConfig, images: Tensor): void {
  checkParamsMap(CALLER, 'encoder', encoder); // before the config, the argument after it
  checkConfigArg(CALLER, config);
  checkParamsAgainst(CALLER, 'encoder', encoder, encoderShapes(config.encoder), 'encoder');
  checkImages(CALLER, 'images', images, config.encoder);
  if (images.shape[0] === 0) {
    throw new RangeError(
      `${CALLER}: images ${images.describe()} hold no image; the logits' statistics need at least one`,
    );
  }
  const backend = paramsBackend({ encoder }, CALLER);
  if (images.backend !== backend) {
    throw new Error(
      `${CALLER}: images ${images.describe()} are on another backend (${images.backend.name}) than the encoder params (${backend.name}); move them to that backend with toBackend()`,
    );
  }
}

/**
 * Returns encoder params whose logits layer (`blocks.output.conv`) is rescaled so that each code's
 * logit over `images` (f32 `[B, C, H, W]` in [0, 1], on the params' backend) has mean 0 and
 * standard deviation `std`: `w'[k] = w[k] * std / sd[k]`, `b'[k] = (b[k] - mean[k]) * std / sd[k]`.
 * The returned map holds two new tensors (owned by the caller) and shares every other tensor with
 * `encoder`, which is not modified. Use it on freshly initialized params before training. It is
 * async because it first reads back the images' min and max (two numbers, as
 * {@link checkImageRange} does): 8-bit pixels or NaN, which would give meaningless weights, are an
 * error on every backend, before any encoding.
 *
 * @example
 * ```ts
 * const params = initDvaeParams(config, { backend, seed: 0 });
 * const encoder = await calibrateEncoderLogits(params.encoder, config, firstBatch); // [16, 3, 64, 64]
 * const trainer = new DvaeTrainer({ encoder, decoder: params.decoder }, config);
 * ```
 */
export async function calibrateEncoderLogits(
  encoder: DvaeParams,
  config: DvaeConfig,
  images: Tensor,
  options: CalibrateEncoderLogitsOptions = {},
): Promise<Map<string, Tensor>> {
  checkOptionKeys(CALLER, options, ['std']); // `{ stdev: 2 }` would otherwise calibrate to std 3
  const { std = 3 } = options;
  if (!(std > 0) || !Number.isFinite(std)) {
    throw new RangeError(`${CALLER}: std must be a finite number > 0, got ${describeValue(std)}`);
  }
  checkArguments(encoder, config, images);
  await checkPixelRange(images, CALLER);
  checkArguments(encoder, config, images); // the caller may have disposed a tensor meanwhile
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
