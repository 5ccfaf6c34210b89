import pngjs from 'pngjs';
import { describeValue } from '../options.js';
import type { ShapesImage } from '../renderScene.js';

/**
 * An 8-bit image in memory, RGBA (4 channels) or RGB (3), row-major.
 *
 * @example
 * ```ts
 * const red: RgbaImage = { data: new Uint8Array([255, 0, 0]), width: 1, height: 1 };
 * ```
 */
export interface RgbaImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

/**
 * Encodes an 8-bit RGBA (or RGB) image as PNG bytes (8-bit RGBA, lossless). Node only (pngjs uses
 * Node's zlib).
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * writeFileSync('sample.png', encodePng(generateShapes(1).image));
 * ```
 */
export function encodePng(image: RgbaImage | ShapesImage): Uint8Array {
  if (typeof image !== 'object' || image === null || Array.isArray(image)) {
    throw new TypeError(
      `encodePng(): image must be an object { data, width, height }, got ${describeValue(image)}`,
    );
  }
  const { data, width, height } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng(): width and height must be positive integers, got ${width}x${height}`);
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new TypeError(
      `encodePng(): image.data must be a Uint8Array or Uint8ClampedArray of 8-bit pixels, got ${describeValue(data)}`,
    );
  }
  const pixels = width * height;
  let rgba: Uint8Array;
  if (data.length === pixels * 4) {
    rgba = new Uint8Array(data.buffer, data.byteOffset, data.length);
  } else if (data.length === pixels * 3) {
    rgba = new Uint8Array(pixels * 4);
    for (let i = 0; i < pixels; i++) {
      rgba[i * 4] = data[i * 3]!;
      rgba[i * 4 + 1] = data[i * 3 + 1]!;
      rgba[i * 4 + 2] = data[i * 3 + 2]!;
      rgba[i * 4 + 3] = 255;
    }
  } else {
    throw new RangeError(
      `encodePng(): data has ${data.length} bytes; a ${width}x${height} image needs ${pixels * 4} (RGBA) or ${pixels * 3} (RGB)`,
    );
  }
  const png = new pngjs.PNG({ width, height });
  png.data = Buffer.from(rgba); // a copy: the caller's pixels are never touched
  // A copy: a small PNG is a view into Node's shared Buffer pool, whose `.buffer` holds other data.
  return new Uint8Array(pngjs.PNG.sync.write(png, { colorType: 6 }));
}
