import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { describeValue } from '../options.js';
import type { ShapesImage } from '../renderScene.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Decodes PNG or JPEG bytes (told apart by their signature) to 8-bit RGBA. Node only. 16-bit PNGs
 * keep the high byte; transparency is kept in the alpha channel. Anything but a Uint8Array (an
 * ArrayBuffer, say) throws a TypeError.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const { data, width, height } = decodeImage(readFileSync('photo.jpg'), 'photo.jpg');
 * ```
 */
export function decodeImage(bytes: Uint8Array, name = 'image'): ShapesImage {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(
      `decodeImage(): bytes must be a Uint8Array (or a Buffer), got ${describeValue(bytes)}`,
    );
  }
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    try {
      const png = pngjs.PNG.sync.read(buffer);
      return { data: new Uint8ClampedArray(png.data), width: png.width, height: png.height };
    } catch (error) {
      throw new Error(`decodeImage(): ${name} is not a readable PNG: ${(error as Error).message}`);
    }
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    try {
      const decoded = jpeg.decode(buffer, { useTArray: true, formatAsRGBA: true });
      return { data: new Uint8ClampedArray(decoded.data), width: decoded.width, height: decoded.height };
    } catch (error) {
      throw new Error(`decodeImage(): ${name} is not a readable JPEG: ${(error as Error).message}`);
    }
  }
  throw new Error(`decodeImage(): ${name} is neither PNG nor JPEG (unknown signature)`);
}
