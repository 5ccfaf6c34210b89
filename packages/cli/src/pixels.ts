import { writeFile } from 'node:fs/promises';
import {
  type PixelImage,
  type RgbImage,
  centerCrop,
  resizeImage,
  shortestEdgeSize,
  toRgbImage,
} from '@vl/clip';
import { type Backend, type Tensor, tensor } from '@vl/tensor';
import pngjs from 'pngjs';

/** Resizes the shortest side to `size` (bicubic, like Pillow) and center-crops a square. */
export function squareImage(image: PixelImage, size: number): RgbImage {
  const rgb = toRgbImage(image);
  if (rgb.width === size && rgb.height === size) return rgb;
  const { width, height } = shortestEdgeSize(rgb.width, rgb.height, size);
  return centerCrop(resizeImage(rgb, width, height), size, size);
}

/** 8-bit pixels, RGB or RGBA (the stride is read from the data's length). */
export interface Pixels {
  data: ArrayLike<number>;
  width: number;
  height: number;
}

/** Channels per pixel of `image`: 3 or 4. */
function stride(image: Pixels): number {
  return image.data.length / (image.width * image.height);
}

/** Images of one size (RGB or RGBA) as an f32 `[B, 3, H, W]` tensor in [0, 1]. */
export function imagesToTensor(images: readonly Pixels[], backend: Backend): Tensor {
  const { width: w, height: h } = images[0]!;
  const plane = w * h;
  const out = new Float32Array(images.length * 3 * plane);
  images.forEach((im, b) => {
    const k = stride(im);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) out[(b * 3 + c) * plane + p] = im.data[p * k + c]! / 255;
    }
  });
  return tensor(out, [images.length, 3, h, w], { backend }); // [B, 3, H, W]
}

/** Reads an f32 `[B, 3, H, W]` tensor in [0, 1] back into 8-bit RGB images. */
export async function tensorToRgbImages(t: Tensor): Promise<RgbImage[]> {
  const [n, , h, w] = t.shape as [number, number, number, number];
  const values = (await t.read()) as Float32Array;
  const plane = w * h;
  return Array.from({ length: n }, (_, b) => {
    const data = new Uint8Array(3 * plane);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++)
        data[p * 3 + c] = Math.round(Math.min(1, Math.max(0, values[(b * 3 + c) * plane + p]!)) * 255);
    }
    return { data, width: w, height: h };
  });
}

/** Peak signal-to-noise ratio in dB over the RGB channels of two images of one size (RGB or RGBA). */
export function psnr(a: Pixels, b: Pixels): number {
  const ka = stride(a);
  const kb = stride(b);
  let se = 0;
  for (let p = 0; p < a.width * a.height; p++) {
    for (let c = 0; c < 3; c++) se += (a.data[p * ka + c]! - b.data[p * kb + c]!) ** 2;
  }
  const mse = se / (3 * a.width * a.height);
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}

/** Writes an RGB image as a PNG file. */
export async function writePng(path: string, image: RgbImage): Promise<void> {
  const png = new pngjs.PNG({ width: image.width, height: image.height });
  for (let i = 0; i < image.width * image.height; i++) {
    png.data[i * 4] = image.data[i * 3]!;
    png.data[i * 4 + 1] = image.data[i * 3 + 1]!;
    png.data[i * 4 + 2] = image.data[i * 3 + 2]!;
    png.data[i * 4 + 3] = 255;
  }
  await writeFile(path, pngjs.PNG.sync.write(png));
}
