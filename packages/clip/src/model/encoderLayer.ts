// One pre-LayerNorm transformer block as HF's CLIPEncoderLayer computes it:
//   h = x + out_proj(attention(q_proj(ln1(x)), k_proj(..), v_proj(..)))
//   y = h + fc2(act(fc1(ln2(h))))
import { type Tensor, add, attention, layerNorm, matmul, reshape, transpose } from '@vl/tensor';
import type { ClipActivation } from './config.js';
import { type ClipParams, param } from './params.js';

/** What a block needs to know about its tower. */
export interface EncoderLayerConfig {
  hidden_size: number;
  intermediate_size: number;
  num_attention_heads: number;
  hidden_act: ClipActivation;
  layer_norm_eps: number;
}

/** matmul epilogue activations for each CLIP `hidden_act`. */
export function matmulActivation(act: ClipActivation): 'quick_gelu' | 'gelu' | 'gelu_tanh' | 'relu' {
  switch (act) {
    case 'quick_gelu':
      return 'quick_gelu';
    case 'gelu':
      return 'gelu';
    case 'relu':
      return 'relu';
    default:
      return 'gelu_tanh';
  }
}

/** Expected parameter shapes of the block at `prefix` (e.g. `text_model.encoder.layers.0`). */
export function encoderLayerShapes(prefix: string, c: EncoderLayerConfig): [string, number[]][] {
  const C = c.hidden_size;
  const F = c.intermediate_size;
  const shapes: [string, number[]][] = [];
  for (const ln of ['layer_norm1', 'layer_norm2']) {
    shapes.push([`${prefix}.${ln}.weight`, [C]], [`${prefix}.${ln}.bias`, [C]]);
  }
  for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
    shapes.push([`${prefix}.self_attn.${p}.weight`, [C, C]], [`${prefix}.self_attn.${p}.bias`, [C]]);
  }
  shapes.push([`${prefix}.mlp.fc1.weight`, [F, C]], [`${prefix}.mlp.fc1.bias`, [F]]);
  shapes.push([`${prefix}.mlp.fc2.weight`, [C, F]], [`${prefix}.mlp.fc2.bias`, [C]]);
  return shapes;
}

/** PyTorch `nn.Linear` at `prefix` (weight `[out, in]`, optional bias) with a fused activation. */
export function linear(
  params: ClipParams,
  prefix: string,
  x: Tensor, // [..., in]
  activation: 'none' | 'quick_gelu' | 'gelu' | 'gelu_tanh' | 'relu' = 'none',
): Tensor {
  const bias = params.get(`${prefix}.bias`);
  return matmul(x, param(params, `${prefix}.weight`), {
    transposeB: true,
    activation,
    ...(bias ? { bias } : {}),
  }); // [..., out]
}

/** `[B, T, C]` -> `[B, H, T, D]` */
function splitHeads(x: Tensor, heads: number): Tensor {
  const [B, T, C] = x.shape as [number, number, number];
  return transpose(reshape(x, [B, T, heads, C / heads]), [0, 2, 1, 3]);
}

/** Self-attention with CLIP's separate q/k/v projections; `mask` is a bool `[B, T]` padding mask. */
export function clipAttention(
  params: ClipParams,
  prefix: string,
  x: Tensor, // [B, T, C]
  c: EncoderLayerConfig,
  options: { causal: boolean; mask?: Tensor },
): Tensor {
  const [B, T, C] = x.shape as [number, number, number];
  const q = splitHeads(linear(params, `${prefix}.q_proj`, x), c.num_attention_heads); // [B, H, T, D]
  const k = splitHeads(linear(params, `${prefix}.k_proj`, x), c.num_attention_heads); // [B, H, T, D]
  const v = splitHeads(linear(params, `${prefix}.v_proj`, x), c.num_attention_heads); // [B, H, T, D]
  const o = attention(q, k, v, { causal: options.causal, ...(options.mask ? { mask: options.mask } : {}) }); // [B, H, T, D]
  const merged = reshape(transpose(o, [0, 2, 1, 3]), [B, T, C]); // [B, T, C]
  return linear(params, `${prefix}.out_proj`, merged); // [B, T, C]
}

/**
 * One CLIP encoder block (HF `CLIPEncoderLayer`).
 *
 * @example
 * ```ts
 * const y = encoderLayer(params, 'vision_model.encoder.layers.0', x, config.vision_config, { causal: false });
 * ```
 */
export function encoderLayer(
  params: ClipParams,
  prefix: string,
  x: Tensor, // [B, T, C]
  c: EncoderLayerConfig,
  options: { causal: boolean; mask?: Tensor },
): Tensor {
  const ln = (name: string, t: Tensor) =>
    layerNorm(
      t,
      param(params, `${prefix}.${name}.weight`),
      param(params, `${prefix}.${name}.bias`),
      c.layer_norm_eps,
    );
  const h = add(x, clipAttention(params, `${prefix}.self_attn`, ln('layer_norm1', x), c, options)); // [B, T, C]
  const up = linear(params, `${prefix}.mlp.fc1`, ln('layer_norm2', h), matmulActivation(c.hidden_act)); // [B, T, F]
  return add(h, linear(params, `${prefix}.mlp.fc2`, up)); // [B, T, C]
}
