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

function pick<T extends object>(defaults: T, raw: Record<string, unknown>, where: string): T {
  const out = { ...defaults } as Record<string, unknown>;
  for (const [key, value] of Object.entries(defaults)) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== typeof value) {
      throw new TypeError(`${where}.${key}: expected a ${typeof value}, got ${JSON.stringify(v)}`);
    }
    out[key] = v;
  }
  if ('hidden_act' in out && !ACTIVATIONS.includes(out.hidden_act as ClipActivation)) {
    throw new RangeError(
      `${where}.hidden_act: unsupported activation ${JSON.stringify(out.hidden_act)} (supported: ${ACTIVATIONS.join(', ')})`,
    );
  }
  return out as T;
}

/**
 * Reads an HF `config.json` object (of a `CLIPModel`, or of a single tower) into a {@link ClipConfig},
 * filling HF defaults for missing fields.
 *
 * @example
 * ```ts
 * const config = parseClipConfig(JSON.parse(await readFile('config.json', 'utf8')));
 * ```
 */
export function parseClipConfig(raw: unknown): ClipConfig {
  if (!raw || typeof raw !== 'object') throw new TypeError('CLIP config: expected a JSON object');
  const r = raw as Record<string, unknown>;
  const text = (r.text_config ?? (r.model_type === 'clip_text_model' ? r : {})) as Record<string, unknown>;
  const vision = (r.vision_config ?? (r.model_type === 'clip_vision_model' ? r : {})) as Record<
    string,
    unknown
  >;
  const projection = typeof r.projection_dim === 'number' ? r.projection_dim : 512;
  const visionConfig = pick(defaultVisionConfig, vision, 'vision_config');
  const stem = vision.conv_stem_channels;
  if (stem !== undefined && stem !== null) {
    if (!Array.isArray(stem) || !stem.every((c) => Number.isInteger(c) && c > 0))
      throw new TypeError(
        `vision_config.conv_stem_channels: expected an array of positive integers, got ${JSON.stringify(stem)}`,
      );
    if (stem.length > 0) visionConfig.conv_stem_channels = stem as number[];
  }
  return {
    text_config: pick(defaultTextConfig, text, 'text_config'),
    vision_config: visionConfig,
    projection_dim: projection,
    logit_scale_init_value: typeof r.logit_scale_init_value === 'number' ? r.logit_scale_init_value : 2.6592,
  };
}
