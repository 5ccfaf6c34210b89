// LLaVA configuration with the field names and defaults of HF transformers' LlavaConfig and
// LlamaConfig, so a checkpoint's config.json reads as it is. transformers 5 writes the rotary
// settings as `rope_parameters`; older configs have `rope_theta` and `rope_scaling`: both are read.
import { type ClipVisionConfig, parseClipConfig, visionPatchGrid } from '@vl/clip';
import type { RopeScaling } from '@vl/tensor';
import {
  argumentError,
  checkInteger,
  checkLlavaConfig,
  checkObject,
  checkString,
  describe,
  isPlainObject,
} from '../checkArguments.js';

/** Activations the projector and the decoder's MLP may name. */
export type VlmActivation = 'gelu' | 'gelu_pytorch_tanh' | 'gelu_new' | 'quick_gelu' | 'relu' | 'silu';

/** Rotary embedding settings (HF `rope_parameters`). */
export interface RopeParameters {
  rope_theta: number;
  /** `default`, `linear` or `llama3`. */
  rope_type: 'default' | 'linear' | 'llama3';
  factor?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
}

/** The language model (HF `LlamaConfig`; Mistral without a sliding window reads the same). */
export interface LlamaConfig {
  model_type: string;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  /** `hidden_size / num_attention_heads` unless given. */
  head_dim: number;
  hidden_act: VlmActivation;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_parameters: RopeParameters;
  attention_bias: boolean;
  mlp_bias: boolean;
  tie_word_embeddings: boolean;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  pad_token_id: number | null;
}

/** The whole model (HF `LlavaConfig`). */
export interface LlavaConfig {
  vision_config: ClipVisionConfig;
  text_config: LlamaConfig;
  image_token_index: number;
  projector_hidden_act: VlmActivation;
  /** A layer index into the vision tower's hidden states (negative counts from the end), or several, concatenated. */
  vision_feature_layer: number | number[];
  /** `default` drops the class token, `full` keeps it. */
  vision_feature_select_strategy: 'default' | 'full';
  image_seq_length: number;
  multimodal_projector_bias: boolean;
}

/**
 * HF `LlamaConfig` defaults: Llama 2 7B's sizes, with HF's `max_position_embeddings` (2048) and
 * `rms_norm_eps` (1e-6), not Llama 2's (4096, 1e-5). {@link parseLlamaConfig} fills most missing fields
 * from it (`num_key_value_heads` and `head_dim` follow the heads and width it reads).
 *
 * @example
 * ```ts
 * const shallow: LlamaConfig = { ...defaultLlamaConfig, num_hidden_layers: 2 };
 * defaultLlamaConfig.head_dim; // 128 (4096 / 32 heads)
 * defaultLlamaConfig.rope_parameters; // { rope_theta: 10000, rope_type: 'default' }
 * ```
 */
export const defaultLlamaConfig: LlamaConfig = {
  model_type: 'llama',
  vocab_size: 32000,
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  head_dim: 128,
  hidden_act: 'silu',
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-6,
  rope_parameters: { rope_theta: 10000, rope_type: 'default' },
  attention_bias: false,
  mlp_bias: false,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
  pad_token_id: null,
};

/**
 * The vision tower HF `LlavaConfig` uses when `vision_config` is absent (CLIP ViT-L/14 at 336 px):
 * {@link parseLlavaConfig} takes it then; a 24 x 24 patch grid, so 576 image tokens per image.
 *
 * @example
 * ```ts
 * const config = parseLlavaConfig({ text_config: { num_hidden_layers: 2 } }); // no vision_config
 * config.vision_config.image_size; // 336, from defaultLlavaVisionConfig
 * imageTokenCount(config); // 576 (24 x 24 patches of 14 px)
 * ```
 */
export const defaultLlavaVisionConfig: ClipVisionConfig = {
  hidden_size: 1024,
  intermediate_size: 4096,
  projection_dim: 768,
  num_hidden_layers: 24,
  num_attention_heads: 16,
  num_channels: 3,
  image_size: 336,
  patch_size: 14,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
};

const ACTIVATIONS: readonly VlmActivation[] = [
  'gelu',
  'gelu_pytorch_tanh',
  'gelu_new',
  'quick_gelu',
  'relu',
  'silu',
];
const TEXT_MODELS = ['llama', 'mistral'];

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(raw: Raw, key: string, fallback: number, where: string, integer = true): number {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new TypeError(
      `${where}.${key}: expected ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function bool(raw: Raw, key: string, fallback: boolean, where: string): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean')
    throw new TypeError(`${where}.${key}: expected a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function activation(raw: Raw, key: string, fallback: VlmActivation, where: string): VlmActivation {
  const v = raw[key] ?? fallback;
  if (!ACTIVATIONS.includes(v as VlmActivation)) {
    throw new RangeError(
      `${where}.${key}: unsupported activation ${JSON.stringify(v)} (supported: ${ACTIVATIONS.join(', ')})`,
    );
  }
  return v as VlmActivation;
}

function tokenId(raw: Raw, key: string, fallback: number | null, where: string): number | null {
  const v = raw[key];
  if (v === undefined) return fallback;
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new TypeError(`${where}.${key}: expected a token id, got ${JSON.stringify(v)}`);
  return v;
}

function ropeParameters(t: Raw, where: string): RopeParameters {
  // transformers 5: rope_parameters holds everything; before: rope_theta + rope_scaling.
  const params = isObject(t.rope_parameters) ? t.rope_parameters : undefined;
  const scaling = params ?? (isObject(t.rope_scaling) ? t.rope_scaling : {});
  const field = params ? `${where}.rope_parameters` : `${where}.rope_scaling`;
  const theta = num(params ?? t, 'rope_theta', 10000, params ? field : where, false);
  const type = scaling.rope_type ?? scaling.type ?? 'default';
  if (type !== 'default' && type !== 'linear' && type !== 'llama3') {
    throw new RangeError(
      `${field}: rope type ${JSON.stringify(type)} is not supported (supported: default, linear, llama3)`,
    );
  }
  const out: RopeParameters = { rope_theta: theta, rope_type: type };
  if (type === 'linear' || type === 'llama3') out.factor = num(scaling, 'factor', Number.NaN, field, false);
  if (type === 'llama3') {
    out.low_freq_factor = num(scaling, 'low_freq_factor', 1, field, false);
    out.high_freq_factor = num(scaling, 'high_freq_factor', 4, field, false);
    out.original_max_position_embeddings = num(scaling, 'original_max_position_embeddings', 8192, field);
  }
  if (out.factor !== undefined && !(out.factor > 0))
    throw new RangeError(`${field}.factor: a ${type} rope needs a positive factor`);
  return out;
}

/**
 * Reads an HF Llama `config.json` object (or a LLaVA `text_config`) into a {@link LlamaConfig},
 * filling HF defaults.
 *
 * @example
 * ```ts
 * const text = parseLlamaConfig({ hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2 });
 * text.head_dim; // 16
 * ```
 */
export function parseLlamaConfig(raw: unknown, where = 'text_config', tieFallback = false): LlamaConfig {
  const fn = 'parseLlamaConfig';
  checkObject(fn, 'the config', raw, 'a JSON object');
  checkString(fn, 'where', where);
  if (typeof tieFallback !== 'boolean') throw argumentError(fn, 'tieFallback', 'true or false', tieFallback);
  return readLlamaConfig(raw, where, tieFallback);
}

/** {@link parseLlamaConfig} without its argument checks; field errors start with `where`. */
function readLlamaConfig(raw: unknown, where: string, tieFallback: boolean): LlamaConfig {
  if (!isObject(raw)) throw new TypeError(`${where}: expected a JSON object`);
  const d = defaultLlamaConfig;
  const model_type = (raw.model_type ?? 'llama') as string;
  if (!TEXT_MODELS.includes(model_type)) {
    throw new RangeError(
      `${where}.model_type: ${JSON.stringify(model_type)} is not supported (supported: ${TEXT_MODELS.join(', ')})`,
    );
  }
  const hidden_size = num(raw, 'hidden_size', d.hidden_size, where);
  const num_attention_heads = num(raw, 'num_attention_heads', d.num_attention_heads, where);
  const num_key_value_heads = num(raw, 'num_key_value_heads', num_attention_heads, where);
  if (num_key_value_heads < 1 || num_attention_heads % num_key_value_heads !== 0) {
    throw new RangeError(
      `${where}: num_attention_heads ${num_attention_heads} is not a multiple of num_key_value_heads ${num_key_value_heads}`,
    );
  }
  const head_dim = num(raw, 'head_dim', Math.floor(hidden_size / num_attention_heads), where);
  const eos = raw.eos_token_id;
  let eos_token_id: number | number[] | null;
  if (Array.isArray(eos)) {
    if (!eos.every((e) => Number.isInteger(e)))
      throw new TypeError(`${where}.eos_token_id: expected token ids, got ${JSON.stringify(eos)}`);
    eos_token_id = eos as number[];
  } else eos_token_id = tokenId(raw, 'eos_token_id', d.eos_token_id as number, where);
  return {
    model_type,
    vocab_size: num(raw, 'vocab_size', d.vocab_size, where),
    hidden_size,
    intermediate_size: num(raw, 'intermediate_size', d.intermediate_size, where),
    num_hidden_layers: num(raw, 'num_hidden_layers', d.num_hidden_layers, where),
    num_attention_heads,
    num_key_value_heads,
    head_dim,
    hidden_act: activation(raw, 'hidden_act', d.hidden_act, where),
    max_position_embeddings: num(raw, 'max_position_embeddings', d.max_position_embeddings, where),
    rms_norm_eps: num(raw, 'rms_norm_eps', d.rms_norm_eps, where, false),
    rope_parameters: ropeParameters(raw, where),
    attention_bias: bool(raw, 'attention_bias', d.attention_bias, where),
    mlp_bias: bool(raw, 'mlp_bias', d.mlp_bias, where),
    tie_word_embeddings: bool(raw, 'tie_word_embeddings', tieFallback, where),
    bos_token_id: tokenId(raw, 'bos_token_id', d.bos_token_id, where),
    eos_token_id,
    pad_token_id: tokenId(raw, 'pad_token_id', d.pad_token_id, where),
  };
}

/**
 * Checks a `vision_feature_layer` (one hidden-state index or a list; negative counts from the end,
 * 0 is the embeddings) against a vision tower of `towerLayers` layers and returns it; a value that
 * names no layer is a RangeError that starts with `where`.
 *
 * @example
 * ```ts
 * checkVisionFeatureLayer([0, -2], 12, 'config.vision_feature_layer'); // [0, -2]
 * checkVisionFeatureLayer(13, 12, '--feature-layers'); // throws: 13 is not a layer of a 12-layer vision tower (valid: -13..12)
 * ```
 */
export function checkVisionFeatureLayer(
  layer: unknown,
  towerLayers: number,
  where: string,
): number | number[] {
  // The tower and `where` first: they make the message about `layer`.
  checkInteger('checkVisionFeatureLayer', 'towerLayers', towerLayers, 0);
  checkString('checkVisionFeatureLayer', 'where', where);
  const n = towerLayers;
  for (const l of Array.isArray(layer) ? layer : [layer]) {
    if (typeof l !== 'number' || !Number.isInteger(l) || l < -(n + 1) || l > n) {
      throw new RangeError(
        `${where}: ${JSON.stringify(layer)} is not a layer of a ${n}-layer vision tower (valid: ${-(n + 1)}..${n})`,
      );
    }
  }
  return layer as number | number[];
}

/**
 * Reads an HF LLaVA `config.json` object into a {@link LlavaConfig}, filling HF defaults for
 * missing fields (`vision_feature_layer` -2, `default` feature selection, GELU projector with bias).
 *
 * @example
 * ```ts
 * const config = parseLlavaConfig(JSON.parse(await readFile('config.json', 'utf8')));
 * config.text_config.num_key_value_heads; // e.g. 8
 * ```
 */
export function parseLlavaConfig(raw: unknown): LlavaConfig {
  if (!isPlainObject(raw))
    throw new TypeError(`parseLlavaConfig: the LLaVA config must be a JSON object, got ${describe(raw)}`);
  const vision_config = isObject(raw.vision_config)
    ? parseClipConfig({ vision_config: raw.vision_config }).vision_config
    : { ...defaultLlavaVisionConfig };
  const topTie = bool(raw, 'tie_word_embeddings', false, 'config');
  const text_config = readLlamaConfig(raw.text_config ?? {}, 'text_config', topTie);
  const layer = checkVisionFeatureLayer(
    raw.vision_feature_layer ?? -2,
    vision_config.num_hidden_layers,
    'config.vision_feature_layer',
  );
  const strategy = raw.vision_feature_select_strategy ?? 'default';
  if (strategy !== 'default' && strategy !== 'full') {
    throw new RangeError(
      `config.vision_feature_select_strategy: ${JSON.stringify(strategy)} is not supported (expected "default" or "full")`,
    );
  }
  const patches = visionPatchGrid(vision_config) ** 2; // a convolutional stem shrinks the image first
  return {
    vision_config,
    text_config,
    image_token_index: num(raw, 'image_token_index', num(raw, 'image_token_id', 32000, 'config'), 'config'),
    projector_hidden_act: activation(raw, 'projector_hidden_act', 'gelu', 'config'),
    vision_feature_layer: layer,
    vision_feature_select_strategy: strategy,
    image_seq_length: num(raw, 'image_seq_length', patches + (strategy === 'full' ? 1 : 0), 'config'),
    multimodal_projector_bias: bool(raw, 'multimodal_projector_bias', true, 'config'),
  };
}

/**
 * Image tokens one image becomes in the decoder: the tower's patches, plus the class token under
 * the `full` strategy.
 *
 * @example
 * ```ts
 * imageTokenCount(config); // 576 for LLaVA-1.5 (336 px, 14 px patches)
 * ```
 */
export function imageTokenCount(config: LlavaConfig): number {
  checkLlavaConfig('imageTokenCount', config);
  return (
    visionPatchGrid(config.vision_config) ** 2 + (config.vision_feature_select_strategy === 'full' ? 1 : 0)
  );
}

/**
 * The rope options of `@vl/tensor` for a config's `rope_parameters`: the `scaling` of `rope()`
 * for `linear` and `llama3` ropes, undefined for the `default` one.
 *
 * @example
 * ```ts
 * ropeScaling({ rope_theta: 10000, rope_type: 'linear', factor: 2 }); // { type: 'linear', factor: 2 }
 * const scaling = ropeScaling(c.rope_parameters);
 * const theta = c.rope_parameters.rope_theta;
 * const qr = rope(q, { theta, ...(scaling ? { scaling } : {}) }); // [B, H, T, D]
 * ```
 */
export function ropeScaling(p: RopeParameters): RopeScaling | undefined {
  checkObject('ropeScaling', 'p', p, "a config's rope_parameters object");
  // A config from parseLlamaConfig has these; a hand-built one may not.
  const need = (
    field: 'factor' | 'low_freq_factor' | 'high_freq_factor' | 'original_max_position_embeddings',
  ) => {
    const v = p[field];
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new RangeError(
        `ropeScaling(): a ${p.rope_type} rope needs rope_parameters.${field} (a number), got ${v}`,
      );
    return v;
  };
  if (p.rope_type === 'linear') return { type: 'linear', factor: need('factor') };
  if (p.rope_type === 'llama3') {
    return {
      type: 'llama3',
      factor: need('factor'),
      lowFreqFactor: need('low_freq_factor'),
      highFreqFactor: need('high_freq_factor'),
      originalMaxPositionEmbeddings: need('original_max_position_embeddings'),
    };
  }
  return undefined;
}
