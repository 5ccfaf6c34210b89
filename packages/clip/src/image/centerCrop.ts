import type { RgbImage } from './toRgbImage.js';

/**
 * Cuts the central `width x height` window out of an image with Hugging Face's `center_crop` rules:
 * the top-left corner is `floor((size - crop) / 2)` on each axis (torchvision rounds instead, which
 * differs by one pixel for odd margins), and an image smaller than the crop is first padded with
 * black, `ceil(margin / 2)` before.
 *
 * @example
 * ```ts
 * const square = centerCrop(resized, 224, 224); // 335x224 -> columns 55..278
 * ```
 */
export function centerCrop(image: RgbImage, width: number, height: number): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`centerCrop(): cannot crop to ${width}x${height}; sizes must be positive integers`);
  }
  if (width === image.width && height === image.height) return image;
  // Where the crop window starts in the (possibly padded) image, and where the image sits in it.
  const padLeft = Math.ceil(Math.max(width - image.width, 0) / 2);
  const padTop = Math.ceil(Math.max(height - image.height, 0) / 2);
  const left = Math.floor((image.width - width) / 2) + padLeft;
  const top = Math.floor((image.height - height) / 2) + padTop;
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
