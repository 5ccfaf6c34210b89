import { roundHalfEven } from './roundHalfEven.js';
import type { RgbImage } from './toRgbImage.js';

/**
 * Whose center crop: Hugging Face's `center_crop` (`'hf'`) or torchvision's `CenterCrop`, which
 * open_clip and openai/CLIP use (`'torchvision'`).
 */
export type CropRule = 'hf' | 'torchvision';

/** Where the crop window starts on one axis of the (padded) image. */
export function cropStart(size: number, crop: number, rule: CropRule): number {
  if (size <= crop) return 0; // padded to the crop, or already its size
  const margin = (size - crop) / 2;
  return rule === 'hf' ? Math.floor(margin) : roundHalfEven(margin); // torchvision: int(round(margin))
}

/** Black padding before the image on one axis, when it is smaller than the crop. */
function padBefore(size: number, crop: number, rule: CropRule): number {
  const margin = Math.max(crop - size, 0);
  return rule === 'hf' ? Math.ceil(margin / 2) : Math.floor(margin / 2);
}

/**
 * Cuts the central `width x height` window out of an image. With Hugging Face's `center_crop` rules
 * (`rule` `'hf'`, the default) the top-left corner is `floor((size - crop) / 2)` on each axis, and an
 * image smaller than the crop is first padded with black, `ceil(margin / 2)` before. torchvision's
 * `CenterCrop` (`'torchvision'`, open_clip's) rounds the corner half to even instead
 * (`int(round((size - crop) / 2))`, one pixel later when the margin is 3 mod 4) and pads
 * `floor(margin / 2)` before.
 *
 * @example
 * ```ts
 * const square = centerCrop(resized, 224, 224); // 335x224 -> columns 55..278
 * centerCrop(resized, 224, 224, 'torchvision'); // 335x224 -> columns 56..279 (round(55.5) = 56)
 * ```
 */
export function centerCrop(image: RgbImage, width: number, height: number, rule: CropRule = 'hf'): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`centerCrop(): cannot crop to ${width}x${height}; sizes must be positive integers`);
  }
  if (width === image.width && height === image.height) return image;
  // Where the crop window starts in the (possibly padded) image, and where the image sits in it.
  const padLeft = padBefore(image.width, width, rule);
  const padTop = padBefore(image.height, height, rule);
  const left = cropStart(image.width, width, rule);
  const top = cropStart(image.height, height, rule);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = y + top - padTop;
    if (sy < 0 || sy >= image.height) continue;
    const x0 = Math.max(0, padLeft - left);
    const x1 = Math.min(width, image.width + padLeft - left);
    if (x1 <= x0) continue;
    const src = (sy * image.width + x0 + left - padLeft) * 3;
    out.set(image.data.subarray(src, src + (x1 - x0) * 3), (y * width + x0) * 3);
  }
  return { data: out, width, height };
}
