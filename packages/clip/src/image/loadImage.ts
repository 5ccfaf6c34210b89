import type { PixelImage } from './toRgbImage.js';
import { nodeIo } from '../nodeIo.js';
import { readExifOrientation, undoOrientation } from './exifOrientation.js';
import { readPixels } from './readPixelsInBrowser.js';

/** What {@link loadImage} reads: a path or URL, encoded bytes, or (in browsers) a `Blob`. */
export type ImageSource = string | URL | Uint8Array | ArrayBuffer | Blob;

function isNodeRuntime(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

function isRemote(source: string | URL): boolean {
  return source instanceof URL ? source.protocol !== 'file:' : /^(https?|blob|data):/i.test(source);
}

async function fetchBytes(source: string | URL): Promise<Uint8Array<ArrayBuffer>> {
  let response: Response;
  try {
    response = await fetch(source);
  } catch (e) {
    // Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, bad port, ...) is its cause.
    const cause = (e as Error).cause as { message?: string; code?: string } | undefined;
    const why = cause?.message ?? cause?.code;
    throw new Error(
      `loadImage(): could not fetch ${String(source)}: ${(e as Error).message}${why ? ` (${why})` : ''}`,
      { cause: e },
    );
  }
  if (!response.ok)
    throw new Error(
      `loadImage(): fetching ${String(source)} failed: ${response.status} ${response.statusText}`,
    );
  return new Uint8Array(await response.arrayBuffer());
}

async function decodeInBrowser(blob: Blob): Promise<PixelImage> {
  if (typeof createImageBitmap === 'undefined' || typeof OffscreenCanvas === 'undefined') {
    throw new Error(
      'loadImage(): this runtime has neither Node nor createImageBitmap and OffscreenCanvas to decode images',
    );
  }
  // No color management and no premultiplication, to stay close to Pillow, which ignores ICC
  // profiles; read through WebGL, which keeps transparent pixels' colour (a 2D canvas does not).
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new Error(
      `loadImage(): the browser could not decode the image (${(e as Error).message || (e as Error).name})`,
      {
        cause: e,
      },
    );
  }
  try {
    const data = readPixels(bitmap, bitmap.width, bitmap.height, 'loadImage()');
    // The browser applied the EXIF orientation; Pillow and the Node decoders do not: undone.
    const head = new Uint8Array(await blob.slice(0, 256 * 1024).arrayBuffer());
    const stored = undoOrientation(data, bitmap.width, bitmap.height, readExifOrientation(head));
    return { ...stored, channels: 4 };
  } finally {
    bitmap.close();
  }
}

/**
 * Loads and decodes an image into 8-bit pixels for {@link preprocess}. In Node it reads a path, a
 * `file:` URL or an http(s) URL, or takes the file's bytes, and decodes PNG (pngjs) and JPEG
 * (libjpeg-turbo in WebAssembly, Pillow's decoder, so the pixels equal Pillow's; jpeg-js for CMYK),
 * with nothing native to install. In browsers it fetches URLs and decodes with `createImageBitmap`,
 * so any format the browser knows works; the pixels are read unpremultiplied and without colour
 * conversion, and the EXIF orientation the browser applies is undone, as Pillow does not apply it.
 *
 * @example
 * ```ts
 * const image = await loadImage('photos/cat.jpg'); // { data, width, height, channels }
 * const { pixelValues } = preprocess(image);
 * ```
 */
export async function loadImage(source: ImageSource): Promise<PixelImage> {
  let bytes: Uint8Array | undefined;
  if (source instanceof Uint8Array) bytes = source;
  else if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else if (typeof Blob !== 'undefined' && source instanceof Blob) {
    if (!isNodeRuntime()) return decodeInBrowser(source);
    bytes = new Uint8Array(await source.arrayBuffer());
  } else if (typeof source === 'string' || source instanceof URL) {
    if (!isNodeRuntime()) return decodeInBrowser(new Blob([await fetchBytes(source)]));
    if (isRemote(source)) bytes = await fetchBytes(source);
    else {
      const { decodeImageFile } = await nodeIo();
      return decodeImageFile(source);
    }
  } else {
    throw new TypeError('loadImage(): expected a path, a URL, a Blob, a Uint8Array or an ArrayBuffer');
  }
  if (!isNodeRuntime()) return decodeInBrowser(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  const { decodeImageBytes } = await nodeIo();
  return decodeImageBytes(bytes);
}
