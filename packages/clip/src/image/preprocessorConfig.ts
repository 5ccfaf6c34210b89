import type { PreprocessOptions } from './preprocess.js';

/**
 * Reads a Hugging Face `preprocessor_config.json` (a `CLIPImageProcessor`) into
 * {@link PreprocessOptions}: mean, std, resize (`shortest_edge`, or an exact height and width),
 * center crop (or none when `do_center_crop` is false), resample filter and rescale factor, and the
 * `do_resize` / `do_rescale` / `do_normalize` switches (false skips the step). Fields
 * it does not hold are left out, so callers can spread it over their defaults; undefined for
 * anything that is not an object.
 *
 * @example
 * ```ts
 * const options = preprocessOptionsFromHf(JSON.parse(await readFile('preprocessor_config.json', 'utf8')));
 * const { pixelValues } = preprocess(image, options);
 * ```
 */
export function preprocessOptionsFromHf(raw: unknown): PreprocessOptions | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const out: PreprocessOptions = {};
  const mean = channels(r, 'image_mean');
  if (mean) out.mean = mean;
  const std = channels(r, 'image_std', true);
  if (std) out.std = std;
  for (const flag of ['do_resize', 'do_center_crop', 'do_rescale', 'do_normalize'])
    if (r[flag] != null && typeof r[flag] !== 'boolean') throw fieldError(flag, 'true or false', r[flag]);
  // The steps the processor skips: no normalization is mean 0 and std 1, no rescale a factor 1.
  if (r.do_normalize === false) {
    out.mean = [0, 0, 0];
    out.std = [1, 1, 1];
  }
  const size = r.size as { shortest_edge?: unknown; height?: unknown; width?: unknown } | number | undefined;
  if (typeof size === 'number') out.size = positive(size, 'size');
  else if (isObject(size) && size.shortest_edge != null)
    out.size = positive(size.shortest_edge, 'size.shortest_edge');
  else if (isObject(size) && (size.height != null || size.width != null))
    out.size = { height: positive(size.height, 'size.height'), width: positive(size.width, 'size.width') };
  else if (size !== undefined && size !== null)
    throw fieldError('size', 'a number or { shortest_edge } or { height, width }', size);
  if (r.do_resize === false) out.size = false;
  const crop = r.crop_size as { height?: unknown; width?: unknown } | number | undefined;
  if (r.do_center_crop === false) out.crop = false;
  else if (typeof crop === 'number') out.crop = positive(crop, 'crop_size');
  else if (isObject(crop))
    out.crop = {
      height: positive(crop.height, 'crop_size.height'),
      width: positive(crop.width, 'crop_size.width'),
    };
  else if (crop !== undefined && crop !== null)
    throw fieldError('crop_size', 'a number or { height, width }', crop);
  if (r.resample !== undefined && r.resample !== null) {
    if (!Number.isInteger(r.resample) || (r.resample as number) < 0 || (r.resample as number) > 5)
      throw fieldError('resample', "one of PIL's filter numbers 0..5", r.resample);
    // Said at load, not at the first image.
    if (r.resample === 0)
      throw fieldError('resample', 'a filter this package resamples with (1..5; not 0, nearest)', 0);
    out.resample = r.resample as number;
  }
  if (r.rescale_factor !== undefined && r.rescale_factor !== null)
    out.rescaleFactor = positive(r.rescale_factor, 'rescale_factor', false);
  if (r.do_rescale === false) out.rescaleFactor = 1;
  return out;
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  !!x && typeof x === 'object' && !Array.isArray(x);

function fieldError(field: string, expected: string, got: unknown): TypeError {
  return new TypeError(`preprocessor_config.json: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
}

/** A positive number (an integer unless `integer` is false), else an error naming the field. */
function positive(x: unknown, field: string, integer = true): number {
  if (typeof x !== 'number' || !(x > 0) || !Number.isFinite(x) || (integer && !Number.isInteger(x)))
    throw fieldError(field, integer ? 'a positive integer' : 'a positive number', x);
  return x;
}

/**
 * A per-channel list (a single number stands for all three, as transformers allows), each above 0
 * when `positive` (a std: it is divided by).
 */
function channels(r: Record<string, unknown>, field: string, positive = false): number[] | undefined {
  const v = r[field];
  if (v === undefined || v === null) return undefined;
  const ok = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0);
  if (ok(v)) return [v as number, v as number, v as number];
  if (Array.isArray(v) && v.length === 3 && v.every(ok)) return v as number[];
  throw fieldError(field, `three ${positive ? 'positive ' : ''}numbers (or one for every channel)`, v);
}
