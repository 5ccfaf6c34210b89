import { describe, expect, it } from 'vitest';
import { loadImage } from '../src/image/loadImage.js';
import { preprocessToRgb } from '../src/image/preprocess.js';
import { toRgbImage } from '../src/image/toRgbImage.js';

// Literal URLs, so Vite serves the files as they are.
const chelseaUrl = new URL('./fixtures/images/chelsea.png', import.meta.url);
const chelseaExpectedUrl = new URL('./fixtures/pillow/chelsea.expected.png', import.meta.url);

function mismatches(a: Uint8Array, b: Uint8Array): number {
  let n = a.length === b.length ? 0 : Math.max(a.length, b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('image preprocessing in the browser', () => {
  it('decodes a PNG with createImageBitmap and matches Pillow bit for bit', async () => {
    const chelsea = await loadImage(chelseaUrl);
    expect([chelsea.width, chelsea.height, chelsea.channels]).toEqual([451, 300, 4]);
    const ours = preprocessToRgb(chelsea);
    expect(mismatches(ours.data, toRgbImage(await loadImage(chelseaExpectedUrl)).data)).toBe(0);
  });

  it('reads ImageBitmap, OffscreenCanvas and ImageData alike', async () => {
    const blob = await (await fetch(chelseaUrl)).blob();
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d')!;
    context.drawImage(bitmap, 0, 0);
    const imageData = context.getImageData(0, 0, bitmap.width, bitmap.height);
    const fromBitmap = toRgbImage(bitmap);
    const fromCanvas = toRgbImage(canvas);
    const fromImageData = toRgbImage(imageData);
    expect([fromBitmap.width, fromBitmap.height]).toEqual([451, 300]);
    expect(mismatches(fromBitmap.data, fromImageData.data)).toBe(0);
    expect(mismatches(fromCanvas.data, fromImageData.data)).toBe(0);
    expect(() => toRgbImage(new OffscreenCanvas(0, 4))).toThrow('the image is 0x4');
    const img = new Image();
    expect(() => toRgbImage(img)).toThrow('has not loaded');
    bitmap.close();
  });
});
