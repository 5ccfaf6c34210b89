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

/** RGB bytes as an f32 `[1, 3, H, W]` tensor in [0, 1]. */
export function rgbToTensor(image: RgbImage, backend: Backend): Tensor {
  const { width: w, height: h, data } = image;
  const out = new Float32Array(3 * w * h);
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < 3; c++) out[c * w * h + i] = data[i * 3 + c]! / 255;
  }
  return tensor(out, [1, 3, h, w], { backend }); // [1, 3, H, W]
}

/** Reads an f32 `[1, 3, H, W]` tensor in [0, 1] back into RGB bytes. */
export async function tensorToRgb(t: Tensor): Promise<RgbImage> {
  const [, , h, w] = t.shape as [number, number, number, number];
  const values = (await t.read()) as Float32Array;
  const data = new Uint8Array(3 * w * h);
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < 3; c++)
      data[i * 3 + c] = Math.round(Math.min(1, Math.max(0, values[c * w * h + i]!)) * 255);
  }
  return { data, width: w, height: h };
}

/** Peak signal-to-noise ratio in dB between two RGB images of one size. */
export function psnr(a: RgbImage, b: RgbImage): number {
  let se = 0;
  for (let i = 0; i < a.data.length; i++) se += (a.data[i]! - b.data[i]!) ** 2;
  const mse = se / a.data.length;
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
