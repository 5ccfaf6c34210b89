import { type CropRule, centerCrop, cropStart } from './centerCrop.js';
import { longestEdgeSize } from './longestEdgeSize.js';
import { type ResampleFilter, resampleFilter, resizeImage, resizeWindow } from './resizeImage.js';
import { shortestEdgeSize } from './shortestEdgeSize.js';
import { type ImageInput, type RgbImage, interleavedPixels, packRgb } from './toRgbImage.js';
import { MAX_PIXELS } from './limits.js';
import { checkObject } from '../checkArguments.js';
import { rewordError } from '../rewordError.js';

/**
 * openai/CLIP's per-channel pixel mean (RGB, on the 0..1 scale): the default `mean` of
 * {@link preprocess}.
 *
 * @example
 * ```ts
 * const { shape } = preprocess(image, { mean: CLIP_IMAGE_MEAN, std: CLIP_IMAGE_STD }); // the defaults
 * shape; // [1, 3, 224, 224]
 * ```
 */
export const CLIP_IMAGE_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
/**
 * openai/CLIP's per-channel pixel standard deviation (RGB, on the 0..1 scale): the default `std` of
 * {@link preprocess}.
 *
 * @example
 * ```ts
 * const { pixelValues } = preprocess(image); // [1, 3, 224, 224], normalized
 * const red = (pixelValues[0]! * CLIP_IMAGE_STD[0] + CLIP_IMAGE_MEAN[0]) * 255; // first pixel, 0..255
 * ```
 */
export const CLIP_IMAGE_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** A size in pixels. */
export interface ImageSize {
  height: number;
  width: number;
}

/** Options for {@link preprocess}; the defaults are openai/CLIP's (ViT-B/32, ViT-B/16, ViT-L/14). */
export interface PreprocessOptions {
  /**
   * A number resizes the shorter side to it keeping the aspect ratio (224); `{ height, width }`
   * resizes to exactly that; `{ longestEdge }` resizes the longer side to it keeping the aspect
   * ratio (open_clip's `resize_mode: 'longest'`, then a crop pads the rest with black); `false`
   * keeps the image's size (HF `do_resize: false`).
   */
  size?: number | ImageSize | { longestEdge: number } | false;
  /** Center crop (224); `false` skips cropping (then every image must resize to the same size). */
  crop?: number | ImageSize | false;
  /** Whose center crop (see {@link centerCrop}): `'hf'` (the default) or `'torchvision'` (open_clip's). */
  cropRule?: CropRule;
  /** Resampling filter, or a Hugging Face `resample` number (3 = bicubic, the default). */
  resample?: ResampleFilter | number;
  /** Multiplies the 0..255 pixel values: 1/255 (any finite number but 0). */
  rescaleFactor?: number;
  /** Per-channel mean subtracted after rescaling: {@link CLIP_IMAGE_MEAN}. */
  mean?: readonly number[];
  /** Per-channel standard deviation divided by, each above 0: {@link CLIP_IMAGE_STD}. */
  std?: readonly number[];
}

/** A batch of normalized images, `[batch, 3, height, width]` (NCHW). */
export interface PreprocessedImages {
  pixelValues: Float32Array;
  shape: [number, number, number, number];
}

function asSize(value: number | ImageSize, what: string): ImageSize {
  const size = typeof value === 'number' ? { height: value, width: value } : value;
  if (
    !size ||
    !Number.isInteger(size.height) ||
    !Number.isInteger(size.width) ||
    size.height <= 0 ||
    size.width <= 0
  ) {
    throw new RangeError(
      `preprocess(): ${what} must be a positive integer or { height, width }, got ${JSON.stringify(value)}`,
    );
  }
  return size;
}

/** `size`, unless resizing or cropping to it would make an absurdly large image. */
function withinLimit(size: ImageSize, what: string, value: unknown): ImageSize {
  const pixels = size.width * size.height;
  if (pixels > MAX_PIXELS) {
    throw new RangeError(
      `preprocess(): ${what} ${JSON.stringify(value)} makes the image ${size.width}x${size.height} (${Math.round(pixels / 1e6)} megapixels), over the ${Math.round(MAX_PIXELS / 1e6)} allowed`,
    );
  }
  return size;
}

/** 3 finite numbers, each above 0 when `positive` (a std: it is divided by). */
function channelValues(values: readonly number[], what: string, positive = false): readonly number[] {
  const ok = (v: number) => Number.isFinite(v) && (!positive || v > 0);
  if (!Array.isArray(values) || values.length !== 3 || !values.every(ok)) {
    throw new RangeError(
      `preprocess(): ${what} must be 3 ${positive ? 'positive ' : ''}finite numbers (R, G, B), got ${JSON.stringify(values)}`,
    );
  }
  return values;
}

/** A finite number other than 0 (Hugging Face takes any; 0 would erase the image). */
function scaleFactor(value: number): number {
  if (!Number.isFinite(value) || value === 0) {
    throw new RangeError(
      `preprocess(): rescaleFactor must be a finite nonzero number, got ${typeof value === 'number' ? value : JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * The normalized value of every 8-bit level per channel, computed the way Hugging Face's image
 * processor does it: `float32(level * rescaleFactor)` (the product in float64), then
 * `(x - mean) / std` in float32.
 */
function normalizationTable(
  rescaleFactor: number,
  mean: readonly number[],
  std: readonly number[],
): Float32Array {
  const table = new Float32Array(3 * 256);
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    const m = f(mean[c]!);
    const s = f(std[c]!);
    for (let v = 0; v < 256; v++) table[c * 256 + v] = f(f(f(v * rescaleFactor) - m) / s);
  }
  return table;
}

/**
 * The 8-bit RGB pixels that {@link preprocess} normalizes: the image converted to RGB, resized (by
 * default the shorter side to 224, bicubic, bit-exact with Pillow) and center-cropped with Hugging
 * Face's rules.
 *
 * @example
 * ```ts
 * const { data, width, height } = preprocessToRgb(image); // 224 x 224 x 3 bytes
 * ```
 */
export function preprocessToRgb(
  image: ImageInput,
  options: Pick<PreprocessOptions, 'size' | 'crop' | 'resample' | 'cropRule'> = {},
): RgbImage {
  checkObject('preprocessToRgb()', 'options', options);
  try {
    return rgbOf(image, options);
  } catch (e) {
    throw calledBy(e, 'preprocessToRgb()');
  }
}

/** {@link preprocessToRgb}'s work, its errors starting `preprocess(): `. */
function rgbOf(
  image: ImageInput,
  options: Pick<PreprocessOptions, 'size' | 'crop' | 'resample' | 'cropRule'>,
): RgbImage {
  const pixels = interleavedPixels(image, 'preprocess()'); // RGB or RGBA, not copied
  const size = options.size ?? 224;
  const crop = options.crop ?? 224;
  const resample = options.resample ?? 'bicubic';
  const target = size === false ? pixels : withinLimit(resizeTarget(pixels, size), 'size', size);
  if (crop === false) {
    const rgb = packRgb(pixels);
    return size === false ? rgb : resizeImage(rgb, target.width, target.height, resample);
  }
  const { width, height } = withinLimit(asSize(crop, 'crop'), 'crop', crop);
  const rule = options.cropRule ?? 'hf';
  if (rule !== 'hf' && rule !== 'torchvision') {
    throw new RangeError(`preprocess(): cropRule must be 'hf' or 'torchvision', got ${JSON.stringify(rule)}`);
  }
  if (size !== false && width <= target.width && height <= target.height) {
    // The crop inside the resized image: only its pixels are resampled (bit for bit the same),
    // straight from RGBA when the image is.
    return resizeWindow(pixels, target.width, target.height, resampleFilter(resample), {
      left: cropStart(target.width, width, rule),
      top: cropStart(target.height, height, rule),
      width,
      height,
    });
  }
  const rgb = packRgb(pixels);
  const resized = size === false ? rgb : resizeImage(rgb, target.width, target.height, resample);
  return centerCrop(resized, width, height, rule);
}

/** The size `size` resizes an image to. */
function resizeTarget(rgb: RgbImage, size: Exclude<PreprocessOptions['size'], undefined | false>): ImageSize {
  if (typeof size === 'number') return shortestEdgeSize(rgb.width, rgb.height, asSize(size, 'size').width);
  if (size && typeof size === 'object' && 'longestEdge' in size) {
    const { width } = asSize(size.longestEdge, 'size.longestEdge');
    return longestEdgeSize(rgb.width, rgb.height, width);
  }
  return asSize(size, 'size');
}

/**
 * A preprocessing error (`preprocess(): ...`) said by `fn`, the function the caller called, which
 * ran preprocess's steps; `imageIndex` is kept.
 */
export function calledBy(e: unknown, fn: string): unknown {
  if (!(e instanceof Error) || !e.message.startsWith('preprocess(): ')) return e;
  const named = rewordError(e, `${fn}: ${e.message.slice('preprocess(): '.length)}`);
  const index = (e as { imageIndex?: unknown }).imageIndex;
  return index === undefined ? named : Object.assign(named, { imageIndex: index });
}

/** An error about one image of a list, naming its index; `imageIndex` carries it. */
function atImage(e: unknown, n: number): unknown {
  if (!(e instanceof Error)) return e;
  const named = rewordError(e, e.message.replace(/^preprocess\(\): /, `preprocess(): image ${n}: `));
  return Object.assign(named, { imageIndex: n });
}

/**
 * Turns images into CLIP's pixel input: each image is converted to RGB, its shorter side resized to
 * `size` with Pillow-exact bicubic resampling, center-cropped to `crop`, scaled by 1/255 and
 * normalized with the mean and std, as Hugging Face's `CLIPImageProcessor` does. Returns float32
 * values in NCHW order, `[images, 3, crop, crop]`. Pass a checkpoint's `preprocessor_config.json`
 * values (`size.shortest_edge`, `crop_size`, `image_mean`, `image_std`, `resample`) when they differ.
 *
 * @example
 * ```ts
 * const { pixelValues, shape } = preprocess([await loadImage('cat.jpg'), imageData]);
 * shape; // [2, 3, 224, 224]
 * ```
 */
export function preprocess(
  images: ImageInput | readonly ImageInput[],
  options: PreprocessOptions = {},
): PreprocessedImages {
  checkObject('preprocess()', 'options', options);
  const list = Array.isArray(images) ? (images as readonly ImageInput[]) : [images as ImageInput];
  const table = normalizationTable(
    scaleFactor(options.rescaleFactor ?? 1 / 255),
    channelValues(options.mean ?? CLIP_IMAGE_MEAN, 'mean'),
    channelValues(options.std ?? CLIP_IMAGE_STD, 'std', true),
  );
  const rgbs = list.map((image, n) => {
    try {
      return rgbOf(image, options);
    } catch (e) {
      throw Array.isArray(images) ? atImage(e, n) : e;
    }
  });
  const crop = options.crop ?? 224;
  // An empty batch still has the crop's shape.
  const { height, width } = rgbs[0] ?? (crop === false ? { height: 0, width: 0 } : asSize(crop, 'crop'));
  const plane = width * height;
  const pixelValues = new Float32Array(list.length * 3 * plane);
  rgbs.forEach((rgb, n) => {
    if (rgb.width !== width || rgb.height !== height) {
      throw new RangeError(
        `preprocess(): image ${n} comes out ${rgb.width}x${rgb.height} but image 0 is ${width}x${height}; set crop to batch them`,
      );
    }
    const base = n * 3 * plane;
    const data = rgb.data;
    for (let i = 0; i < plane; i++) {
      pixelValues[base + i] = table[data[i * 3]!]!;
      pixelValues[base + plane + i] = table[256 + data[i * 3 + 1]!]!;
      pixelValues[base + 2 * plane + i] = table[512 + data[i * 3 + 2]!]!;
    }
  });
  return { pixelValues, shape: [list.length, 3, height, width] };
}
