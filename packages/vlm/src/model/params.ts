// The params tree of a LLaVA checkpoint, keyed by the tensor names transformers saves
// (`language_model.model.*`, `language_model.lm_head.*`, `vision_tower.*`, `multi_modal_projector.*`).
// Checkpoints on the hub spell the same tensors several ways; `normalizeLlavaParams` maps each
// spelling onto these names once at load, so the model code reads one set of names.
import { checkParams, visionTowerShapes } from '@vl/clip';
import type { Shape, Tensor } from '@vl/tensor';
import {
  argumentError,
  checkLlavaConfig,
  checkObject,
  checkString,
  checkTensorMap,
} from '../checkArguments.js';
import type { LlamaConfig, LlavaConfig } from './config.js';

/** Model parameters keyed by checkpoint tensor names. */
export type VlmParams = ReadonlyMap<string, Tensor>;

/** Name prefixes of each spelling in use and the name this package reads, most specific first. */
const SPELLINGS: readonly (readonly [string, string])[] = [
  ['model.language_model.', 'language_model.model.'],
  ['language_model.model.', 'language_model.model.'],
  ['language_model.lm_head.', 'language_model.lm_head.'],
  ['lm_head.', 'language_model.lm_head.'],
  ['model.vision_tower.vision_model.', 'vision_tower.'],
  ['vision_tower.vision_model.', 'vision_tower.'],
  ['model.vision_tower.', 'vision_tower.'],
  ['vision_tower.', 'vision_tower.'],
  ['model.multi_modal_projector.', 'multi_modal_projector.'],
  ['multi_modal_projector.', 'multi_modal_projector.'],
];

/**
 * The name a LLaVA tensor has in this package's params tree, whichever spelling the checkpoint
 * uses; `undefined` for a name that belongs to none of the model's parts.
 *
 * @example
 * ```ts
 * canonicalLlavaName('model.vision_tower.vision_model.post_layernorm.weight'); // 'vision_tower.post_layernorm.weight'
 * canonicalLlavaName('lm_head.weight'); // 'language_model.lm_head.weight'
 * ```
 */
export function canonicalLlavaName(name: string): string | undefined {
  checkString('canonicalLlavaName', 'name', name);
  return canonicalName(name);
}

function canonicalName(name: string): string | undefined {
  for (const [from, to] of SPELLINGS) if (name.startsWith(from)) return to + name.slice(from.length);
  return undefined;
}

/**
 * Maps a checkpoint's tensors onto the canonical names (see {@link canonicalLlavaName}). The input
 * map is not modified and the tensors are shared, not copied. Two tensors that land on one name, or
 * a tensor no part of the model reads, are errors naming them.
 *
 * @example
 * ```ts
 * const { tensors } = await loadSafetensors('model.safetensors', { backend });
 * const params = normalizeLlavaParams(tensors); // 'model.language_model.norm.weight' -> 'language_model.model.norm.weight'
 * ```
 */
export function normalizeLlavaParams(tensors: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  checkTensorMap('normalizeLlavaParams', 'tensors', tensors);
  const out = new Map<string, Tensor>();
  const from = new Map<string, string>();
  const unknown: string[] = [];
  for (const [name, t] of tensors) {
    const canonical = canonicalName(name);
    if (canonical === undefined) {
      // Rotary caches some old exports saved are recomputed, never read.
      if (!name.endsWith('rotary_emb.inv_freq')) unknown.push(name);
      continue;
    }
    const earlier = from.get(canonical);
    if (earlier !== undefined)
      throw new Error(
        `LLaVA: tensors ${earlier} and ${name} are both ${canonical} (two spellings in one checkpoint)`,
      );
    from.set(canonical, name);
    out.set(canonical, t);
  }
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 5).join(', ');
    throw new Error(
      `LLaVA: the checkpoint has tensors that belong to no part of the model: ${shown}${unknown.length > 5 ? `, ... (${unknown.length} in all)` : ''}`,
    );
  }
  return out;
}

/**
 * Expected parameter shapes of the Llama decoder under `prefix` (default `language_model`).
 *
 * @example
 * ```ts
 * llamaShapes(config.text_config).get('language_model.model.norm.weight'); // [hidden_size]
 * ```
 */
export function llamaShapes(c: LlamaConfig, prefix = 'language_model'): Map<string, Shape> {
  checkObject('llamaShapes', 'c', c, 'a LlamaConfig object');
  checkString('llamaShapes', 'prefix', prefix);
  const C = c.hidden_size;
  const F = c.intermediate_size;
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  const m = `${prefix}.model`;
  const shapes = new Map<string, Shape>([[`${m}.embed_tokens.weight`, [c.vocab_size, C]]]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const l = `${m}.layers.${i}`;
    shapes.set(`${l}.input_layernorm.weight`, [C]);
    shapes.set(`${l}.post_attention_layernorm.weight`, [C]);
    for (const [name, out, inp, bias] of [
      ['self_attn.q_proj', q, C, c.attention_bias],
      ['self_attn.k_proj', kv, C, c.attention_bias],
      ['self_attn.v_proj', kv, C, c.attention_bias],
      ['self_attn.o_proj', C, q, c.attention_bias],
      ['mlp.gate_proj', F, C, c.mlp_bias],
      ['mlp.up_proj', F, C, c.mlp_bias],
      ['mlp.down_proj', C, F, c.mlp_bias],
    ] as const) {
      shapes.set(`${l}.${name}.weight`, [out, inp]);
      if (bias) shapes.set(`${l}.${name}.bias`, [out]);
    }
  }
  shapes.set(`${m}.norm.weight`, [C]);
  if (!c.tie_word_embeddings) shapes.set(`${prefix}.lm_head.weight`, [c.vocab_size, C]);
  return shapes;
}

/**
 * Vision features per image token: the tower's width times the number of layers concatenated
 * (the input size of the projector's `linear_1`).
 *
 * @example
 * ```ts
 * visionFeatureSize(config); // 1024 for LLaVA-1.5 (one layer of a ViT-L/14 tower)
 * visionFeatureSize(parseLlavaConfig({ vision_feature_layer: [-2, -5] })); // 2048
 * ```
 */
export function visionFeatureSize(config: LlavaConfig): number {
  checkLlavaConfig('visionFeatureSize', config);
  const layers = Array.isArray(config.vision_feature_layer) ? config.vision_feature_layer.length : 1;
  return config.vision_config.hidden_size * layers;
}

/**
 * Expected parameter shapes of the whole LLaVA model: vision tower, projector and decoder.
 *
 * @example
 * ```ts
 * const shapes = llavaShapes(config);
 * shapes.get('multi_modal_projector.linear_1.weight'); // [text hidden, vision hidden]
 * ```
 */
export function llavaShapes(config: LlavaConfig): Map<string, Shape> {
  checkLlavaConfig('llavaShapes', config);
  const shapes = new Map<string, Shape>(visionTowerShapes(config.vision_config, 'vision_tower'));
  const C = config.text_config.hidden_size;
  shapes.set('multi_modal_projector.linear_1.weight', [C, visionFeatureSize(config)]);
  shapes.set('multi_modal_projector.linear_2.weight', [C, C]);
  if (config.multimodal_projector_bias) {
    shapes.set('multi_modal_projector.linear_1.bias', [C]);
    shapes.set('multi_modal_projector.linear_2.bias', [C]);
  }
  for (const [k, v] of llamaShapes(config.text_config)) shapes.set(k, v);
  return shapes;
}

/**
 * Checks that every expected tensor is present with its shape and is f32; lists every problem at
 * once, each naming the tensor (and both shapes, or its dtype). `checkParams` of `@vl/clip` under
 * LLaVA's name.
 *
 * @example
 * ```ts
 * checkVlmParams(params, llavaShapes(config));
 * ```
 */
export function checkVlmParams(params: VlmParams, expected: ReadonlyMap<string, Shape>): void {
  checkTensorMap('checkVlmParams', 'params', params);
  if (!(expected instanceof Map))
    throw argumentError('checkVlmParams', 'expected', 'a Map of shapes by name (llavaShapes)', expected);
  checkParams(params, expected, 'LLaVA');
}

/**
 * The parameter `name`, or an error naming it.
 *
 * @example
 * ```ts
 * const norm = vlmParam(params, 'language_model.model.norm.weight');
 * ```
 */
export function vlmParam(params: VlmParams, name: string): Tensor {
  checkTensorMap('vlmParam', 'params', params);
  checkString('vlmParam', 'name', name);
  const t = params.get(name);
  if (!t) throw new Error(`LLaVA: the checkpoint has no tensor ${name}`);
  return t;
}
