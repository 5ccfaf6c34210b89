import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import jpegJs from 'jpeg-js';
import { createBackend } from '@vl/tensor';
import { describe, expect, it } from 'vitest';
// Modules are imported directly (not through src/index.ts) so these tests do not depend on the
// model code that the index also exports.
import { centerCrop } from '../src/image/centerCrop.js';
import { loadImage } from '../src/image/loadImage.js';
import { CLIP_IMAGE_MEAN, CLIP_IMAGE_STD, preprocess, preprocessToRgb } from '../src/image/preprocess.js';
import { preprocessToTensor } from '../src/image/preprocessToTensor.js';
import { resizeImage, resizeWindow } from '../src/image/resizeImage.js';
import { shortestEdgeSize } from '../src/image/shortestEdgeSize.js';
import { type RgbImage, toRgbImage } from '../src/image/toRgbImage.js';

interface PillowCase {
  name: string;
  input:
    | { kind: 'generated'; width: number; height: number; seed: number }
    | { kind: 'file'; file: string; pillowPixels?: string };
  inputSize: [number, number];
  inputFnv1a: number;
  size: number;
  resized: [number, number];
  crop: [number, number];
  resample: 'bicubic' | 'bilinear' | 'lanczos' | 'box' | 'hamming';
  expected: string;
}

const fixture = (path: string) => fileURLToPath(new URL(`./fixtures/${path}`, import.meta.url));
// Written by tooling/pillow-reference/make_reference.py (Pillow resize + Hugging Face center crop).
const manifest: { pillow: string; cases: PillowCase[] } = JSON.parse(
  readFileSync(fixture('pillow/manifest.json'), 'utf8'),
);

/** The generator of make_reference.py, line for line (integer arithmetic only). */
function generate(width: number, height: number, seed: number): RgbImage {
  let state = seed >>> 0;
  const noise = () => {
    state = (state ^ (state << 13)) >>> 0;
    state = (state ^ (state >>> 17)) >>> 0;
    state = (state ^ (state << 5)) >>> 0;
    return (state % 25) - 12;
  };
  const div = (a: number, b: number) => Math.floor(a / b);
  const clamp = (v: number) => Math.min(Math.max(v, 0), 255);
  const data = new Uint8Array(width * height * 3);
  const radius2 = div(Math.min(width, height), 3) ** 2 + 1;
  const period = div(width, 4) + 9;
  let i = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const gx = div(x * 255, Math.max(width - 1, 1));
      const gy = div(y * 255, Math.max(height - 1, 1));
      let r = 30 + div(gx * 3, 5) + div(gy, 4);
      let g = 60 + div(gy * 2, 3) - div(gx, 6);
      let b = 230 - div(gy * 4, 5) + div(gx, 8);
      const dx = x - div(2 * width, 3);
      const dy = y - div(height, 3);
      const d2 = dx * dx + dy * dy;
      if (d2 < radius2) {
        const t = div((radius2 - d2) * 200, radius2);
        r += t;
        g += div(t * 3, 4);
        b += div(t, 3);
      }
      if ((x + 2 * y) % period < div(period, 5)) {
        r = div(r, 5);
        g = div(g, 5);
        b = div(b, 4);
      }
      if (x < div(width, 6) && y >= height - div(height, 5)) r = g = b = 255;
      if (x >= width - div(width, 7) && y < div(height, 6)) r = g = b = 0;
      data[i] = clamp(r + noise());
      data[i + 1] = clamp(g + noise());
      data[i + 2] = clamp(b + noise());
      i += 3;
    }
  }
  return { data, width, height };
}

function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const byte of bytes) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** Share of equal values, share within one level, and the largest difference. */
function agreement(actual: Uint8Array, expected: Uint8Array) {
  expect(actual.length).toBe(expected.length);
  let exact = 0;
  let within1 = 0;
  let maxDiff = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (d === 0) exact++;
    if (d <= 1) within1++;
    if (d > maxDiff) maxDiff = d;
  }
  return { exact: exact / actual.length, within1: within1 / actual.length, maxDiff };
}

/** Byte equality of two typed arrays (vitest's deep equality is slow on large arrays). */
function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

async function loadRgb(path: string): Promise<RgbImage> {
  return toRgbImage(await loadImage(fixture(path)));
}

async function pillowInput(c: PillowCase): Promise<RgbImage> {
  if (c.input.kind === 'generated') return generate(c.input.width, c.input.height, c.input.seed);
  return loadRgb(c.input.pillowPixels ? `pillow/${c.input.pillowPixels}` : `images/${c.input.file}`);
}

describe('preprocessing matches Pillow + Hugging Face', () => {
  it(`resizes and crops every reference image like Pillow ${manifest.pillow}`, async () => {
    expect(manifest.cases.length).toBeGreaterThanOrEqual(10);
    const rows: string[] = [];
    for (const c of manifest.cases) {
      const input = await pillowInput(c);
      // The input is the same pixels Pillow started from.
      expect([input.width, input.height], c.name).toEqual(c.inputSize);
      expect(fnv1a(input.data), `${c.name} input checksum`).toBe(c.inputFnv1a);
      expect(shortestEdgeSize(input.width, input.height, c.size), c.name).toEqual({
        width: c.resized[0],
        height: c.resized[1],
      });
      const ours = preprocessToRgb(input, {
        size: c.size,
        crop: { width: c.crop[0], height: c.crop[1] },
        resample: c.resample,
      });
      const expected = await loadRgb(`pillow/${c.expected}`);
      expect([ours.width, ours.height], c.name).toEqual(c.crop);
      const a = agreement(ours.data, expected.data);
      rows.push(`${c.name}: ${(a.exact * 100).toFixed(3)}% exact, max diff ${a.maxDiff}`);
      expect(a.within1, `${c.name} within 1/255`).toBeGreaterThanOrEqual(0.99);
      // Bit-exact today; a regression here means the resampling drifted from Pillow's.
      expect(a.exact, `${c.name} exact`).toBe(1);
    }
    console.info(`Pillow ${manifest.pillow} agreement:\n  ${rows.join('\n  ')}`);
  });

  it('normalizes to CLIP pixel values within 1/255 of Pillow + HF', async () => {
    const cases = manifest.cases.filter(
      (c) => c.crop[0] === 224 && c.crop[1] === 224 && c.resample === 'bicubic',
    );
    const inputs = await Promise.all(cases.map(pillowInput));
    const { pixelValues, shape } = preprocess(inputs);
    expect(shape).toEqual([cases.length, 3, 224, 224]);
    const plane = 224 * 224;
    for (const [n, c] of cases.entries()) {
      const expected = (await loadRgb(`pillow/${c.expected}`)).data;
      let close = 0;
      for (let ch = 0; ch < 3; ch++) {
        for (let i = 0; i < plane; i++) {
          const value = pixelValues[(n * 3 + ch) * plane + i]!;
          const level = (value * CLIP_IMAGE_STD[ch]! + CLIP_IMAGE_MEAN[ch]!) * 255;
          if (Math.abs(level - expected[i * 3 + ch]!) <= 1) close++;
        }
      }
      expect(close / (3 * plane), c.name).toBeGreaterThanOrEqual(0.99);
    }
  });

  // libjpeg-turbo (WebAssembly) decodes: Pillow's own decoder, so equal pixels, for a 4:4:4 photo and
  // a 4:2:0 one (the chroma upsampling jpeg-js did differently, up to 18 levels off).
  // chelsea-420-arith.jpg: chelsea-420.jpg re-coded by `jpegtran -arithmetic` (the same coefficients).
  it.each([
    ['rocket', 'rocket'],
    ['chelsea-420', 'chelsea-420'],
    ['chelsea-420-arith', 'chelsea-420'],
  ])('decodes %s.jpg to exactly the pixels Pillow decodes', async (name, reference) => {
    const jpeg = await loadRgb(`images/${name}.jpg`);
    const pillow = await loadRgb(`pillow/${reference}.pillow.png`);
    const a = agreement(jpeg.data, pillow.data);
    expect([jpeg.width, jpeg.height]).toEqual([pillow.width, pillow.height]);
    expect(a.maxDiff, `${name}.jpg: ${(a.exact * 100).toFixed(2)}% exact`).toBe(0);
    if (name === 'rocket') {
      const resized = agreement(
        preprocessToRgb(jpeg).data,
        (await loadRgb('pillow/rocket.expected.png')).data,
      );
      expect(resized.within1).toBeGreaterThanOrEqual(0.99);
    }
  });
});

describe('a resize window is the resize then a crop, bit for bit', () => {
  it('for every filter, up and down, either axis or both, corners and the center', () => {
    let seed = 7;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    for (const filter of ['bicubic', 'bilinear', 'lanczos', 'box', 'hamming'] as const) {
      for (const [w, h, W, H] of [
        [97, 61, 40, 26], // down both
        [31, 23, 70, 52], // up both
        [64, 48, 64, 30], // vertical only
        [64, 48, 20, 48], // horizontal only
        [50, 50, 50, 50], // neither
      ] as const) {
        const image = {
          data: Uint8Array.from({ length: w * h * 3 }, () => next() >>> 24),
          width: w,
          height: h,
        };
        const whole = resizeImage(image, W, H, filter);
        for (const win of [
          { left: 0, top: 0, width: W, height: H },
          { left: 0, top: 0, width: 7, height: 5 },
          { left: W - 9, top: H - 4, width: 9, height: 4 },
          { left: Math.floor((W - 11) / 2), top: Math.floor((H - 13) / 2), width: 11, height: 13 },
        ]) {
          const got = resizeWindow(image, W, H, filter, win);
          const want = centerCropAt(whole, win);
          // The same pixels as RGBA, read in place with their alpha skipped.
          const rgba = new Uint8Array(w * h * 4).map((_, i) =>
            i % 4 === 3 ? next() >>> 24 : image.data[(i >> 2) * 3 + (i % 4)]!,
          );
          const fromRgba = resizeWindow({ data: rgba, width: w, height: h, channels: 4 }, W, H, filter, win);
          expect(Buffer.from(fromRgba.data).equals(Buffer.from(want)), `RGBA ${filter} ${w}x${h}`).toBe(true);
          expect([got.width, got.height]).toEqual([win.width, win.height]);
          expect(
            Buffer.from(got.data).equals(Buffer.from(want)),
            `${filter} ${w}x${h}->${W}x${H} ${JSON.stringify(win)}`,
          ).toBe(true);
        }
      }
    }
  });
});

/** The pixels of `win` cut out of `image`. */
function centerCropAt(
  image: RgbImage,
  win: { left: number; top: number; width: number; height: number },
): Uint8Array {
  const out = new Uint8Array(win.width * win.height * 3);
  for (let y = 0; y < win.height; y++) {
    const from = ((win.top + y) * image.width + win.left) * 3;
    out.set(image.data.subarray(from, from + win.width * 3), y * win.width * 3);
  }
  return out;
}

describe('image inputs', () => {
  const rgba = { data: new Uint8Array(3 * 2 * 4).map((_, i) => i * 10), width: 3, height: 2 };

  it('drops alpha from RGBA and accepts RGB, Uint8ClampedArray and explicit channels', () => {
    const rgb = toRgbImage(rgba);
    expect(Array.from(rgb.data.subarray(0, 6))).toEqual([0, 10, 20, 40, 50, 60]);
    const fromRgb = toRgbImage({ data: rgb.data, width: 3, height: 2 });
    expect(sameBytes(fromRgb.data, rgb.data)).toBe(true);
    const clamped = toRgbImage({ ...rgba, data: new Uint8ClampedArray(rgba.data), channels: 4 });
    expect(sameBytes(clamped.data, rgb.data)).toBe(true);
    expect(sameBytes(preprocess(rgba).pixelValues, preprocess(fromRgb).pixelValues)).toBe(true);
  });

  it('explains bad images', () => {
    expect(() => preprocess({ data: new Uint8Array(0), width: 0, height: 5 })).toThrow(
      'the image is 0x5; width and height must be positive integers',
    );
    expect(() => preprocess({ data: new Uint8Array(10), width: 3, height: 2 })).toThrow(
      'a 3x2 image needs 24 bytes (RGBA) or 18 (RGB), got 10',
    );
    expect(() => preprocess({ data: new Uint8Array(12), width: 3, height: 2, channels: 2 as 3 })).toThrow(
      'channels must be 3 (RGB) or 4 (RGBA), got 2',
    );
    expect(() => preprocess({ data: new Uint8Array(24), width: 3, height: 2, channels: 3 })).toThrow(
      'with 3 channels needs 18 bytes, got 24',
    );
    expect(() =>
      preprocess({ data: new Float32Array(24) as unknown as Uint8Array, width: 3, height: 2 }),
    ).toThrow('got Float32Array');
    expect(() => preprocess(null as unknown as Uint8Array as never)).toThrow('expected an image, got null');
    expect(() => preprocess([rgba, { ...rgba, width: 2, height: 3 }], { crop: false })).toThrow(
      'image 1 comes out 224x336 but image 0 is 336x224',
    );
    expect(() => preprocess(rgba, { resample: 0 })).toThrow('resample 0 is not supported (nearest)');
    expect(() => preprocess(rgba, { mean: [0.5, 0.5] })).toThrow('mean must be 3 finite numbers');
    expect(() => preprocess(rgba, { crop: 0 })).toThrow('crop must be a positive integer');
    expect(() => preprocess(rgba, { size: 1e6 })).toThrow(
      'size 1000000 makes the image 1500000x1000000 (1500000 megapixels), over the 179 allowed',
    );
    expect(() => preprocess(rgba, { crop: { height: 1e5, width: 1e5 } })).toThrow(
      'preprocess(): crop {"height":100000,"width":100000} makes the image 100000x100000',
    );
    expect(() => preprocess(rgba, { rescaleFactor: Number.NaN })).toThrow(
      'rescaleFactor must be a finite nonzero number, got NaN',
    );
    expect(() => preprocess(rgba, { rescaleFactor: '1/255' as unknown as number })).toThrow(
      'rescaleFactor must be a finite nonzero number, got "1/255"',
    );
    expect(() => preprocess(rgba, { std: [0, 0.26, 0.27] })).toThrow('std must be 3 positive finite numbers');
  });

  it('center-crops with HF rounding and pads small images with black', () => {
    const image = {
      data: new Uint8Array(5 * 4 * 3).map((_, i) => 1 + Math.floor(i / 3)),
      width: 5,
      height: 4,
    };
    // floor((5 - 2) / 2) = 1, floor((4 - 3) / 2) = 0.
    expect(Array.from(centerCrop(image, 2, 3).data.filter((_, i) => i % 3 === 0))).toEqual([
      2, 3, 7, 8, 12, 13,
    ]);
    // Padding: 5 -> 8 wide puts ceil(3 / 2) = 2 columns before; 4 -> 5 high puts 1 row before.
    const padded = centerCrop(image, 8, 5);
    const firstChannel = Array.from(padded.data.filter((_, i) => i % 3 === 0));
    expect(firstChannel.slice(0, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(firstChannel.slice(8, 16)).toEqual([0, 0, 1, 2, 3, 4, 5, 0]);
    expect(shortestEdgeSize(37, 53, 224)).toEqual({ width: 224, height: 320 });
    expect(shortestEdgeSize(1000, 700, 224)).toEqual({ width: 320, height: 224 });
  });

  it('resizes exactly to a requested size and keeps same-size images', () => {
    const image = generate(20, 10, 9);
    expect(sameBytes(resizeImage(image, 20, 10).data, image.data)).toBe(true);
    const { shape } = preprocess(image, { size: { height: 32, width: 48 }, crop: false });
    expect(shape).toEqual([1, 3, 32, 48]);
    expect(preprocess([], {}).shape).toEqual([0, 3, 224, 224]);
  });

  it('makes a tensor on a backend', async () => {
    const backend = await createBackend('cpu');
    try {
      const image = generate(40, 30, 11);
      const t = preprocessToTensor([image, image], backend, { size: 16, crop: 16 });
      expect(t.shape).toEqual([2, 3, 16, 16]);
      expect(t.dtype).toBe('f32');
      const values = await t.read();
      expect(Array.from(values)).toEqual(
        Array.from(preprocess([image, image], { size: 16, crop: 16 }).pixelValues),
      );
      t.dispose();
    } finally {
      backend.dispose();
    }
  });

  it('loads PNG and JPEG files and bytes in Node, and rejects other data', async () => {
    const png = await loadImage(fixture('images/chelsea.png'));
    expect([png.width, png.height, png.channels]).toEqual([451, 300, 4]);
    const jpeg = await loadImage(readFileSync(fixture('images/rocket.jpg')));
    expect([jpeg.width, jpeg.height, jpeg.channels]).toEqual([640, 427, 3]);
    await expect(loadImage(new TextEncoder().encode('GIF89a...'))).rejects.toThrow(
      'image: not a PNG or JPEG file (it starts with bytes 47 49 46 38)',
    );
    await expect(loadImage(fixture('images/missing.png'))).rejects.toThrow(
      /loadImage\(\): cannot read .*missing\.png: ENOENT/,
    );
  });

  it('names what is wrong with a damaged, empty, oversized or unsupported file', async () => {
    const pngBytes = new Uint8Array(readFileSync(fixture('images/chelsea.png')));
    const jpegBytes = new Uint8Array(readFileSync(fixture('images/rocket.jpg')));
    const withSize = (bytes: Uint8Array, width: number, height: number) => {
      const copy = bytes.slice();
      const view = new DataView(copy.buffer);
      view.setUint32(16, width); // IHDR width, height
      view.setUint32(20, height);
      return copy;
    };
    await expect(loadImage(new Uint8Array(0))).rejects.toThrow('image: not a PNG or JPEG file (it is empty)');
    await expect(loadImage(pngBytes.subarray(0, 20))).rejects.toThrow(
      'image: a truncated PNG file (20 bytes; its header alone takes 33)',
    );
    await expect(loadImage(pngBytes.subarray(0, pngBytes.length >> 1))).rejects.toThrow(
      /image: a truncated or corrupt PNG file \(the decoder says: .+\)/,
    );
    await expect(loadImage(withSize(pngBytes, 0, 300))).rejects.toThrow(
      'the image is 0x300: it has no pixels',
    );
    await expect(loadImage(withSize(pngBytes, 100_000, 100_000))).rejects.toThrow(
      "the image is 100000x100000 (10000 megapixels), over the 179 megapixels decoded at most (Pillow's decompression-bomb limit)",
    );
    // The frame header's marker (SOF0, baseline) turned into SOF3 (lossless).
    const sof = jpegBytes.findIndex((b, i) => b === 0xff && jpegBytes[i + 1] === 0xc0);
    const lossless = jpegBytes.slice();
    lossless[sof + 1] = 0xc3;
    await expect(loadImage(lossless)).rejects.toThrow(
      'a lossless JPEG (frame type SOF3), which the decoder does not read',
    );
    await expect(loadImage(jpegBytes.subarray(0, sof))).rejects.toThrow(
      'a truncated JPEG file (it ends before its frame header)',
    );
    await expect(loadImage(jpegBytes.subarray(0, jpegBytes.length >> 1))).rejects.toThrow(
      /image: a truncated or corrupt JPEG file/,
    );
    // A few KB declaring 8192x8192: refused before the decoder allocates for every block.
    const huge = jpegBytes.slice(0, 3000);
    huge.set([0x20, 0x00, 0x20, 0x00], sof + 5); // height, width
    await expect(loadImage(huge)).rejects.toThrow(
      /image: a truncated JPEG file \(its frame header declares 8192x8192, which takes at least \d+ bytes of image data, but only \d+ bytes follow it\)/,
    );
    const twoComponents = jpegBytes.slice();
    twoComponents[sof + 9] = 2;
    await expect(loadImage(twoComponents)).rejects.toThrow(
      'a JPEG with 2 color components, which neither this decoder nor Pillow reads',
    );
  });

  it("decodes a 52-megapixel JPEG (past jpeg-js's own 512 MB default, within Pillow's limit)", async () => {
    // One flat color encodes fast; the decoder still allocates for every pixel.
    const [w, h] = [7504, 7000];
    const bytes = jpegJs.encode({ data: new Uint8Array(w * h * 4).fill(128), width: w, height: h }, 50).data;
    const image = await loadImage(new Uint8Array(bytes));
    expect([image.width, image.height, image.channels]).toEqual([w, h, 3]);
    expect(Math.abs(image.data[image.data.length >> 1]! - 128)).toBeLessThanOrEqual(2);
  }, 60_000);
});

function pngChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
}

const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/**
 * A PNG from samples (row-major, `channels` per pixel, any color type and bit depth), optionally
 * Adam7-interlaced, with extra chunks (PLTE, tRNS) before IDAT.
 */
function makePng(
  width: number,
  height: number,
  colorType: number,
  depth: number,
  samples: number[],
  { interlace = false, extra = [] as Buffer[] } = {},
): Buffer {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType]!;
  const row = (y: number, xs: number[]): number[] => {
    const bits: number[] = [];
    for (const x of xs)
      for (let c = 0; c < channels; c++) {
        const v = samples[(y * width + x) * channels + c]!;
        if (depth === 16) bits.push(v >> 8, v & 255);
        else if (depth === 8) bits.push(v);
        else for (let b = depth - 1; b >= 0; b--) bits.push((v >> b) & 1);
      }
    if (depth >= 8) return [0, ...bits];
    const bytes = [0];
    for (let i = 0; i < bits.length; i += 8) {
      let byte = 0;
      for (let b = 0; b < 8; b++) byte = (byte << 1) | (bits[i + b] ?? 0);
      bytes.push(byte);
    }
    return bytes;
  };
  const raw: number[] = [];
  const passes = interlace ? ADAM7 : ([[0, 0, 1, 1]] as const);
  for (const [x0, y0, dx, dy] of passes) {
    const xs: number[] = [];
    for (let x = x0; x < width; x += dx) xs.push(x);
    if (xs.length === 0) continue;
    for (let y = y0; y < height; y += dy) raw.push(...row(y, xs));
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([depth, colorType, 0, 0, interlace ? 1 : 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    ...extra,
    pngChunk('IDAT', deflateSync(Buffer.from(raw))),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const rgbOf = (image: Parameters<typeof toRgbImage>[0]) => Array.from(toRgbImage(image).data);

/** 16x16 of (200, 30, 60) saved by Pillow 12.3 with `keep_rgb=True`: components R, G, B, Adobe APP14 transform 0 (no YCbCr). Pillow reads every pixel back as (200, 30, 60). */
const RGB_JPG = b64(
  '/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwACAQEBAQECAQEBAgICAgIEAwICAgIFBAQDBAYFBgYGBQYGBgcJCAYHCQcGBggLCAkK' +
    'CgoKCgYICwwLCgwJCgoK/8AAEQgAEAAQA1IRAEcRAEIRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQ' +
    'AAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5' +
    'OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TF' +
    'xsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAAwDUgBHAEIAAD8A/SCvx3r876KKKKKKKKK//9k=',
);
/** 8x8 CMYK (10, 200, 40, 30) saved by Pillow 12.3, then its Adobe APP14 segment removed. Pillow still opens it as CMYK; `convert('RGB')` gives (216, 49, 190) everywhere. */
const CMYK_NO_ADOBE_JPG = b64(
  '/9j/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/' +
    'wAAUCAAIAAgEQxEATREAWREASxEA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQA' +
    'AAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVW' +
    'V1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ' +
    '2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oADgRDAE0AWQBLAAA/AP3Ur826/Vyv2Er/2Q==',
);

/** CMYK_NO_ADOBE_JPG re-coded by `jpegtran -arithmetic`: arithmetic-coded CMYK. */
const CMYK_ARITHMETIC_JPG = b64(
  '/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwACAQEBAQECAQEBAgICAgIEAwICAgIFBAQDBAYFBgYGBQYGBgcJCAYHCQcGBggLCAkK' +
    'CgoKCgYICwwLCgwJCgoK/8kAFAgACAAIBEMRAE0RAFkRAEsRAP/MAAYAEBAF/9oADgRDAE0AWQBLAAA/ANLlCept6swY/9k=',
);

// Expected values were checked against Pillow 12.3 (libjpeg-turbo), Image.open(f).convert('RGB').
describe('PNG and JPEG variants decode like Pillow', () => {
  it('reads RGB JPEGs as RGB and CMYK JPEGs without an Adobe marker as CMYK, as libjpeg does', async () => {
    // Components R, G, B with Adobe APP14 transform 0: no YCbCr conversion.
    expect(rgbOf(await loadImage(RGB_JPG))).toEqual(
      Array(16 * 16)
        .fill([200, 30, 60])
        .flat(),
    );
    // Pillow assumes Adobe's inverted CMYK for every CMYK JPEG; jpeg-js alone refuses this file.
    const cmyk = rgbOf(await loadImage(CMYK_NO_ADOBE_JPG));
    const pillow = [216, 49, 190];
    expect(cmyk.length).toBe(8 * 8 * 3);
    expect(
      cmyk.every((v, i) => Math.abs(v - pillow[i % 3]!) <= 1),
      `got ${cmyk.slice(0, 3)}`,
    ).toBe(true);
  });

  it('refuses arithmetic-coded CMYK by name (jpeg-js reads CMYK, but no arithmetic coding)', async () => {
    await expect(loadImage(CMYK_ARITHMETIC_JPG)).rejects.toThrow(
      'an arithmetic-coded CMYK JPEG (frame type SOF9), which the decoder does not read; save it with Huffman coding or as RGB',
    );
  });

  it('reads a PNG followed by other bytes, stopping at IEND as Pillow does', async () => {
    const png = makePng(2, 1, 2, 8, [1, 2, 3, 4, 5, 6]);
    expect(rgbOf(await loadImage(Buffer.concat([png, Buffer.alloc(16)])))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('keeps the color of tRNS color keys in gray and RGB PNGs, and the palette color in palette PNGs', async () => {
    const gray = makePng(2, 1, 0, 8, [17, 200], { extra: [pngChunk('tRNS', new Uint8Array([0, 17]))] });
    expect(rgbOf(await loadImage(gray))).toEqual([17, 17, 17, 200, 200, 200]);
    const rgb = makePng(2, 1, 2, 8, [255, 0, 0, 1, 2, 3], {
      extra: [pngChunk('tRNS', new Uint8Array([0, 255, 0, 0, 0, 0]))],
    });
    expect(rgbOf(await loadImage(rgb))).toEqual([255, 0, 0, 1, 2, 3]);
    const palette = makePng(2, 1, 3, 4, [0, 1], {
      extra: [
        pngChunk('PLTE', new Uint8Array([10, 20, 30, 40, 50, 60])),
        pngChunk('tRNS', new Uint8Array([0])),
      ],
    });
    expect(rgbOf(await loadImage(palette))).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it('spreads low bit depths over 0..255, keeps the high byte of 16 bits, reads Adam7 like plain rows', async () => {
    for (const depth of [1, 2, 4]) {
      const levels = Array.from({ length: 2 ** depth }, (_, i) => i);
      const gray = rgbOf(await loadImage(makePng(levels.length, 1, 0, depth, levels)));
      expect(gray.filter((_, i) => i % 3 === 0)).toEqual(levels.map((x) => (x * 255) / (2 ** depth - 1)));
    }
    const rgb16 = makePng(1, 1, 2, 16, [0x12ff, 0xab00, 0x7f80]);
    expect(rgbOf(await loadImage(rgb16))).toEqual([0x12, 0xab, 0x7f]);
    const [w, h] = [13, 11];
    const samples = Array.from({ length: w * h * 4 }, (_, i) => (i * 29) % 256);
    const plain = await loadImage(makePng(w, h, 6, 8, samples));
    const interlaced = await loadImage(makePng(w, h, 6, 8, samples, { interlace: true }));
    expect(Array.from(plain.data)).toEqual(samples);
    expect(Array.from(interlaced.data)).toEqual(samples);
  });
});

describe('loadImage sources', () => {
  it('reads a file: URL given as a string (what import.meta.resolve returns)', async () => {
    const image = await loadImage(pathToFileURL(fixture('images/chelsea.png')).href);
    expect([image.width, image.height]).toEqual([451, 300]);
  });

  it('decodes byteOffset views, Blobs and ArrayBuffers like the plain bytes, and leaves them as they are', async () => {
    const png = makePng(
      3,
      2,
      2,
      8,
      Array.from({ length: 18 }, (_, i) => i * 13),
    );
    const data = new Uint8Array(16 * 16 * 4).map((_, i) => i % 255);
    const jpeg = new Uint8Array(jpegJs.encode({ data, width: 16, height: 16 }, 90).data);
    for (const bytes of [new Uint8Array(png), jpeg]) {
      const expected = rgbOf(await loadImage(bytes.slice()));
      const padded = new Uint8Array(bytes.length + 11);
      padded.set(bytes, 5);
      const view = padded.subarray(5, 5 + bytes.length);
      for (const source of [view, new Blob([bytes]), bytes.slice().buffer]) {
        expect(rgbOf(await loadImage(source))).toEqual(expected);
      }
      expect(Array.from(view)).toEqual(Array.from(bytes));
    }
  });
});
