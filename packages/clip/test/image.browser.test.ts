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

/** A PNG (RGBA, 8-bit) of the given pixels, written here: zlib by CompressionStream, CRCs by hand. */
async function rgbaPng(width: number, height: number, rgba: number[]): Promise<Uint8Array> {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Uint8Array) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    view.setUint32(8 + data.length, crc(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA
  const raw = new Uint8Array(height * (1 + width * 4));
  for (let y = 0; y < height; y++)
    raw.set(rgba.slice(y * width * 4, (y + 1) * width * 4), y * (1 + width * 4) + 1);
  const deflated = new Uint8Array(
    await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream('deflate'))).arrayBuffer(),
  );
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflated),
    chunk('IEND', new Uint8Array()),
  ];
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}

describe('browser images read as the file holds them', () => {
  it('keeps the colour of transparent and semi-transparent pixels, as Node and Pillow do', async () => {
    // A 2D canvas premultiplies: white at alpha 0 came back black, (10, 20, 30) at alpha 1 too.
    const pixels = [255, 255, 255, 0, 200, 100, 50, 128, 10, 20, 30, 1, 1, 2, 3, 255];
    const png = await rgbaPng(2, 2, pixels);
    const image = await loadImage(new Blob([png as Uint8Array<ArrayBuffer>]));
    expect(Array.from(image.data)).toEqual(pixels);
    const bitmap = await createImageBitmap(new Blob([png as Uint8Array<ArrayBuffer>]), {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
    });
    expect(Array.from(toRgbImage(bitmap).data)).toEqual([255, 255, 255, 200, 100, 50, 10, 20, 30, 1, 2, 3]);
    bitmap.close();
  });

  it('reads a VideoFrame at its display size; refuses objects that are not images, by kind', async () => {
    const canvas = new OffscreenCanvas(6, 4);
    const context = canvas.getContext('2d')!;
    context.fillStyle = 'rgb(10, 200, 30)';
    context.fillRect(0, 0, 6, 4);
    const frame = new VideoFrame(canvas, { timestamp: 0 });
    const rgb = toRgbImage(frame);
    frame.close();
    expect([rgb.width, rgb.height]).toEqual([6, 4]);
    expect(Array.from(rgb.data.subarray(0, 3))).toEqual([10, 200, 30]);
    expect(() => toRgbImage(new Blob() as never)).toThrow(
      /expected \{ data, width, height \} pixels, .* got Blob/,
    );
  });

  it('an image over the decompression-bomb limit is refused before any buffer is made', async () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="20000" height="20000"><rect width="100%" height="100%" fill="red"/></svg>';
    const img = new Image();
    img.src = `data:image/svg+xml,${encodeURIComponent(svg)}`;
    await img.decode();
    expect(() => toRgbImage(img)).toThrow(
      /the image is 20000x20000 \(400 megapixels\), over the 179 megapixels/,
    );
  });
});

describe('EXIF orientation', () => {
  it('is not applied, as Pillow and the Node decoders do not apply it (the browser does; it is undone)', async () => {
    const jpeg = new Uint8Array(
      await (await fetch(new URL('./fixtures/images/chelsea-420.jpg', import.meta.url))).arrayBuffer(),
    );
    const plain = await loadImage(new Blob([jpeg as Uint8Array<ArrayBuffer>]));
    for (const orientation of [2, 3, 4, 5, 6, 7, 8]) {
      // An APP1 "Exif" segment right after SOI: a big-endian TIFF whose IFD0 holds Orientation.
      const app1 = new Uint8Array([
        0xff,
        0xe1,
        0x00,
        0x22,
        0x45,
        0x78,
        0x69,
        0x66,
        0,
        0,
        0x4d,
        0x4d,
        0,
        0x2a,
        0,
        0,
        0,
        8,
        0,
        1,
        0x01,
        0x12,
        0,
        3,
        0,
        0,
        0,
        1,
        0,
        orientation,
        0,
        0,
        0,
        0,
        0,
        0,
      ]);
      const tagged = new Uint8Array(jpeg.length + app1.length);
      tagged.set(jpeg.subarray(0, 2));
      tagged.set(app1, 2);
      tagged.set(jpeg.subarray(2), 2 + app1.length);
      const image = await loadImage(new Blob([tagged]));
      expect([image.width, image.height], `orientation ${orientation}`).toEqual([plain.width, plain.height]);
      expect(
        mismatches(Uint8Array.from(image.data), Uint8Array.from(plain.data)),
        `orientation ${orientation}`,
      ).toBe(0);
    }
  });
});

it('an ImageData in display-p3 is refused rather than read as sRGB', () => {
  const p3 = new ImageData(new Uint8ClampedArray([200, 100, 50, 255]), 1, 1, { colorSpace: 'display-p3' });
  expect(() => toRgbImage(p3)).toThrow('the ImageData is in display-p3; read it as sRGB');
  const srgb = new ImageData(new Uint8ClampedArray([200, 100, 50, 255]), 1, 1);
  expect(Array.from(toRgbImage(srgb).data)).toEqual([200, 100, 50]);
});
