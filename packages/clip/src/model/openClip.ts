// open_clip checkpoints (`visual.*`, `transformer.resblocks.*`, fused `in_proj_weight`, `[in, out]`
// projections) for the ViT towers, mapped onto the HF layout the forward functions read. The
// mapping is a one-time reshuffle at load: q/k/v are slices of the fused projection and the
// projections are transposed, so both layouts run the same, fixture-checked forward code.
import { type Tensor, slice, transpose } from '@vl/tensor';
import {
  type ClipActivation,
  type ClipConfig,
  checkClipConfig,
  defaultTextConfig,
  defaultVisionConfig,
  describeValue,
} from './config.js';

/** The `model_cfg` of an `open_clip_config.json` (ViT towers). */
export interface OpenClipModelConfig {
  embed_dim: number;
  quick_gelu?: boolean;
  vision_cfg: {
    image_size: number;
    layers: number | number[];
    width: number;
    patch_size?: number;
    head_width?: number;
    mlp_ratio?: number;
  };
  text_cfg: {
    context_length?: number;
    vocab_size?: number;
    width?: number;
    heads?: number;
    layers?: number;
    mlp_ratio?: number;
  };
}

/**
 * True when the tensor names are open_clip's (some name starts with `visual.` or
 * `transformer.resblocks.`); such tensors go through {@link fromOpenClip} before the forward
 * functions can read them.
 *
 * @example
 * ```ts
 * isOpenClipCheckpoint(['visual.conv1.weight', 'logit_scale']); // true
 * isOpenClipCheckpoint(['vision_model.embeddings.class_embedding']); // false: HF names
 * const params = isOpenClipCheckpoint(tensors.keys()) ? fromOpenClip(tensors, config) : tensors;
 * ```
 */
export function isOpenClipCheckpoint(names: Iterable<string>): boolean {
  for (const n of names) if (n.startsWith('visual.') || n.startsWith('transformer.resblocks.')) return true;
  return false;
}

function objectField(value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`open_clip config: ${field} must be an object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Checks the fields openClipConfig reads: present ones of the right type, sizes that divide. */
function checkOpenClipModelConfig(cfg: unknown): void {
  const c = objectField(cfg, 'model_cfg');
  const v = objectField(c.vision_cfg, 'model_cfg.vision_cfg');
  const t = c.text_cfg === undefined ? {} : objectField(c.text_cfg, 'model_cfg.text_cfg');
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

/**
 * An HF-style {@link ClipConfig} for an open_clip model config (ViT or ModifiedResNet image tower).
 *
 * @example
 * ```ts
 * const config = openClipConfig(json.model_cfg);
 * ```
 */
export function openClipConfig(cfg: OpenClipModelConfig): ClipConfig {
  checkOpenClipModelConfig(cfg);
  const act: ClipActivation = cfg.quick_gelu ? 'quick_gelu' : 'gelu';
  const v = cfg.vision_cfg;
  const t = cfg.text_cfg ?? {};
  const resnet = Array.isArray(v.layers)
    ? {
        layers: v.layers,
        width: v.width,
        heads: (v.width * 32) / (v.head_width ?? 64),
        image_size: v.image_size,
        output_dim: cfg.embed_dim,
      }
    : undefined;
  const textWidth = t.width ?? 512;
  const config: ClipConfig = {
    ...(resnet ? { vision_resnet: resnet } : {}),
    projection_dim: cfg.embed_dim,
    logit_scale_init_value: Math.log(1 / 0.07),
    vision_config: {
      ...defaultVisionConfig,
      hidden_size: v.width,
      intermediate_size: Math.round(v.width * (v.mlp_ratio ?? 4)),
      num_hidden_layers: Array.isArray(v.layers) ? 0 : v.layers,
      num_attention_heads: v.width / (v.head_width ?? 64),
      image_size: v.image_size,
      patch_size: v.patch_size ?? 16,
      projection_dim: cfg.embed_dim,
      hidden_act: act,
    },
    text_config: {
      ...defaultTextConfig,
      vocab_size: t.vocab_size ?? 49408,
      hidden_size: textWidth,
      intermediate_size: Math.round(textWidth * (t.mlp_ratio ?? 4)),
      num_hidden_layers: t.layers ?? 12,
      num_attention_heads: t.heads ?? 8,
      max_position_embeddings: t.context_length ?? 77,
      projection_dim: cfg.embed_dim,
      hidden_act: act,
      // open_clip pools at the argmax of the ids, which is what eos_token_id 2 means in HF.
      eos_token_id: 2,
    },
  };
  checkClipConfig(config);
  return config;
}

function need(src: ReadonlyMap<string, Tensor>, name: string): Tensor {
  const t = src.get(name);
  if (!t) throw new Error(`open_clip: the checkpoint has no tensor ${name}`);
  return t;
}

function mapBlock(
  src: ReadonlyMap<string, Tensor>,
  from: string,
  to: string,
  out: Map<string, Tensor>,
): void {
  const w = need(src, `${from}.attn.in_proj_weight`); // [3C, C]
  const b = need(src, `${from}.attn.in_proj_bias`); // [3C]
  const C = w.shape[1]!;
  if (w.shape[0] !== 3 * C) {
    throw new Error(
      `open_clip: ${from}.attn.in_proj_weight has shape [${w.shape.join(', ')}], expected [${3 * C}, ${C}]`,
    );
  }
  ['q_proj', 'k_proj', 'v_proj'].forEach((p, i) => {
    out.set(`${to}.self_attn.${p}.weight`, slice(w, [i * C, 0], [C, C]));
    out.set(`${to}.self_attn.${p}.bias`, slice(b, [i * C], [C]));
  });
  const copy: [string, string][] = [
    ['attn.out_proj.weight', 'self_attn.out_proj.weight'],
    ['attn.out_proj.bias', 'self_attn.out_proj.bias'],
    ['ln_1.weight', 'layer_norm1.weight'],
    ['ln_1.bias', 'layer_norm1.bias'],
    ['ln_2.weight', 'layer_norm2.weight'],
    ['ln_2.bias', 'layer_norm2.bias'],
    ['mlp.c_fc.weight', 'mlp.fc1.weight'],
    ['mlp.c_fc.bias', 'mlp.fc1.bias'],
    ['mlp.c_proj.weight', 'mlp.fc2.weight'],
    ['mlp.c_proj.bias', 'mlp.fc2.bias'],
  ];
  for (const [a, h] of copy) out.set(`${to}.${h}`, need(src, `${from}.${a}`));
}

/**
 * Maps open_clip ViT tensors to HF CLIPModel names. New tensors (slices, transposes) are created for
 * the fused and transposed ones; the others are shared with `src`, so dispose through the result
 * and do not dispose `src` separately.
 *
 * @example
 * ```ts
 * const params = fromOpenClip(tensors, config); // params.get('text_model.encoder.layers.0.self_attn.q_proj.weight')
 * ```
 */
export function fromOpenClip(src: ReadonlyMap<string, Tensor>, config: ClipConfig): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  mapText(src, config, out);
  if (config.vision_resnet) {
    // The ResNet tower has no HF counterpart: its forward reads open_clip's own names.
    for (const [name, t] of src)
      if (name.startsWith('visual.') && !name.endsWith('num_batches_tracked')) out.set(name, t);
    return out;
  }
  const C = config.vision_config.hidden_size;
  const patch = need(src, 'visual.conv1.weight');
  if (patch.shape[0] !== C)
    throw new Error(
      `open_clip: visual.conv1.weight has ${patch.shape[0]} filters but the config says width ${C}`,
    );
  out.set('vision_model.embeddings.patch_embedding.weight', patch);
  out.set('vision_model.embeddings.class_embedding', need(src, 'visual.class_embedding'));
  out.set('vision_model.embeddings.position_embedding.weight', need(src, 'visual.positional_embedding'));
  out.set('vision_model.pre_layrnorm.weight', need(src, 'visual.ln_pre.weight'));
  out.set('vision_model.pre_layrnorm.bias', need(src, 'visual.ln_pre.bias'));
  out.set('vision_model.post_layernorm.weight', need(src, 'visual.ln_post.weight'));
  out.set('vision_model.post_layernorm.bias', need(src, 'visual.ln_post.bias'));
  out.set('visual_projection.weight', transpose(need(src, 'visual.proj'), [1, 0])); // [W, P] -> [P, W]
  for (let i = 0; i < config.vision_config.num_hidden_layers; i++) {
    mapBlock(src, `visual.transformer.resblocks.${i}`, `vision_model.encoder.layers.${i}`, out);
  }
  return out;
}

function mapText(src: ReadonlyMap<string, Tensor>, config: ClipConfig, out: Map<string, Tensor>): void {
  out.set('text_model.embeddings.token_embedding.weight', need(src, 'token_embedding.weight'));
  out.set('text_model.embeddings.position_embedding.weight', need(src, 'positional_embedding'));
  out.set('text_model.final_layer_norm.weight', need(src, 'ln_final.weight'));
  out.set('text_model.final_layer_norm.bias', need(src, 'ln_final.bias'));
  out.set('text_projection.weight', transpose(need(src, 'text_projection'), [1, 0])); // [W, P] -> [P, W]
  for (let i = 0; i < config.text_config.num_hidden_layers; i++) {
    mapBlock(src, `transformer.resblocks.${i}`, `text_model.encoder.layers.${i}`, out);
  }
  out.set('logit_scale', need(src, 'logit_scale'));
}
