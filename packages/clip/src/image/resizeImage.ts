import type { RgbImage } from './toRgbImage.js';

/**
 * Resampling filters, as Pillow names them. Hugging Face preprocessor configs store them as numbers
 * (`PILImageResampling`): 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming.
 */
export type ResampleFilter = 'bicubic' | 'bilinear' | 'lanczos' | 'box' | 'hamming';

interface Filter {
  weight: (x: number) => number;
  support: number;
}

// Pillow's filters (libImaging/Resample.c). Arithmetic is in doubles like the C code, so the
// coefficients come out bit-identical.
const filters: Record<ResampleFilter, Filter> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    weight: (x) => {
      const ax = Math.abs(x);
      return ax < 1 ? 1 - ax : 0;
    },
  },
  bicubic: {
    support: 2,
    weight: (x) => {
      // Keys' cubic convolution with a = -0.5.
      const a = -0.5;
      const ax = Math.abs(x);
      if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
      if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * a;
      return 0;
    },
  },
  hamming: {
    support: 1,
    weight: (x) => {
      const ax = Math.abs(x);
      if (ax === 0) return 1;
      if (ax >= 1) return 0;
      const px = ax * Math.PI;
      // Pillow writes the constants as C floats (0.54f, 0.46f).
      return (Math.sin(px) / px) * (Math.fround(0.54) + Math.fround(0.46) * Math.cos(px));
    },
  },
  lanczos: {
    support: 3,
    weight: (x) => {
      if (x < -3 || x >= 3) return 0;
      const sinc = (v: number) => (v === 0 ? 1 : Math.sin(v * Math.PI) / (v * Math.PI));
      return sinc(x) * sinc(x / 3);
    },
  },
};

const resampleByNumber: Record<number, ResampleFilter> = {
  1: 'lanczos',
  2: 'bilinear',
  3: 'bicubic',
  4: 'box',
  5: 'hamming',
};

/**
 * Resolves a filter name or a Hugging Face / Pillow resample number to a {@link ResampleFilter}.
 *
 * @example
 * ```ts
 * resampleFilter(3); // 'bicubic'
 * ```
 */
export function resampleFilter(resample: ResampleFilter | number): ResampleFilter {
  if (typeof resample === 'number') {
    const name = resampleByNumber[resample];
    if (name) return name;
    throw new RangeError(
      `resample ${resample} is not supported (${resample === 0 ? 'nearest' : 'unknown'}); use 1 lanczos, 2 bilinear, 3 bicubic, 4 box or 5 hamming`,
    );
  }
  if (!Object.hasOwn(filters, resample)) {
    throw new RangeError(
      `resample ${JSON.stringify(resample)} is not one of ${Object.keys(filters).join(', ')}`,
    );
  }
  return resample;
}

/** Fixed-point bits of Pillow's 8-bit resampling: 32 - 8 - 2, leaving room for overshoot and sign. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** For each output index: first input index, tap count, and `ksize` fixed-point weights. */
interface Coefficients {
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  ksize: number;
}

function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  // Downscaling widens the filter so every input pixel contributes (antialiasing).
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const inverse = 1 / filterScale;
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    const min = Math.max(Math.trunc(center - support + 0.5), 0);
    const max = Math.min(Math.trunc(center + support + 0.5), inSize);
    const n = max - min;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      k[i] = filter.weight((i + min - center + 0.5) * inverse);
      sum += k[i]!;
    }
    for (let i = 0; i < n; i++) {
      const w = sum !== 0 ? k[i]! / sum : k[i]!;
      // Round half away from zero, then truncate toward zero, as Pillow's `(int)` cast does.
      weights[out * ksize + i] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    first[out] = min;
    count[out] = n;
  }
  return { first, count, weights, ksize };
}

/** The coefficients of outputs `[start, start + n)` alone. */
function sliceCoefficients(c: Coefficients, start: number, n: number): Coefficients {
  return {
    first: c.first.subarray(start, start + n),
    count: c.count.subarray(start, start + n),
    weights: c.weights.subarray(start * c.ksize, (start + n) * c.ksize),
    ksize: c.ksize,
  };
}

/** Pixels the resampling reads: packed RGB, or RGBA read in place (alpha skipped). */
type SourcePixels = RgbImage & { channels?: 3 | 4 };

/** Horizontal pass over rows `[rowStart, rowStart + rows)` of `src`; writes packed RGB. */
function resampleRows(
  src: SourcePixels,
  rowStart: number,
  rows: number,
  outWidth: number,
  c: Coefficients,
): Uint8Array {
  // A clamped array does Pillow's clip to 0..255 on store; the shift is its rounding down.
  const out = new Uint8ClampedArray(outWidth * rows * 3);
  const { first, count, weights, ksize } = c;
  const data = src.data;
  const step = src.channels ?? 3; // bytes per input pixel
  for (let y = 0; y < rows; y++) {
    const rowOffset = (y + rowStart) * src.width * step;
    const outOffset = y * outWidth * 3;
    for (let x = 0; x < outWidth; x++) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      const n = count[x]!;
      const w0 = x * ksize;
      let p = rowOffset + first[x]! * step;
      for (let i = 0; i < n; i++, p += step) {
        const w = weights[w0 + i]!;
        r += data[p]! * w;
        g += data[p + 1]! * w;
        b += data[p + 2]! * w;
      }
      const o = outOffset + x * 3;
      out[o] = r >> PRECISION_BITS;
      out[o + 1] = g >> PRECISION_BITS;
      out[o + 2] = b >> PRECISION_BITS;
    }
  }
  return new Uint8Array(out.buffer);
}

/** Vertical pass; `c.first` is relative to the first row of `src`. */
function resampleColumns(src: RgbImage, outHeight: number, c: Coefficients, rowShift: number): Uint8Array {
  const width = src.width;
  const stride = width * 3;
  const out = new Uint8ClampedArray(stride * outHeight);
  const { first, count, weights, ksize } = c;
  const data = src.data;
  for (let y = 0; y < outHeight; y++) {
    const n = count[y]!;
    const w0 = y * ksize;
    const top = (first[y]! - rowShift) * stride;
    for (let x = 0; x < stride; x++) {
      let s = HALF;
      let p = top + x;
      for (let i = 0; i < n; i++, p += stride) s += data[p]! * weights[w0 + i]!;
      out[y * stride + x] = s >> PRECISION_BITS;
    }
  }
  return new Uint8Array(out.buffer);
}

/**
 * Resizes 8-bit RGB pixels exactly as Pillow's `Image.resize((width, height), filter)` does for RGB
 * images: separable convolution, horizontal pass first, with the filter widened by the downscale
 * factor (antialiasing), weights normalized per output pixel and converted to 22-bit fixed point,
 * and each pass rounded and clipped to 8 bits. Results match Pillow bit for bit (the trigonometric
 * filters, lanczos and hamming, up to the last bit of `Math.sin`).
 *
 * @example
 * ```ts
 * const small = resizeImage({ data: rgb, width: 640, height: 427 }, 335, 224); // bicubic
 * ```
 */
export function resizeImage(
  image: RgbImage,
  width: number,
  height: number,
  resample: ResampleFilter | number = 'bicubic',
): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(
      `resizeImage(): cannot resize to ${width}x${height}; sizes must be positive integers`,
    );
  }
  if (image.data.length !== image.width * image.height * 3) {
    throw new RangeError(
      `resizeImage(): a ${image.width}x${image.height} RGB image needs ${image.width * image.height * 3} bytes, got ${image.data.length}`,
    );
  }
  return resizeWindow(image, width, height, resampleFilter(resample), {
    left: 0,
    top: 0,
    width,
    height,
  });
}

/** A window of a resized image: its top-left corner and size, in output pixels. */
export interface ResizeWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The `window` of {@link resizeImage}'s `width x height` result, computing only the pixels in it:
 * each pass's outputs depend on their own coefficients alone, so this is bit for bit the resize
 * followed by a crop, at the cost of the window (a 4:3 photo's center square skips a quarter of the
 * horizontal pass, the costly one when downscaling). `window` must lie inside the result. `image`
 * may be RGBA (`channels: 4`), read in place with its alpha dropped; the result is packed RGB.
 */
export function resizeWindow(
  image: SourcePixels,
  width: number,
  height: number,
  resample: ResampleFilter,
  window: ResizeWindow,
): RgbImage {
  const { left, top } = window;
  const filter = filters[resample];
  const horizontal = width !== image.width;
  const vertical = height !== image.height;
  // [win.height] rows of the vertical pass, or undefined when there is none.
  const rows = vertical
    ? sliceCoefficients(coefficients(image.height, height, filter), top, window.height)
    : undefined;
  // Only the input rows the vertical pass reads (as Pillow does), or the window's rows without it.
  const firstRow = rows ? rows.first[0]! : top;
  const lastRow = rows
    ? rows.first[window.height - 1]! + rows.count[window.height - 1]!
    : top + window.height;
  let current: RgbImage;
  if (horizontal) {
    const columns = sliceCoefficients(coefficients(image.width, width, filter), left, window.width);
    current = {
      data: resampleRows(image, firstRow, lastRow - firstRow, window.width, columns),
      width: window.width,
      height: lastRow - firstRow,
    };
  } else {
    // The window's columns of the rows needed, as they are (packed to RGB).
    const step = image.channels ?? 3;
    const data = new Uint8Array(window.width * (lastRow - firstRow) * 3);
    for (let y = firstRow, o = 0; y < lastRow; y++) {
      for (let x = 0, i = (y * image.width + left) * step; x < window.width; x++, i += step, o += 3) {
        data[o] = image.data[i]!;
        data[o + 1] = image.data[i + 1]!;
        data[o + 2] = image.data[i + 2]!;
      }
    }
    current = { data, width: window.width, height: lastRow - firstRow };
  }
  if (!rows) return current;
  return {
    data: resampleColumns(current, window.height, rows, firstRow),
    width: window.width,
    height: window.height,
  };
}
