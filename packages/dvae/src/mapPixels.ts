// DALL-E's pixel mapping: the logit-Laplace likelihood is undefined at exactly 0 and 1, so images
// are squeezed into [eps, 1 - eps] before encoding and stretched back after decoding.
import { type Tensor, clamp, scale } from '@vl/tensor';
import { LOGIT_LAPLACE_EPS } from './config.js';

/**
 * `(1 - 2 eps) x + eps`: maps pixels in [0, 1] into [eps, 1 - eps] (`map_pixels`).
 *
 * @example
 * ```ts
 * const mapped = mapPixels(images); // [B, 3, H, W], values in [0.1, 0.9]
 * ```
 */
export function mapPixels(x: Tensor, eps = LOGIT_LAPLACE_EPS): Tensor {
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
  const k = 1 / (1 - 2 * eps);
  return clamp(scale(x, k, -eps * k), 0, 1); // same shape as x
}
