import type { PreprocessOptions } from './preprocess.js';

/**
 * Reads a Hugging Face `preprocessor_config.json` (a `CLIPImageProcessor`) into
 * {@link PreprocessOptions}: mean, std, resize (`shortest_edge`, or an exact height and width),
 * center crop (or none when `do_center_crop` is false), resample filter and rescale factor. Fields
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
  if (Array.isArray(r.image_mean)) out.mean = r.image_mean as number[];
  if (Array.isArray(r.image_std)) out.std = r.image_std as number[];
  const size = r.size as { shortest_edge?: number; height?: number; width?: number } | number | undefined;
  if (typeof size === 'number') out.size = size;
  else if (size && typeof size.shortest_edge === 'number') out.size = size.shortest_edge;
  else if (size && typeof size.height === 'number' && typeof size.width === 'number')
    out.size = { height: size.height, width: size.width };
  const crop = r.crop_size as { height?: number; width?: number } | number | undefined;
  if (r.do_center_crop === false) out.crop = false;
  else if (typeof crop === 'number') out.crop = crop;
  else if (crop && typeof crop.height === 'number' && typeof crop.width === 'number')
    out.crop = { height: crop.height, width: crop.width };
  if (typeof r.resample === 'number') out.resample = r.resample;
  if (typeof r.rescale_factor === 'number') out.rescaleFactor = r.rescale_factor;
  return out;
}
