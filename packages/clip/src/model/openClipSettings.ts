// Every setting an open_clip `model_cfg` may hold, and what this package does with it: read it
// (openClipConfig turns it into the model), let it pass (it changes nothing at inference), or
// accept only the values that mean what the forward functions compute. Anything else, including a
// key this table does not know, is refused by name: a setting dropped without a word gives other
// embeddings without a word.
import { describeValue } from './config.js';

/** `'read'`: openClipConfig reads it; `'inert'`: no effect at inference; else the accepted values. */
type Setting = 'read' | 'inert' | { ok: (value: unknown) => boolean; means: string };

const off = (v: unknown) => v === false;
const never = () => false;
const emptyObject = (v: unknown) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;

const TOP: Record<string, Setting> = {
  embed_dim: 'read',
  quick_gelu: 'read',
  vision_cfg: 'read',
  text_cfg: 'read',
  cast_dtype: 'inert', // the models compute in f32
  init_logit_scale: 'inert', // the checkpoint's logit_scale is read
  nonscalar_logit_scale: 'inert', // a [1] logit_scale is read as a scalar
  output_dict: 'inert',
  init_logit_bias: { ok: never, means: 'a logit_bias (a SigLIP-style sigmoid loss)' },
  custom_text: { ok: off, means: 'a text tower stored under text.* (CustomTextCLIP)' },
  multimodal_cfg: { ok: never, means: 'a CoCa captioning decoder' },
};

const BLOCKS: Record<string, Setting> = {
  layers: 'read',
  width: 'read',
  mlp_ratio: 'read',
  ls_init_value: 'read',
  output_tokens: 'inert',
  drop_path_rate: 'inert',
  act_kwargs: { ok: emptyObject, means: 'activation arguments (such as the tanh GELU of CLIPA)' },
  norm_kwargs: { ok: emptyObject, means: 'LayerNorm arguments (such as the eps 1e-6 of CLIPS)' },
  block_type: { ok: (v) => v === 'default', means: 'a custom transformer block' },
  ...Object.fromEntries(
    ['qk_norm', 'scaled_cosine_attn', 'scale_heads', 'scale_attn_inner', 'scale_attn', 'scale_fc'].map(
      (k) => [k, { ok: off, means: 'a custom attention block (extra norms or scales)' }],
    ),
  ),
};

const VISION: Record<string, Setting> = {
  ...BLOCKS,
  image_size: 'read',
  patch_size: 'read',
  head_width: 'read',
  pool_type: 'read',
  final_ln_after_pool: 'read',
  global_average_pool: 'read',
  patch_dropout: 'inert', // training only
  attn_pooler_queries: 'inert',
  attn_pooler_heads: 'inert',
  n_queries: 'inert',
  attentional_pool: { ok: off, means: 'an attentional pooler (CoCa)' },
  no_ln_pre: { ok: off, means: 'no LayerNorm before the transformer (CLIPA, CLIPS)' },
  input_patchnorm: { ok: off, means: 'a LayerNorm on the patches (dual PatchNorm)' },
  pos_embed_type: { ok: (v) => v === 'learnable', means: 'fixed (sin-cos) position embeddings' },
  timm_model_name: { ok: never, means: 'a timm image tower (ConvNeXt, EVA, ViTamin, ...)' },
  // These only configure the timm tower refused above.
  timm_model_pretrained: 'inert',
  timm_pool: 'inert',
  timm_proj: 'inert',
  timm_proj_bias: 'inert',
  timm_drop: 'inert',
  timm_drop_path: 'inert',
};

const TEXT: Record<string, Setting> = {
  ...BLOCKS,
  context_length: 'read',
  vocab_size: 'read',
  heads: 'read',
  pool_type: 'read',
  eos_id: 'read',
  pad_id: 'read',
  hf_tokenizer_name: 'read', // loadClip requires a tokenizer of the model's vocabulary with it
  final_ln_after_pool: 'inert', // the pooling picks one token, and LayerNorm is per token
  tokenizer_kwargs: { ok: emptyObject, means: 'tokenizer options (such as canonicalized text)' },
  embed_cls: { ok: off, means: 'a class token appended to the text (CoCa)' },
  no_causal_mask: { ok: off, means: 'a text tower without a causal mask (CLIPA, CLIPS)' },
  ln_post_emb: { ok: off, means: 'a LayerNorm after the token embedding' },
  proj_type: { ok: (v) => v === 'linear', means: 'a text projection other than one matrix' },
  proj_bias: { ok: off, means: 'a bias on the text projection' },
  hf_model_name: { ok: never, means: 'a transformers text tower (XLM-RoBERTa, RoBERTa, mT5, ...)' },
  // These only configure the transformers tower refused above.
  hf_model_pretrained: 'inert',
  hf_proj_type: 'inert',
  hf_pooler_type: 'inert',
};

function check(cfg: Record<string, unknown>, table: Record<string, Setting>, where: string): void {
  for (const [key, value] of Object.entries(cfg)) {
    const setting = table[key];
    if (setting === undefined) {
      throw new RangeError(
        `open_clip config: ${where}.${key} (${describeValue(value)}) is not a setting this loader knows; ` +
          'it may change what the model computes, so the model is refused',
      );
    }
    if (typeof setting === 'object' && !setting.ok(value)) {
      throw new RangeError(
        `open_clip config: ${where}.${key} ${JSON.stringify(value)} means ${setting.means}, which this loader does not implement`,
      );
    }
  }
}

/**
 * Refuses a `model_cfg` (nulls already dropped) holding a setting that changes the computation and
 * is not implemented, or one this table does not know, naming it.
 */
export function checkOpenClipSettings(
  cfg: Record<string, unknown>,
  vision: Record<string, unknown>,
  text: Record<string, unknown>,
): void {
  check(cfg, TOP, 'model_cfg');
  check(vision, VISION, 'model_cfg.vision_cfg');
  check(text, TEXT, 'model_cfg.text_cfg');
}
