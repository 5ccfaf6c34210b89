import { namedErrors } from '../checkArguments.js';
import type { ModifiedResNetConfig } from './modifiedResNet.js';

// CLIP configuration with the field names and defaults of HF transformers' CLIPConfig,
// CLIPTextConfig and CLIPVisionConfig, so a checkpoint's config.json is read as it is.

/** Activation names used by CLIP checkpoints. */
export type ClipActivation = 'quick_gelu' | 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'relu';

/** The text tower (HF `CLIPTextConfig`). */
export interface ClipTextConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  projection_dim: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  hidden_act: ClipActivation;
  layer_norm_eps: number;
  pad_token_id: number;
  bos_token_id: number;
  /** 2 in OpenAI's original configs: pool at the argmax of the ids (the end token has the largest id). */
  eos_token_id: number;
  /**
   * A vl extension (HF's CLIP has none), set for open_clip towers: where the text is pooled.
   * `'argmax'`: at the largest id (openai/CLIP's end token); `'eos'`: at the first `eos_token_id`
   * (open_clip `pool_type: 'eos'`, MetaCLIP 2). Absent: HF's rule, argmax when `eos_token_id` is 2
   * (OpenAI's legacy configs), else the first `eos_token_id`.
   */
  pool_type?: 'argmax' | 'eos';
  /** A vl extension: LayerScale in every block (open_clip `ls_init_value`), see {@link ClipVisionConfig.layer_scale}. */
  layer_scale?: boolean;
}

/** The image tower (HF `CLIPVisionConfig`). */
export interface ClipVisionConfig {
  hidden_size: number;
  intermediate_size: number;
  projection_dim: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_channels: number;
  image_size: number;
  patch_size: number;
  hidden_act: ClipActivation;
  layer_norm_eps: number;
  /**
   * A vl extension (HF's CLIP has none): output channels of 3x3, stride-2 convolutions (with bias,
   * then ReLU) that run on the pixels before the patch embedding, which then cuts their output,
   * `image_size / 2^stages` pixels square, into patches of `patch_size`. This is the ViT paper's
   * "hybrid" input (a CNN's feature map as the patch grid) and the convolutional stem of Xiao et al.
   * 2021, "Early Convolutions Help Transformers See Better": a small ViT trained from scratch on a
   * small budget learns shape with it where a plain patchify stem stays at chance. Absent or empty
   * for every HF and open_clip checkpoint.
   */
  conv_stem_channels?: number[];
  /**
   * A vl extension (HF's CLIP has none), set for open_clip towers: how the tokens are pooled.
   * `'tok'` (absent): the class token, as HF; `'avg'`: the mean of the patch tokens (open_clip
   * `pool_type: 'avg'`); `'avg_all'`: the mean of all tokens, class token included (open_clip's
   * older `global_average_pool: true`).
   */
  pool_type?: 'tok' | 'avg' | 'avg_all';
  /**
   * A vl extension: the post-LayerNorm normalizes the pooled vector instead of every token before
   * pooling (open_clip `final_ln_after_pool`); the same thing for `'tok'` pooling.
   */
  final_ln_after_pool?: boolean;
  /**
   * A vl extension: LayerScale (open_clip `ls_init_value`): each block's attention and MLP outputs
   * are multiplied by per-channel gammas `[C]` before their residual add, read from the block's
   * `ls_1.gamma` and `ls_2.gamma`.
   */
  layer_scale?: boolean;
}

/** The whole model (HF `CLIPConfig`). */
export interface ClipConfig {
  text_config: ClipTextConfig;
  vision_config: ClipVisionConfig;
  /** Set for open_clip ModifiedResNet image towers (RN50 family), which HF has no config for. */
  vision_resnet?: ModifiedResNetConfig;
  projection_dim: number;
  logit_scale_init_value: number;
}

/**
 * HF defaults (ViT-B/32 sizes). {@link parseClipConfig} fills missing text fields from it; spread it
 * to build a config of your own.
 *
 * @example
 * ```ts
 * const text_config: ClipTextConfig = { ...defaultTextConfig, hidden_size: 256, num_hidden_layers: 4 };
 * defaultTextConfig.max_position_embeddings; // 77 tokens of context
 * ```
 */
export const defaultTextConfig: ClipTextConfig = {
  vocab_size: 49408,
  hidden_size: 512,
  intermediate_size: 2048,
  projection_dim: 512,
  num_hidden_layers: 12,
  num_attention_heads: 8,
  max_position_embeddings: 77,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  pad_token_id: 1,
  bos_token_id: 49406,
  eos_token_id: 49407,
};

/**
 * HF `CLIPVisionConfig` defaults (ViT-B/32 sizes: 224 px images in 32 px patches, width 768, 12
 * layers). {@link parseClipConfig} fills missing vision fields from it; spread it to build a
 * config of your own.
 *
 * @example
 * ```ts
 * const vision_config: ClipVisionConfig = { ...defaultVisionConfig, image_size: 64, patch_size: 8 };
 * visionPatchGrid(defaultVisionConfig); // 7: 49 patches and a class token, [B, 50, 768]
 * ```
 */
export const defaultVisionConfig: ClipVisionConfig = {
  hidden_size: 768,
  intermediate_size: 3072,
  projection_dim: 512,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_channels: 3,
  image_size: 224,
  patch_size: 32,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
};

const ACTIVATIONS: readonly ClipActivation[] = [
  'quick_gelu',
  'gelu',
  'gelu_new',
  'gelu_pytorch_tanh',
  'relu',
];

/** A JSON value as an error message shows it: strings quoted and called strings. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array (${JSON.stringify(v).slice(0, 60)})`;
  if (typeof v === 'object') return 'an object';
  return String(v);
}

// Token ids HF writes as `null` when a config leaves them unset: the default applies.
const NULLABLE = new Set(['pad_token_id', 'bos_token_id', 'eos_token_id']);

function pick<T extends object>(defaults: T, raw: Record<string, unknown>, where: string): T {
  const out = { ...defaults } as Record<string, unknown>;
  for (const [key, value] of Object.entries(defaults)) {
    const v = raw[key];
    if (v === undefined || (v === null && NULLABLE.has(key))) continue;
    if (typeof v !== typeof value || v === null) {
      // A present field of the wrong type is an error, never a silent fall back to the default.
      throw new TypeError(
        `CLIP config: ${where}.${key}: expected a ${typeof value}, got ${describeValue(v)}`,
      );
    }
    out[key] = v;
  }
  if ('hidden_act' in out && !ACTIVATIONS.includes(out.hidden_act as ClipActivation)) {
    throw new RangeError(
      `CLIP config: ${where}.hidden_act: unsupported activation ${JSON.stringify(out.hidden_act)} (supported: ${ACTIVATIONS.join(', ')})`,
    );
  }
  return out as T;
}

function positiveInteger(value: number, field: string): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`CLIP config: ${field} must be a positive integer, got ${value}`);
  }
}

function nonNegativeInteger(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`CLIP config: ${field} must be a non-negative integer, got ${value}`);
  }
}

/** What both transformer towers need of their layers: a count, heads dividing the width, an eps. */
function checkLayers(
  c: { num_hidden_layers: number; hidden_size: number; num_attention_heads: number; layer_norm_eps: number },
  tower: 'text_config' | 'vision_config',
): void {
  nonNegativeInteger(c.num_hidden_layers, `${tower}.num_hidden_layers`);
  headsDivide(c.hidden_size, c.num_attention_heads, tower);
  if (!(c.layer_norm_eps > 0) || !Number.isFinite(c.layer_norm_eps)) {
    throw new RangeError(
      `CLIP config: ${tower}.layer_norm_eps must be a positive number, got ${c.layer_norm_eps}`,
    );
  }
}

function headsDivide(hidden: number, heads: number, where: string): void {
  if (hidden % heads !== 0) {
    throw new RangeError(
      `CLIP config: ${where}.hidden_size ${hidden} is not a multiple of ${where}.num_attention_heads ${heads} ` +
        '(each head takes hidden_size / num_attention_heads channels)',
    );
  }
}

function oneOf(value: unknown, allowed: readonly string[], field: string): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    throw new RangeError(
      `CLIP config: ${field} must be one of ${allowed.join(', ')}, got ${describeValue(value)}`,
    );
  }
}

function integer(value: number, field: string): void {
  if (!Number.isInteger(value)) {
    throw new RangeError(`CLIP config: ${field} must be an integer, got ${value}`);
  }
}

/**
 * Checks that a config's sizes make sense together (positive integer sizes, hidden sizes that split
 * into the heads, an image that splits into patches), naming the fields and their values, so a bad
 * config fails at load rather than deep inside the first forward pass.
 */
export function checkClipConfig(config: ClipConfig): void {
  positiveInteger(config.projection_dim, 'projection_dim');
  if (!Number.isFinite(config.logit_scale_init_value)) {
    throw new RangeError(
      `CLIP config: logit_scale_init_value must be a finite number, got ${config.logit_scale_init_value}`,
    );
  }
  const t = config.text_config;
  for (const key of [
    'vocab_size',
    'hidden_size',
    'intermediate_size',
    'projection_dim',
    'num_attention_heads',
    'max_position_embeddings',
  ] as const) {
    positiveInteger(t[key], `text_config.${key}`);
  }
  checkLayers(t, 'text_config');
  // Token ids are not checked against vocab_size: configs built on defaultTextConfig with a small
  // vocabulary keep its ids, and a vision-only use never reads them.
  for (const key of ['pad_token_id', 'bos_token_id', 'eos_token_id'] as const)
    integer(t[key], `text_config.${key}`);
  oneOf(t.pool_type, ['argmax', 'eos'], 'text_config.pool_type');
  if (config.vision_resnet) return; // the ModifiedResNet tower has its own config
  const v = config.vision_config;
  for (const key of [
    'hidden_size',
    'intermediate_size',
    'projection_dim',
    'num_attention_heads',
    'num_channels',
    'image_size',
    'patch_size',
  ] as const) {
    positiveInteger(v[key], `vision_config.${key}`);
  }
  checkLayers(v, 'vision_config');
  oneOf(v.pool_type, ['tok', 'avg', 'avg_all'], 'vision_config.pool_type');
  const stages = v.conv_stem_channels?.length ?? 0;
  const stemOut = v.image_size / 2 ** stages;
  if (!Number.isInteger(stemOut) || stemOut % v.patch_size !== 0) {
    throw new RangeError(
      `CLIP config: vision_config.image_size ${v.image_size}` +
        (stages
          ? ` halved by the ${stages} conv_stem_channels stages (${stemOut}) is not a multiple of`
          : ' is not a multiple of') +
        ` vision_config.patch_size ${v.patch_size}`,
    );
  }
}

/** The `model_type`s of transformers' CLIP: the whole model and its two towers. */
const CLIP_MODEL_TYPES = ['clip', 'clip_text_model', 'clip_vision_model'];

/**
 * Why a `config.json` object is not a transformers CLIP config (a foreign `model_type`, or neither a
 * `model_type` nor a tower section, as in timm's `config.json`), or undefined when it is one.
 */
export function notClipConfigReason(r: Record<string, unknown>): string | undefined {
  const type = r.model_type;
  if (type === undefined || type === null) {
    if (r.text_config === undefined && r.vision_config === undefined)
      return 'it has no model_type and no text_config or vision_config';
    return undefined;
  }
  if (typeof type === 'string' && CLIP_MODEL_TYPES.includes(type)) return undefined;
  return (
    `its model_type is ${describeValue(type)}, not one of ${CLIP_MODEL_TYPES.join(', ')} ` +
    '(SigLIP, Chinese-CLIP, AltCLIP, MetaCLIP 2 and other CLIP-like models differ in their towers, ' +
    'tokenizers or pooling, and are not supported)'
  );
}

/**
 * A tower's section of the config, and the key it was read from. A `<key>_dict` (in configs saved
 * by transformers before 4.22, such as openai/clip-vit-large-patch14's) wins over `<key>` as in
 * transformers, which rebuilds the tower from the dict and its own defaults alone.
 */
function section(
  r: Record<string, unknown>,
  tower: 'text_config' | 'vision_config',
  ownType: string,
): { raw: Record<string, unknown>; key: string } {
  const legacy = `${tower}_dict`;
  const key = r[legacy] !== undefined && r[legacy] !== null ? legacy : tower;
  return { raw: sectionAt(r, key, ownType), key };
}

function sectionAt(r: Record<string, unknown>, key: string, ownType: string): Record<string, unknown> {
  const value = r[key];
  if (value === undefined) return r.model_type === ownType ? r : {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`CLIP config: ${key} must be an object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Copies the optional fields `spec` names from a raw section: a boolean, or one of a list of
 * strings. Absent or null leaves them unset; anything else is an error naming the field.
 */
function readExtensions(
  out: object,
  raw: Record<string, unknown>,
  where: string,
  spec: Record<string, 'boolean' | readonly string[]>,
): void {
  for (const [key, kind] of Object.entries(spec)) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    const ok = kind === 'boolean' ? typeof v === 'boolean' : kind.includes(v as string);
    if (!ok) {
      const want = kind === 'boolean' ? 'true or false' : `one of ${kind.join(', ')}`;
      throw new TypeError(`CLIP config: ${where}.${key}: expected ${want}, got ${describeValue(v)}`);
    }
    (out as Record<string, unknown>)[key] = v;
  }
}

function topNumber(r: Record<string, unknown>, key: string, fallback: number): number {
  const value = r[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number') {
    throw new TypeError(`CLIP config: ${key}: expected a number, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * Reads an HF `config.json` object (of a `CLIPModel`, or of a single tower) into a {@link ClipConfig},
 * filling HF defaults for missing fields. A config that is not CLIP's (a `model_type` other than
 * `clip`, `clip_text_model` or `clip_vision_model`, such as `siglip`; or no `model_type` and no
 * tower sections, such as timm's) is refused by name.
 *
 * @example
 * ```ts
 * const config = parseClipConfig(JSON.parse(await readFile('config.json', 'utf8')));
 * ```
 */
export function parseClipConfig(raw: unknown): ClipConfig {
  return namedErrors('parseClipConfig', () => readClipConfig(raw));
}

/** {@link parseClipConfig} for a loader, whose errors name the file instead. */
export function readClipConfig(raw: unknown): ClipConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TypeError(`CLIP config: expected a JSON object, got ${describeValue(raw)}`);
  }
  const r = raw as Record<string, unknown>;
  const why = notClipConfigReason(r);
  if (why) throw new TypeError(`CLIP config: not a transformers CLIP config: ${why}`);
  const text = section(r, 'text_config', 'clip_text_model');
  const vision = section(r, 'vision_config', 'clip_vision_model');
  const visionConfig = pick(defaultVisionConfig, vision.raw, vision.key);
  const stem = vision.raw.conv_stem_channels;
  if (stem !== undefined && stem !== null) {
    if (!Array.isArray(stem) || !stem.every((c) => Number.isInteger(c) && c > 0))
      throw new TypeError(
        `CLIP config: ${vision.key}.conv_stem_channels: expected an array of positive integers, got ${JSON.stringify(stem)}`,
      );
    if (stem.length > 0) visionConfig.conv_stem_channels = stem as number[];
  }
  const textConfig = pick(defaultTextConfig, text.raw, text.key);
  // vl's extensions, as clipCheckpointFiles writes them: a re-saved open_clip model loads as it was.
  readExtensions(textConfig, text.raw, text.key, { pool_type: ['argmax', 'eos'], layer_scale: 'boolean' });
  readExtensions(visionConfig, vision.raw, vision.key, {
    pool_type: ['tok', 'avg', 'avg_all'],
    final_ln_after_pool: 'boolean',
    layer_scale: 'boolean',
  });
  const config: ClipConfig = {
    text_config: textConfig,
    vision_config: visionConfig,
    projection_dim: topNumber(r, 'projection_dim', 512),
    logit_scale_init_value: topNumber(r, 'logit_scale_init_value', 2.6592),
  };
  checkClipConfig(config);
  return config;
}
