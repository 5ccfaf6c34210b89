// Node-only: imported by the Node entry (index.node.ts), or loaded by nodeIo.ts through a specifier
// bundlers do not follow, so browser bundles never load it (browsers decode with createImageBitmap).
//
// Decoders, chosen to give Pillow's pixels and to install anywhere Node runs (no native build, no
// download at install): `pngjs` (pure JavaScript; PNG decoding is exact) and, for JPEG, libjpeg-turbo
// compiled to WebAssembly (@cornerstonejs/codec-libjpeg-turbo-8bit; ./decodeJpegTurbo.ts), the
// library Pillow itself decodes with, so JPEG pixels are equal to Pillow's too. `jpeg-js` (pure
// JavaScript, within a level of Pillow there) reads the CMYK files the WebAssembly build cannot turn
// into RGB. `sharp` would be faster but ships libvips binaries per platform.
import { readFile } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import type { PixelImage } from '../toRgbImage.js';
import { MAX_PIXELS, sizeProblem } from '../limits.js';
import { decodeJpegTurbo } from './decodeJpegTurbo.js';
import { type JpegHeader, jpegHeaderProblem, readJpegHeader, startsWith } from './jpegHeader.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The chunks pngjs is given: those up to the end of `IEND` (Pillow stops reading there; pngjs
 * rejects anything after it, such as appended data), less any `tRNS` chunk of a grayscale or
 * truecolor PNG. Such a chunk marks one color as transparent; pngjs would turn those pixels black,
 * while Pillow's `convert('RGB')` keeps their color.
 */
function pngjsInput(bytes: Uint8Array): Buffer {
  const colorKeyed = bytes[25] === 0 || bytes[25] === 2; // IHDR color type: gray or truecolor
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kept: Uint8Array[] = [bytes.subarray(0, 8)];
  let at = 8;
  while (at + 12 <= bytes.length) {
    const end = Math.min(at + 12 + view.getUint32(at), bytes.length);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (!(type === 'tRNS' && colorKeyed)) kept.push(bytes.subarray(at, end));
    at = end;
    if (type === 'IEND') return Buffer.concat(kept);
  }
  kept.push(bytes.subarray(at)); // no IEND: a truncated file goes to pngjs as it is, for it to say so
  return Buffer.concat(kept);
}

function decodePng(bytes: Uint8Array): PixelImage {
  const png = pngjs.PNG.sync.read(pngjsInput(bytes), { skipRescale: true });
  const { width, height, depth } = png;
  const colorType: number = png.colorType; // 3 (palette) is missing from @types/pngjs
  const raw = png.data as Uint8Array | Uint16Array;
  let data: Uint8Array;
  if (depth === 16) {
    // The high byte, as Pillow reads 16-bit color and gray-with-alpha. Plain 16-bit gray it opens as
    // mode I;16 and clips to 255 in convert('RGB'); the high byte is the useful reading of it too.
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

/** A synthetic Adobe APP14 segment: "Adobe", version 100, no flags, transform 0 (no YCC). */
const ADOBE_NO_TRANSFORM = [
  0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/**
 * libjpeg-turbo (Pillow's decoder: equal pixels) for gray and colour files; jpeg-js for CMYK, which
 * the WebAssembly build does not output as RGB, and for files libjpeg-turbo refuses over damage it
 * only warns about in Pillow (jpeg-js is as lenient; a file neither reads is reported by jpeg-js).
 */
function decodeJpeg(bytes: Uint8Array, header: JpegHeader): PixelImage {
  if (header.frame?.components.length !== 4) {
    try {
      return { ...decodeJpegTurbo(bytes), channels: 3 };
    } catch {
      // jpeg-js below, which says what is wrong if it cannot read the file either
    }
  }
  return decodeJpegJs(bytes, header);
}

function decodeJpegJs(bytes: Uint8Array, header: JpegHeader): PixelImage {
  const ids = header.frame?.components.map((c) => c.id) ?? [];
  // libjpeg's rule (jdapimin.c) for 3 components: a JFIF marker means YCbCr, else an Adobe marker's
  // transform (0: RGB), else component IDs 'R', 'G', 'B' mean RGB. jpeg-js converts from YCbCr
  // unless told not to.
  const rgb =
    ids.length === 3 &&
    !header.jfif &&
    (header.adobeTransform === undefined ? ids.join() === '82,71,66' : header.adobeTransform === 0);
  // libjpeg (so Pillow) reads 4 components without an Adobe marker as CMYK inverted the way Adobe
  // writes it; jpeg-js refuses them, so they get a marker that says exactly that, after SOI.
  let input = bytes;
  if (ids.length === 4 && header.adobeTransform === undefined) {
    input = new Uint8Array(bytes.length + ADOBE_NO_TRANSFORM.length);
    input.set(bytes.subarray(0, 2));
    input.set(ADOBE_NO_TRANSFORM, 2);
    input.set(bytes.subarray(2), 2 + ADOBE_NO_TRANSFORM.length);
  }
  // jpeg-js's own defaults (100 megapixels, 512 MB of decoder memory, which it reaches near 50
  // megapixels) would refuse photos that Pillow opens: allow what sizeProblem allows, and the
  // ~10 bytes a pixel the decoder takes for them.
  const { data, width, height } = jpeg.decode(input, {
    useTArray: true,
    formatAsRGBA: false,
    colorTransform: rgb ? false : undefined,
    maxResolutionInMP: MAX_PIXELS / 1e6,
    maxMemoryUsageInMB: Math.ceil((MAX_PIXELS * 12) / 2 ** 20),
  });
  return { data, width, height, channels: 3 };
}

/** What is wrong with a PNG's header (IHDR: width and height at bytes 16-23), if anything. */
function pngHeaderProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < 33) return `a truncated PNG file (${bytes.length} bytes; its header alone takes 33)`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return sizeProblem(view.getUint32(16), view.getUint32(20));
}

/**
 * Decodes PNG or JPEG bytes (recognized by their signature) into 8-bit pixels: RGBA for PNG, RGB for
 * JPEG, as Pillow's `convert('RGB')` reads them, with one exception: of 16-bit PNG samples the high
 * byte is kept, which is what Pillow does except for 16-bit grayscale without alpha (it clips those
 * values to 255, turning every pixel above 255 of 65535 white; the high byte keeps the picture).
 * Palettes and 1, 2 and 4-bit gray are expanded as in Pillow. EXIF orientation is not applied, as
 * in Pillow's `Image.open`.
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
    const jpegHeader = png ? undefined : readJpegHeader(bytes);
    const problem = jpegHeader ? jpegHeaderProblem(bytes, jpegHeader) : pngHeaderProblem(bytes);
    if (problem) throw new Error(`loadImage(): ${name}: ${problem}`);
    try {
      return jpegHeader ? decodeJpeg(bytes, jpegHeader) : decodePng(bytes);
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
    // A `file:` URL string (what import.meta.resolve returns) is a URL, not a relative path.
    buffer = await readFile(typeof source === 'string' && /^file:/i.test(source) ? new URL(source) : source);
  } catch (e) {
    throw new Error(`loadImage(): cannot read ${String(source)}: ${(e as Error).message}`, { cause: e });
  }
  return decodeImageBytes(
    new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength),
    String(source),
  );
}
