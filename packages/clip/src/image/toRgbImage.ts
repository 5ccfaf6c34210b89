import { Tensor } from '@vl/tensor';
import { argumentError } from '../checkArguments.js';
import { readPixels } from './readPixelsInBrowser.js';

/** 8-bit pixels in memory, row-major, RGBA or RGB interleaved. */
export interface PixelImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 4 (RGBA) or 3 (RGB). Inferred from `data.length` when left out. */
  channels?: 3 | 4;
}

/** Browser image sources, whose RGBA pixels are read through WebGL (or a canvas without it). */
export type DrawableImage =
  | ImageBitmap
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | OffscreenCanvas
  | VideoFrame;

/** Anything the preprocessing accepts as one image; `ImageData` is a {@link PixelImage}. */
export type ImageInput = PixelImage | DrawableImage;

/** Packed 8-bit RGB pixels, row-major: the form the resampling works on. */
export interface RgbImage {
  /** `width * height * 3` bytes. */
  data: Uint8Array;
  width: number;
  height: number;
}

function checkSize(width: unknown, height: unknown, what: string): void {
  for (const [name, value] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (typeof value !== 'number') {
      const got = typeof value === 'string' ? `the string ${JSON.stringify(value)}` : String(value);
      throw new TypeError(`${what}: the image's ${name} must be a positive integer (a number), got ${got}`);
    }
  }
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    (width as number) <= 0 ||
    (height as number) <= 0
  ) {
    throw new RangeError(
      `${what}: the image is ${width}x${height}; width and height must be positive integers`,
    );
  }
}

function isPixelImage(input: ImageInput): input is PixelImage {
  return (
    typeof input === 'object' && input !== null && 'data' in input && 'width' in input && 'height' in input
  );
}

function drawableSize(input: DrawableImage, what: string): [number, number] {
  if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement) {
    if (!input.complete || input.naturalWidth === 0) {
      throw new Error(
        `${what}: the <img> has not loaded (await img.decode() first) or is broken: ${input.src}`,
      );
    }
    return [input.naturalWidth, input.naturalHeight];
  }
  if (typeof HTMLVideoElement !== 'undefined' && input instanceof HTMLVideoElement) {
    // Its current frame, at the video's own size (not the element's width/height attributes).
    if (input.readyState < 2 || input.videoWidth === 0) {
      throw new Error(
        `${what}: the <video> has no frame yet (wait for its 'loadeddata' event): ${input.currentSrc}`,
      );
    }
    return [input.videoWidth, input.videoHeight];
  }
  if (typeof VideoFrame !== 'undefined' && input instanceof VideoFrame)
    return [input.displayWidth, input.displayHeight];
  // By name: a worker has no HTMLCanvasElement, and naming a missing class would throw.
  const g = globalThis as unknown as Record<string, (abstract new () => unknown) | undefined>;
  const known = ['ImageBitmap', 'HTMLCanvasElement', 'OffscreenCanvas'].some((name) => {
    const type = g[name];
    return typeof type === 'function' && input instanceof type;
  });
  if (!known) {
    throw new TypeError(
      `${what}: expected { data, width, height } pixels, ImageData, an ImageBitmap, an <img>, a <canvas>, a <video>, an OffscreenCanvas or a VideoFrame, got ${Object.prototype.toString.call(input).slice(8, -1)}`,
    );
  }
  const { width, height } = input as ImageBitmap | HTMLCanvasElement | OffscreenCanvas;
  return [width, height];
}

/** Draws a browser image onto a canvas of its own size and reads its RGBA pixels. */
function readDrawable(input: DrawableImage, what: string): PixelImage {
  if (typeof OffscreenCanvas === 'undefined') {
    throw new TypeError(
      `${what}: expected { data, width, height } pixels; images, bitmaps and canvases need a browser with OffscreenCanvas`,
    );
  }
  const [width, height] = drawableSize(input, what);
  checkSize(width, height, what);
  let data: Uint8Array | Uint8ClampedArray;
  try {
    data = readPixels(input, width, height, what);
  } catch (e) {
    if ((e as Error).name !== 'SecurityError') throw e;
    throw new Error(
      `${what}: the browser refuses to read this image's pixels: it comes from another origin without CORS (load it with crossOrigin = 'anonymous' from a server that allows it)`,
      { cause: e },
    );
  }
  return { data, width, height, channels: 4 };
}

/**
 * Converts an image to packed 8-bit RGB. Pixel buffers may be RGBA (the default when `data` holds
 * `width * height * 4` bytes) or RGB; alpha is dropped, not composited, as Pillow's
 * `convert('RGB')` does. In browsers, `ImageBitmap`, `<img>`, `<canvas>`, `<video>` (its current
 * frame), `OffscreenCanvas` and `VideoFrame` are read through WebGL, which keeps the colour of
 * transparent pixels (through a 2D canvas where WebGL2 is missing, which does not). The browser
 * colour-manages and rotates (EXIF) an `<img>`, so its pixels can differ from the file's: for the
 * pixels Pillow sees, decode the file with {@link loadImage}.
 *
 * @example
 * ```ts
 * const rgb = toRgbImage({ data: new Uint8Array(2 * 2 * 4), width: 2, height: 2 });
 * rgb.data.length; // 12
 * ```
 */
export function toRgbImage(input: ImageInput, what = 'toRgbImage()'): RgbImage {
  // Its own arguments in its own name: `what` names the caller only in what it says of the pixels.
  if (typeof what !== 'string')
    throw argumentError('toRgbImage()', 'what', 'a string naming the caller', what);
  if (typeof input !== 'object' || input === null || input instanceof Tensor)
    throw argumentError(
      'toRgbImage()',
      'input',
      'an image ({ data, width, height } pixels or a browser image)',
      input,
    );
  return packRgb(interleavedPixels(input, what));
}

/** 8-bit pixels as they are: RGB or RGBA interleaved, `channels` bytes per pixel. */
export interface InterleavedPixels extends RgbImage {
  channels: 3 | 4;
}

/**
 * An image's pixels checked (size, type, length, colour space) and read from a browser source
 * where needed, but not converted: RGBA stays RGBA, so a resampler can read it in place.
 */
export function interleavedPixels(input: ImageInput, what: string): InterleavedPixels {
  if (input === null || typeof input !== 'object') {
    throw new TypeError(`${what}: expected an image, got ${input === null ? 'null' : typeof input}`);
  }
  // A tensor is no browser image: said so here, not as a missing OffscreenCanvas.
  if (input instanceof Tensor)
    throw new TypeError(`${what}: expected an image, got a Tensor ${input.describe()}`);
  const pixels = isPixelImage(input) ? input : readDrawable(input, what);
  // An ImageData in another colour space holds other numbers for the same colour: say so rather
  // than read them as sRGB.
  const space = (pixels as { colorSpace?: unknown }).colorSpace;
  if (space !== undefined && space !== 'srgb') {
    throw new RangeError(
      `${what}: the ImageData is in ${String(space)}; read it as sRGB (getImageData(x, y, w, h, { colorSpace: 'srgb' }))`,
    );
  }
  const { data, width, height } = pixels;
  checkSize(width, height, what);
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new TypeError(
      `${what}: image data must be a Uint8Array or Uint8ClampedArray of 8-bit pixels, got ${Object.prototype.toString.call(data).slice(8, -1)}`,
    );
  }
  const pixelCount = width * height;
  let channels = pixels.channels;
  if (channels === undefined) {
    if (data.length === pixelCount * 4) channels = 4;
    else if (data.length === pixelCount * 3) channels = 3;
    else {
      throw new RangeError(
        `${what}: a ${width}x${height} image needs ${pixelCount * 4} bytes (RGBA) or ${pixelCount * 3} (RGB), got ${data.length}`,
      );
    }
  } else if (channels !== 3 && channels !== 4) {
    throw new RangeError(`${what}: channels must be 3 (RGB) or 4 (RGBA), got ${String(channels)}`);
  } else if (data.length !== pixelCount * channels) {
    throw new RangeError(
      `${what}: a ${width}x${height} image with ${channels} channels needs ${pixelCount * channels} bytes, got ${data.length}`,
    );
  }
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length);
  return { data: bytes, width, height, channels };
}

/** Packed RGB: the same bytes for RGB, alpha dropped for RGBA. */
export function packRgb({ data, width, height, channels }: InterleavedPixels): RgbImage {
  if (channels === 3) return { data, width, height };
  const pixelCount = width * height;
  const rgb = new Uint8Array(pixelCount * 3);
  for (let i = 0, j = 0; i < pixelCount * 4; i += 4, j += 3) {
    rgb[j] = data[i]!;
    rgb[j + 1] = data[i + 1]!;
    rgb[j + 2] = data[i + 2]!;
  }
  return { data: rgb, width, height };
}
