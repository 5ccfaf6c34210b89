// DALL-E's pixel mapping: the logit-Laplace likelihood is undefined at exactly 0 and 1, so images
// are squeezed into [eps, 1 - eps] before encoding and stretched back after decoding.
import { type Tensor, clamp, scale } from '@vl/tensor';
import { checkTensorArg } from './checkArguments.js';
import { LOGIT_LAPLACE_EPS } from './config.js';
import { describeValue } from './describeValue.js';

/** `x` a live tensor and `eps` in [0, 0.5), the range parseDvaeConfig allows, or an error naming `caller`. */
function checkPixelArgs(caller: string, x: unknown, eps: unknown): asserts x is Tensor {
  checkTensorArg(caller, 'x', x);
  if (typeof eps !== 'number') {
    throw new TypeError(`${caller}: eps must be a number in [0, 0.5), got ${describeValue(eps)}`);
  }
  if (!(eps >= 0 && eps < 0.5)) throw new RangeError(`${caller}: eps must be in [0, 0.5), got ${eps}`);
}

/**
 * `(1 - 2 eps) x + eps`: maps pixels in [0, 1] into [eps, 1 - eps] (`map_pixels`).
 *
 * @example
 * ```ts
 * const mapped = mapPixels(images); // [B, 3, H, W], values in [0.1, 0.9]
 * ```
 */
export function mapPixels(x: Tensor, eps = LOGIT_LAPLACE_EPS): Tensor {
  checkPixelArgs('mapPixels', x, eps);
  return scale(x, 1 - 2 * eps, eps); // same shape as x
}

/**
 * `clamp((x - eps) / (1 - 2 eps), 0, 1)`: the inverse of {@link mapPixels} (`unmap_pixels`).
 *
 * @example
 * ```ts
 * const images = unmapPixels(sigmoid(location)); // [B, 3, H, W], values in [0, 1]
 * ```
 */
export function unmapPixels(x: Tensor, eps = LOGIT_LAPLACE_EPS): Tensor {
  checkPixelArgs('unmapPixels', x, eps);
  const k = 1 / (1 - 2 * eps);
  return clamp(scale(x, k, -eps * k), 0, 1); // same shape as x
}
