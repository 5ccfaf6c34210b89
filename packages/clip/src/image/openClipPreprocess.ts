// open_clip's image transform (`image_transform` in open_clip's transform.py) as PreprocessOptions,
// from the `preprocess_cfg` of an `open_clip_config.json`:
//   resize_mode 'shortest' (default): Resize(S) on the shorter side, then CenterCrop(S)
//   resize_mode 'squash': Resize((S, S)), no crop
//   resize_mode 'longest': ResizeKeepRatio(S, longest=1), then CenterCropOrPad(S, fill=fill_color)
//   interpolation 'bicubic' (default) or 'bilinear'; 'random' is for training and infers bicubic.
// Crops are torchvision's (offsets rounded half to even, padding floor(margin / 2) before).
import { describeValue } from '../model/config.js';
import type { PreprocessOptions } from './preprocess.js';

function fieldError(field: string, expected: string, got: unknown): RangeError {
  return new RangeError(
    `open_clip config: preprocess_cfg.${field} must be ${expected}, got ${describeValue(got)}`,
  );
}

function channels(value: unknown, field: string): number[] | undefined {
  if (value === undefined || value === null) return undefined;
  const ok = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (ok(value)) return [value as number, value as number, value as number];
  if (Array.isArray(value) && value.length === 3 && value.every(ok)) return value as number[];
  throw fieldError(field, 'three numbers (R, G, B)', value);
}

/**
 * {@link PreprocessOptions} for an open_clip `preprocess_cfg` and the model's `image_size`: mean,
 * std, `resize_mode` (`'shortest'`, `'squash'`, `'longest'`), `interpolation` (`'bicubic'`,
 * `'bilinear'`, or `'random'`, which open_clip infers as bicubic), `fill_color` (0) and `size`,
 * which must be the model's. An unknown value is an error naming the field; keys open_clip's
 * `PreprocessCfg` does not have (`url`, `hf_hub`, ...) are not read.
 *
 * @example
 * ```ts
 * preprocessOptionsFromOpenClip({ resize_mode: 'squash' }, 224);
 * // { cropRule: 'torchvision', size: { height: 224, width: 224 }, crop: false }
 * ```
 */
export function preprocessOptionsFromOpenClip(raw: unknown, imageSize: number): PreprocessOptions {
  const out: PreprocessOptions = { cropRule: 'torchvision' };
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new TypeError(`open_clip config: preprocess_cfg must be an object, got ${describeValue(raw)}`);
  const r = raw as Record<string, unknown>;
  const mean = channels(r.mean, 'mean');
  if (mean) out.mean = mean;
  const std = channels(r.std, 'std');
  if (std) out.std = std;
  const size = r.size ?? imageSize;
  const square = Array.isArray(size) ? size.length === 2 && size[0] === size[1] && size[0] : size;
  if (square !== imageSize)
    throw fieldError('size', `the model's image_size ${imageSize} (or [${imageSize}, ${imageSize}])`, size);
  const mode = r.mode ?? 'RGB';
  if (mode !== 'RGB') throw fieldError('mode', "'RGB'", mode);
  const interpolation = r.interpolation ?? 'bicubic';
  if (interpolation === 'bilinear') out.resample = 'bilinear';
  else if (interpolation !== 'bicubic' && interpolation !== 'random')
    throw fieldError('interpolation', "'bicubic', 'bilinear' or 'random'", interpolation);
  const fill = r.fill_color ?? 0;
  const resizeMode = r.resize_mode ?? 'shortest';
  if (resizeMode === 'squash') return { ...out, size: { height: imageSize, width: imageSize }, crop: false };
  if (resizeMode === 'longest') {
    if (fill !== 0)
      throw fieldError('fill_color', '0 (black padding; other fills are not implemented)', fill);
    return { ...out, size: { longestEdge: imageSize }, crop: imageSize };
  }
  if (resizeMode !== 'shortest')
    throw fieldError('resize_mode', "'shortest', 'squash' or 'longest'", resizeMode);
  return out;
}
