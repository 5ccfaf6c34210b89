// An open_clip `model_cfg` (the `open_clip_config.json` of a hub repo, or one of open_clip's
// `model_configs/*.json`) read into the HF-style ClipConfig the forward functions take. Optional
// fields written as `null` (RN50's `"patch_size": null`) count as absent, as they do in open_clip's
// dataclasses; settings that are not implemented are refused by name (see openClipSettings.ts).
import {
  type ClipActivation,
  type ClipConfig,
  checkClipConfig,
  defaultTextConfig,
  defaultVisionConfig,
  describeValue,
} from './config.js';
import { checkConfigArg, checkIterable, checkObject, namedErrors } from '../checkArguments.js';
import { checkOpenClipSettings } from './openClipSettings.js';

/**
 * The `model_cfg` of an `open_clip_config.json` (ViT or ModifiedResNet image tower, open_clip's
 * own text tower). Optional fields may be `null`, meaning absent.
 */
export interface OpenClipModelConfig {
  embed_dim: number;
  quick_gelu?: boolean | null;
  vision_cfg: {
    image_size: number;
    /** A count for a ViT, blocks per stage (`[3, 4, 6, 3]`) for a ModifiedResNet. */
    layers: number | number[];
    width: number;
    patch_size?: number | null;
    head_width?: number | null;
    mlp_ratio?: number | null;
    /** LayerScale: set (to any number) when the blocks hold `ls_1.gamma` / `ls_2.gamma`. */
    ls_init_value?: number | null;
    pool_type?: 'tok' | 'avg' | null;
    final_ln_after_pool?: boolean | null;
    /** Older open_clip: the mean of all tokens, then the post-LayerNorm. */
    global_average_pool?: boolean | null;
    [setting: string]: unknown;
  };
  text_cfg: {
    context_length?: number | null;
    vocab_size?: number | null;
    width?: number | null;
    heads?: number | null;
    layers?: number | null;
    mlp_ratio?: number | null;
    ls_init_value?: number | null;
    pool_type?: 'argmax' | 'eos' | null;
    eos_id?: number | null;
    pad_id?: number | null;
    hf_tokenizer_name?: string | null;
    [setting: string]: unknown;
  };
  [setting: string]: unknown;
}

function objectField(value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`open_clip config: ${field} must be an object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

/** The fields of `o` that are not null: open_clip's optional fields default when given as null. */
function withoutNulls(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
}

/** The three sections of a `model_cfg`, each without its null fields. */
function sections(cfg: unknown): {
  c: Record<string, unknown>;
  v: Record<string, unknown>;
  t: Record<string, unknown>;
} {
  const c = withoutNulls(objectField(cfg, 'model_cfg'));
  const v = withoutNulls(objectField(c.vision_cfg, 'model_cfg.vision_cfg'));
  const t = c.text_cfg === undefined ? {} : withoutNulls(objectField(c.text_cfg, 'model_cfg.text_cfg'));
  return { c, v, t };
}

/** Checks the fields openClipConfig reads: present ones of the right type, sizes that divide. */
function checkSizes(
  c: Record<string, unknown>,
  v: Record<string, unknown>,
  t: Record<string, unknown>,
): void {
  const positive = (value: unknown, field: string, optional: boolean) => {
    if (value === undefined && optional) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new TypeError(
        `open_clip config: model_cfg.${field} must be a positive integer, got ${describeValue(value)}`,
      );
    }
  };
  const ratio = (value: unknown, field: string) => {
    if (value !== undefined && (typeof value !== 'number' || !(value > 0))) {
      throw new TypeError(
        `open_clip config: model_cfg.${field} must be a positive number, got ${describeValue(value)}`,
      );
    }
  };
  positive(c.embed_dim, 'embed_dim', false);
  positive(v.image_size, 'vision_cfg.image_size', false);
  positive(v.width, 'vision_cfg.width', false);
  positive(v.patch_size, 'vision_cfg.patch_size', true);
  positive(v.head_width, 'vision_cfg.head_width', true);
  if (Array.isArray(v.layers)) {
    for (const [i, n] of v.layers.entries()) positive(n, `vision_cfg.layers[${i}]`, false);
  } else positive(v.layers, 'vision_cfg.layers', false);
  ratio(v.mlp_ratio, 'vision_cfg.mlp_ratio');
  for (const key of ['context_length', 'vocab_size', 'width', 'heads', 'layers'])
    positive(t[key], `text_cfg.${key}`, true);
  ratio(t.mlp_ratio, 'text_cfg.mlp_ratio');
  const width = v.width as number;
  const headWidth = (v.head_width as number | undefined) ?? 64;
  const channels = Array.isArray(v.layers) ? width * 32 : width; // ModifiedResNet: the attention pool's
  if (channels % headWidth !== 0) {
    throw new RangeError(
      `open_clip config: model_cfg.vision_cfg.width ${width}${Array.isArray(v.layers) ? ' (·32 for a ResNet)' : ''} is not a multiple of model_cfg.vision_cfg.head_width ${headWidth}`,
    );
  }
  const textWidth = (t.width as number | undefined) ?? 512;
  const heads = (t.heads as number | undefined) ?? 8;
  if (textWidth % heads !== 0) {
    throw new RangeError(
      `open_clip config: model_cfg.text_cfg.width ${textWidth} is not a multiple of model_cfg.text_cfg.heads ${heads}`,
    );
  }
  const imageSize = v.image_size as number;
  const patch = Array.isArray(v.layers) ? 32 : ((v.patch_size as number | undefined) ?? 16);
  if (imageSize % patch !== 0) {
    throw new RangeError(
      `open_clip config: model_cfg.vision_cfg.image_size ${imageSize} is not a multiple of ${Array.isArray(v.layers) ? "the ResNet's stride 32" : `model_cfg.vision_cfg.patch_size ${patch}`}`,
    );
  }
}

function choice<T extends string>(value: unknown, allowed: readonly T[], field: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    throw new RangeError(
      `open_clip config: model_cfg.${field} ${describeValue(value)} is not implemented (implemented: ${allowed.join(', ')})`,
    );
  }
  return value as T;
}

function flag(value: unknown, field: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean')
    throw new TypeError(
      `open_clip config: model_cfg.${field} must be true or false, got ${describeValue(value)}`,
    );
  return value;
}

/**
 * An HF-style {@link ClipConfig} for an open_clip model config (ViT or ModifiedResNet image tower).
 * Fields given as `null` count as absent. LayerScale (`ls_init_value`), the vision `pool_type`
 * `'avg'`, `final_ln_after_pool` and the older `global_average_pool`, and the text `pool_type`
 * `'eos'` (with `eos_id`) are implemented; any other setting that changes the computation (a timm
 * or transformers tower, `no_ln_pre`, `act_kwargs`, ...), and any unknown key, is refused naming it.
 * The activation is QuickGELU when `quick_gelu` is true, else GELU; weights from OpenAI need
 * QuickGELU either way (see {@link withOpenAiActivation}).
 *
 * @example
 * ```ts
 * const config = openClipConfig(json.model_cfg);
 * openClipConfig(rn50QuickGelu).vision_resnet; // { layers: [3, 4, 6, 3], width: 64, heads: 32, ... }
 * ```
 */
export function openClipConfig(cfg: OpenClipModelConfig): ClipConfig {
  return namedErrors('openClipConfig', () => readOpenClipConfig(cfg));
}

/** {@link openClipConfig} for a loader, whose errors name the file instead. */
export function readOpenClipConfig(cfg: OpenClipModelConfig): ClipConfig {
  const { c, v, t } = sections(cfg);
  checkOpenClipSettings(c, v, t);
  checkSizes(c, v, t);
  const act: ClipActivation = flag(c.quick_gelu, 'quick_gelu') ? 'quick_gelu' : 'gelu';
  const num = (o: Record<string, unknown>, key: string, fallback: number) =>
    (o[key] as number | undefined) ?? fallback;
  const width = v.width as number;
  const headWidth = num(v, 'head_width', 64);
  const embedDim = c.embed_dim as number;
  const resnet = Array.isArray(v.layers)
    ? {
        layers: v.layers as number[],
        width,
        heads: (width * 32) / headWidth,
        image_size: v.image_size as number,
        output_dim: embedDim,
      }
    : undefined;
  const legacyAverage = flag(v.global_average_pool, 'vision_cfg.global_average_pool');
  const visionPool = legacyAverage
    ? 'avg_all'
    : choice(v.pool_type, ['tok', 'avg'], 'vision_cfg.pool_type', 'tok');
  const lnAfterPool = legacyAverage || flag(v.final_ln_after_pool, 'vision_cfg.final_ln_after_pool');
  const textPool = choice(t.pool_type, ['argmax', 'eos'], 'text_cfg.pool_type', 'argmax');
  const textWidth = num(t, 'width', 512);
  const config: ClipConfig = {
    ...(resnet ? { vision_resnet: resnet } : {}),
    projection_dim: embedDim,
    logit_scale_init_value: Math.log(1 / 0.07),
    vision_config: {
      ...defaultVisionConfig,
      hidden_size: width,
      // open_clip's ResidualAttentionBlock: mlp_width = int(d_model * mlp_ratio), truncated.
      intermediate_size: Math.trunc(width * num(v, 'mlp_ratio', 4)),
      num_hidden_layers: resnet ? 0 : (v.layers as number),
      num_attention_heads: width / headWidth,
      image_size: v.image_size as number,
      patch_size: num(v, 'patch_size', 16),
      projection_dim: embedDim,
      hidden_act: act,
      ...(visionPool !== 'tok' ? { pool_type: visionPool } : {}),
      ...(lnAfterPool ? { final_ln_after_pool: true } : {}),
      ...(v.ls_init_value !== undefined ? { layer_scale: true } : {}),
    },
    text_config: {
      ...defaultTextConfig,
      vocab_size: num(t, 'vocab_size', 49408),
      hidden_size: textWidth,
      intermediate_size: Math.trunc(textWidth * num(t, 'mlp_ratio', 4)),
      num_hidden_layers: num(t, 'layers', 12),
      num_attention_heads: num(t, 'heads', 8),
      max_position_embeddings: num(t, 'context_length', 77),
      projection_dim: embedDim,
      hidden_act: act,
      pad_token_id: num(t, 'pad_id', 0),
      eos_token_id: num(t, 'eos_id', 2),
      pool_type: textPool,
      ...(t.ls_init_value !== undefined ? { layer_scale: true } : {}),
    },
  };
  checkClipConfig(config);
  return config;
}

/** The entries of OpenAI's original state dicts that openai/CLIP's `build_model` deletes. */
const OPENAI_ENTRIES = ['input_resolution', 'context_length', 'vocab_size'];

/**
 * `config` with QuickGELU in both towers when the tensor names are those of OpenAI's original
 * weights (they hold `input_resolution`, `context_length` and `vocab_size`), which were trained
 * with it: open_clip loads them with QuickGELU whatever the model config says, so a plain
 * `ViT-B-32.json` (no `quick_gelu`) next to them means QuickGELU. A config that says
 * `quick_gelu: false` next to them is a contradiction, refused. Other weights keep the config's
 * activation: pair them with the `-quickgelu` configs where they were trained with it.
 *
 * @example
 * ```ts
 * const config = withOpenAiActivation(openClipConfig(modelCfg), modelCfg, tensors.keys());
 * config.text_config.hidden_act; // 'quick_gelu' for OpenAI's weights
 * ```
 */
export function withOpenAiActivation(
  config: ClipConfig,
  cfg: OpenClipModelConfig,
  names: Iterable<string>,
): ClipConfig {
  const fn = 'withOpenAiActivation';
  checkConfigArg(fn, config);
  checkObject(fn, 'cfg', cfg, 'an open_clip model_cfg object');
  checkIterable(fn, 'names', names, "the checkpoint's tensor names (an iterable of strings)");
  const all = new Set(names);
  if (!OPENAI_ENTRIES.some((n) => all.has(n)) || config.text_config.hidden_act === 'quick_gelu')
    return config;
  if (cfg.quick_gelu === false) {
    throw new RangeError(
      "open_clip config: model_cfg.quick_gelu is false, but the weights are OpenAI's (they hold input_resolution, context_length and vocab_size), which were trained with QuickGELU; drop quick_gelu or set it true",
    );
  }
  return {
    ...config,
    vision_config: { ...config.vision_config, hidden_act: 'quick_gelu' },
    text_config: { ...config.text_config, hidden_act: 'quick_gelu' },
  };
}

/** `text_cfg.hf_tokenizer_name` of a model config: the tokenizer its text tower reads, when not CLIP's. */
export function openClipTokenizerName(cfg: OpenClipModelConfig): string | undefined {
  const name = (cfg.text_cfg as Record<string, unknown> | undefined)?.hf_tokenizer_name;
  return typeof name === 'string' ? name : undefined;
}
