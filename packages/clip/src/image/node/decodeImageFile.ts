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

function decodeJpeg(bytes: Uint8Array): PixelImage {
  const { data, width, height } = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
  return { data, width, height, channels: 3 };
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
  try {
    if (startsWith(bytes, PNG_SIGNATURE)) return decodePng(bytes);
    if (startsWith(bytes, [0xff, 0xd8, 0xff])) return decodeJpeg(bytes);
  } catch (e) {
    throw new Error(`loadImage(): could not decode ${name}: ${(e as Error).message}`, { cause: e });
  }
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(
    `loadImage(): ${name} is not a PNG or JPEG file (it starts with bytes ${head || '(none)'})`,
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
