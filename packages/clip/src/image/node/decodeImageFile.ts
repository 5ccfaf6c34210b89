// Node-only: reached from loadImage() through a guarded dynamic import, so browser bundles never load
// it (browsers decode with createImageBitmap instead).
//
// Decoders: `pngjs` and `jpeg-js`. Both are pure JavaScript (no native build, no install scripts,
// nothing to download, so they install anywhere Node runs, CI included), decode synchronously from a
// buffer, and are the most used packages of their kind on npm. `sharp` is faster but native (libvips
// binaries per platform); WASM ports of libjpeg-turbo would match Pillow's JPEG output exactly but add
// a .wasm asset and async initialization. jpeg-js's IDCT and chroma upsampling differ from libjpeg's,
// so JPEG pixels can differ from Pillow's by a few levels (PNG decoding is exact).
import { readFile } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import type { PixelImage } from '../toRgbImage.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

/**
 * Drops a `tRNS` chunk from a grayscale or truecolor PNG. Such a chunk marks one color as transparent;
 * pngjs would turn those pixels black, while Pillow's `convert('RGB')` keeps their color.
 */
function withoutColorKey(bytes: Uint8Array): Uint8Array {
  const colorType = bytes[25];
  if (colorType !== 0 && colorType !== 2) return bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kept: Uint8Array[] = [bytes.subarray(0, 8)];
  let found = false;
  for (let at = 8; at + 12 <= bytes.length; ) {
    const length = view.getUint32(at);
    const end = Math.min(at + 12 + length, bytes.length);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (type === 'tRNS') found = true;
    else kept.push(bytes.subarray(at, end));
    at = end;
  }
  return found ? Buffer.concat(kept) : bytes;
}

function decodePng(bytes: Uint8Array): PixelImage {
  const png = pngjs.PNG.sync.read(Buffer.from(withoutColorKey(bytes)), { skipRescale: true });
  const { width, height, depth } = png;
  const colorType: number = png.colorType; // 3 (palette) is missing from @types/pngjs
  const raw = png.data as Uint8Array | Uint16Array;
  let data: Uint8Array;
  if (depth === 16) {
    // Pillow keeps the high byte of 16-bit color samples (16-bit grayscale it opens as 32-bit integers
    // and clips to 255 on conversion; the high byte is the useful reading, so it is used for both).
    data = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) data[i] = raw[i]! >> 8;
  } else if (depth < 8 && colorType !== 3) {
    // 1, 2 and 4-bit gray levels spread over 0..255 (x255, x85, x17), as Pillow unpacks them.
    const scale = 255 / (2 ** depth - 1);
    data = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) data[i] = raw[i]! * scale;
  } else {
    data = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  }
  return { data, width, height, channels: 4 };
}

/** Pillow's decompression-bomb limit: it refuses images over twice its MAX_IMAGE_PIXELS (89,478,485). */
const MAX_PIXELS = 2 * 89_478_485;

function decodeJpeg(bytes: Uint8Array): PixelImage {
  // jpeg-js's own defaults (100 megapixels, 512 MB of decoder memory, which it reaches near 50
  // megapixels) would refuse photos that Pillow opens: allow what sizeProblem allows, and the
  // ~10 bytes a pixel the decoder takes for them.
  const { data, width, height } = jpeg.decode(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    maxResolutionInMP: MAX_PIXELS / 1e6,
    maxMemoryUsageInMB: Math.ceil((MAX_PIXELS * 12) / 2 ** 20),
  });
  return { data, width, height, channels: 3 };
}

function sizeProblem(width: number, height: number): string | undefined {
  if (width === 0 || height === 0) return `the image is ${width}x${height}: it has no pixels`;
  if (width * height > MAX_PIXELS)
    return `the image is ${width}x${height} (${Math.round((width * height) / 1e6)} megapixels), over the ${Math.round(MAX_PIXELS / 1e6)} megapixels decoded at most (Pillow's decompression-bomb limit)`;
  return undefined;
}

/** What is wrong with a PNG's header (IHDR: width and height at bytes 16-23), if anything. */
function pngHeaderProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < 33) return `a truncated PNG file (${bytes.length} bytes; its header alone takes 33)`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return sizeProblem(view.getUint32(16), view.getUint32(20));
}

/** JPEG frame types by SOF marker (0xffc0 + n) that jpeg-js does not decode. */
const UNSUPPORTED_SOF: Record<number, string> = {
  3: 'lossless',
  5: 'hierarchical',
  6: 'hierarchical',
  7: 'hierarchical',
  9: 'arithmetic-coded',
  10: 'arithmetic-coded',
  11: 'arithmetic-coded',
  13: 'hierarchical',
  14: 'hierarchical',
  15: 'hierarchical',
};

/** What is wrong with a JPEG's frame header (its SOF segment), if anything. */
function jpegHeaderProblem(bytes: Uint8Array): string | undefined {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined; // not a marker where one should be: the decoder will say
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof) {
      const kind = UNSUPPORTED_SOF[marker - 0xc0];
      if (kind)
        return `${kind.startsWith('a') ? 'an' : 'a'} ${kind} JPEG (frame type SOF${marker - 0xc0}), which the decoder does not read; save it as a baseline or progressive JPEG, or as PNG`;
      if (at + 9 > bytes.length) return 'a truncated JPEG file (it ends inside its frame header)';
      const height = (bytes[at + 5]! << 8) | bytes[at + 6]!;
      const width = (bytes[at + 7]! << 8) | bytes[at + 8]!;
      return height === 0 ? undefined : sizeProblem(width, height); // height 0: given later (DNL)
    }
    if (marker === 0xda) return undefined; // scan data before any frame header: the decoder will say
    at += 2 + length;
  }
  return 'a truncated JPEG file (it ends before its frame header)';
}

/**
 * Decodes PNG or JPEG bytes (recognized by their signature) into 8-bit pixels: RGBA for PNG (palette,
 * gray and 16-bit images expanded the way Pillow reads them), RGB for JPEG. EXIF orientation is not
 * applied, as in Pillow's `Image.open`.
 *
 * @example
 * ```ts
 * const { data, width, height, channels } = decodeImageBytes(readFileSync('cat.png'));
 * ```
 */
export function decodeImageBytes(bytes: Uint8Array, name = 'image'): PixelImage {
  const png = startsWith(bytes, PNG_SIGNATURE);
  const jpg = !png && startsWith(bytes, [0xff, 0xd8, 0xff]);
  if (png || jpg) {
    const format = png ? 'PNG' : 'JPEG';
    const problem = png ? pngHeaderProblem(bytes) : jpegHeaderProblem(bytes);
    if (problem) throw new Error(`loadImage(): ${name}: ${problem}`);
    try {
      return png ? decodePng(bytes) : decodeJpeg(bytes);
    } catch (e) {
      const detail = (e as Error).message;
      throw new Error(
        `loadImage(): ${name}: a truncated or corrupt ${format} file (the decoder says: ${detail})`,
        {
          cause: e,
        },
      );
    }
  }
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(
    `loadImage(): ${name}: not a PNG or JPEG file (${head ? `it starts with bytes ${head}` : 'it is empty'})`,
  );
}

/**
 * Reads and decodes a PNG or JPEG file (a path or `file:` URL) or bytes in Node.
 *
 * @example
 * ```ts
 * const image = await decodeImageFile('photos/cat.jpg');
 * ```
 */
export async function decodeImageFile(source: string | URL | Uint8Array | ArrayBuffer): Promise<PixelImage> {
  if (source instanceof Uint8Array) return decodeImageBytes(source);
  if (source instanceof ArrayBuffer) return decodeImageBytes(new Uint8Array(source));
  let buffer: Buffer;
  try {
    buffer = await readFile(source);
  } catch (e) {
    throw new Error(`loadImage(): cannot read ${String(source)}: ${(e as Error).message}`, { cause: e });
  }
  return decodeImageBytes(
    new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength),
    String(source),
  );
}
