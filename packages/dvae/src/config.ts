// Configs with the field names and defaults of openai/DALL-E's `dall_e` Encoder and Decoder
// (attrs classes), so a checkpoint's config.json reads without renaming.
import { Tensor } from '@vl/tensor';
import { describeValue } from './describeValue.js';

/**
 * The DALL-E dVAE encoder's hyperparameters (`dall_e/encoder.py`).
 *
 * @example
 * ```ts
 * const enc: DvaeEncoderConfig = { ...defaultEncoderConfig, n_hid: 64, vocab_size: 512 };
 * ```
 */
export interface DvaeEncoderConfig {
  /** Number of resolution groups; the image shrinks by 2^(group_count - 1). */
  group_count: number;
  /** Width of the first group; group g has `2^(g-1) * n_hid` channels. */
  n_hid: number;
  /** Residual blocks per group. */
  n_blk_per_group: number;
  /** Image channels (3 for RGB). */
  input_channels: number;
  /** Codebook size: the number of logits per grid cell. */
  vocab_size: number;
}

/**
 * The DALL-E dVAE decoder's hyperparameters (`dall_e/decoder.py`).
 *
 * @example
 * ```ts
 * const dec: DvaeDecoderConfig = { ...defaultDecoderConfig, n_init: 32, n_hid: 64 };
 * ```
 */
export interface DvaeDecoderConfig {
  /** Number of resolution groups; the grid grows by 2^(group_count - 1). */
  group_count: number;
  /** Channels after the input 1x1 conv from the one-hot grid. */
  n_init: number;
  /** Width of the last group; group g has `2^(group_count-g) * n_hid` channels. */
  n_hid: number;
  /** Residual blocks per group. */
  n_blk_per_group: number;
  /** Image channels; the output has twice as many (logit-Laplace location and log-scale). */
  output_channels: number;
  /** Codebook size: the depth of the one-hot input. */
  vocab_size: number;
}

/**
 * Both halves of the dVAE and the pixel-mapping epsilon.
 *
 * @example
 * ```ts
 * const config = parseDvaeConfig(await loadJson(joinSource(folder, 'config.json')));
 * ```
 */
export interface DvaeConfig {
  /** The encoder half (images to codebook logits). */
  encoder: DvaeEncoderConfig;
  /** The decoder half (one-hot token grids to logit-Laplace statistics). */
  decoder: DvaeDecoderConfig;
  /** Epsilon of `map_pixels` / `unmap_pixels` (0.1 in DALL-E). */
  logit_laplace_eps: number;
}

/**
 * The official encoder's defaults (256x256 RGB images to a 32x32 grid over 8192 codes).
 *
 * @example
 * ```ts
 * const vocab = defaultEncoderConfig.vocab_size; // 8192
 * ```
 */
export const defaultEncoderConfig: Readonly<DvaeEncoderConfig> = Object.freeze({
  group_count: 4,
  n_hid: 256,
  n_blk_per_group: 2,
  input_channels: 3,
  vocab_size: 8192,
});

/**
 * The official decoder's defaults.
 *
 * @example
 * ```ts
 * const init = defaultDecoderConfig.n_init; // 128
 * ```
 */
export const defaultDecoderConfig: Readonly<DvaeDecoderConfig> = Object.freeze({
  group_count: 4,
  n_init: 128,
  n_hid: 256,
  n_blk_per_group: 2,
  output_channels: 3,
  vocab_size: 8192,
});

/**
 * The epsilon DALL-E uses to keep pixels away from 0 and 1 (`logit_laplace_eps`).
 *
 * @example
 * ```ts
 * const lo = LOGIT_LAPLACE_EPS; // 0.1: mapped pixels lie in [0.1, 0.9]
 * ```
 */
export const LOGIT_LAPLACE_EPS = 0.1;

/** `section[key]`, an integer of at least `min` (a null is a value, not the default). */
function positiveInt(
  section: Record<string, unknown>,
  key: string,
  fallback: number,
  where: string,
  min = 1,
): number {
  const v = section[key] === undefined ? fallback : section[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new TypeError(
      `parseDvaeConfig: ${where}.${key} must be a positive integer, got ${JSON.stringify(v)}`,
    );
  }
  if (v < min) {
    throw new RangeError(
      `parseDvaeConfig: ${where}.${key} must be at least ${min}, got ${v} (${WHY_MIN[key]})`,
    );
  }
  return v;
}

/** Why a field has a minimum above 1. */
const WHY_MIN: Record<string, string> = {
  n_hid: 'the residual blocks have n_hid / 4 hidden channels, rounded down',
};

function record(v: unknown, where: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Tensor) {
    throw new TypeError(`parseDvaeConfig: ${where} must be an object, got ${describeValue(v)}`);
  }
  return v as Record<string, unknown>;
}

// The keys a config may hold: exactly what tooling/dvae-convert and dvaeCheckpointFiles write, so a
// misspelled field is refused instead of silently left at its default.
const ROOT_KEYS = ['encoder', 'decoder', 'logit_laplace_eps'] as const;
const ENCODER_KEYS = Object.keys(defaultEncoderConfig);
const DECODER_KEYS = Object.keys(defaultDecoderConfig);

function refuseUnknownKeys(section: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(section)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `parseDvaeConfig: unknown key ${JSON.stringify(key)} in ${where} (expected ${known.join(', ')})`,
      );
    }
  }
}

/**
 * @internal Checks that the two halves of `config` make a pair that reconstructs images: the same
 * vocabulary, the same resampling factor (2^(group_count - 1)), and as many output channels as
 * input channels. `caller` starts the message.
 */
export function checkDvaePair(config: DvaeConfig, caller: string): void {
  const { encoder: e, decoder: d } = config;
  if (e.vocab_size !== d.vocab_size) {
    throw new RangeError(
      `${caller}: encoder.vocab_size (${e.vocab_size}) and decoder.vocab_size (${d.vocab_size}) must match`,
    );
  }
  if (e.group_count !== d.group_count) {
    throw new RangeError(
      `${caller}: encoder.group_count (${e.group_count}) and decoder.group_count (${d.group_count}) must match: ` +
        `the encoder shrinks images by ${2 ** (e.group_count - 1)} and the decoder grows token grids by ${2 ** (d.group_count - 1)} (2^(group_count - 1)), so reconstructions would not have the images' size`,
    );
  }
  if (d.output_channels !== e.input_channels) {
    throw new RangeError(
      `${caller}: decoder.output_channels (${d.output_channels}) must equal encoder.input_channels (${e.input_channels}) to reconstruct the images`,
    );
  }
}

/**
 * Reads a dVAE `config.json` (`{ encoder, decoder, logit_laplace_eps }`), filling missing fields
 * with the official defaults and rejecting values that are not positive integers, and keys it does
 * not know (a misspelled field would otherwise be left at its default). Both sections or neither
 * (the official dVAE) must be given. The two halves must agree on `vocab_size`, since the decoder
 * reads the encoder's tokens. `logit_laplace_eps` may be 0 (pixels are then mapped as they are,
 * which encoding and decoding allow); training, whose logit-Laplace loss needs it above 0, checks
 * that itself.
 *
 * @example
 * ```ts
 * const config = parseDvaeConfig({ encoder: { n_hid: 64, vocab_size: 512 }, decoder: { vocab_size: 512 } });
 * ```
 */
export function parseDvaeConfig(json: unknown): DvaeConfig {
  const root = record(json, 'config');
  // Neither section means the official dVAE; one alone would pair it with the official other half.
  if ((root.encoder === undefined) !== (root.decoder === undefined)) {
    const [has, lacks] = root.encoder === undefined ? ['decoder', 'encoder'] : ['encoder', 'decoder'];
    throw new TypeError(
      `parseDvaeConfig: the config has a ${has} section but no ${lacks} section (give both, or neither for the official dVAE)`,
    );
  }
  refuseUnknownKeys(root, ROOT_KEYS, 'the config root');
  const e = record(root.encoder, 'encoder');
  const d = record(root.decoder, 'decoder');
  refuseUnknownKeys(e, ENCODER_KEYS, 'the encoder section');
  refuseUnknownKeys(d, DECODER_KEYS, 'the decoder section');
  const encoder: DvaeEncoderConfig = {
    group_count: positiveInt(e, 'group_count', defaultEncoderConfig.group_count, 'encoder'),
    n_hid: positiveInt(e, 'n_hid', defaultEncoderConfig.n_hid, 'encoder', 4),
    n_blk_per_group: positiveInt(e, 'n_blk_per_group', defaultEncoderConfig.n_blk_per_group, 'encoder'),
    input_channels: positiveInt(e, 'input_channels', defaultEncoderConfig.input_channels, 'encoder'),
    vocab_size: positiveInt(e, 'vocab_size', defaultEncoderConfig.vocab_size, 'encoder'),
  };
  const decoder: DvaeDecoderConfig = {
    group_count: positiveInt(d, 'group_count', defaultDecoderConfig.group_count, 'decoder'),
    n_init: positiveInt(d, 'n_init', defaultDecoderConfig.n_init, 'decoder'),
    n_hid: positiveInt(d, 'n_hid', defaultDecoderConfig.n_hid, 'decoder', 4),
    n_blk_per_group: positiveInt(d, 'n_blk_per_group', defaultDecoderConfig.n_blk_per_group, 'decoder'),
    output_channels: positiveInt(d, 'output_channels', defaultDecoderConfig.output_channels, 'decoder'),
    vocab_size: positiveInt(d, 'vocab_size', defaultDecoderConfig.vocab_size, 'decoder'),
  };
  if (encoder.vocab_size !== decoder.vocab_size) {
    throw new RangeError(
      `parseDvaeConfig: encoder.vocab_size (${encoder.vocab_size}) and decoder.vocab_size (${decoder.vocab_size}) must match`,
    );
  }
  const eps = root.logit_laplace_eps === undefined ? LOGIT_LAPLACE_EPS : root.logit_laplace_eps;
  if (typeof eps !== 'number' || !(eps >= 0 && eps < 0.5)) {
    throw new RangeError(
      `parseDvaeConfig: logit_laplace_eps must be a number in [0, 0.5), got ${JSON.stringify(eps)}`,
    );
  }
  return { encoder, decoder, logit_laplace_eps: eps };
}
