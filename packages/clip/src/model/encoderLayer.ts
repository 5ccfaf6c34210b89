// One pre-LayerNorm transformer block as HF's CLIPEncoderLayer computes it:
//   h = x + out_proj(attention(q_proj(ln1(x)), k_proj(..), v_proj(..)))   (or one fused qkv_proj)
//   y = h + fc2(act(fc1(ln2(h))))
// With LayerScale (open_clip `ls_init_value`) each branch is scaled per channel before its add:
//   h = x + ls_1.gamma * attn(..),  y = h + ls_2.gamma * mlp(..)
import {
  type Tensor,
  add,
  arange,
  attention,
  attentionQkv,
  gather,
  layerNorm,
  matmul,
  mul,
  reshape,
} from '@vl/tensor';
import {
  argumentError,
  checkObject,
  checkOptionalTensor,
  checkParamsMap,
  checkString,
  checkTensor,
} from '../checkArguments.js';
import type { ClipActivation } from './config.js';
import { type ClipParams, param } from './params.js';

/** What a block needs to know about its tower. */
export interface EncoderLayerConfig {
  hidden_size: number;
  intermediate_size: number;
  num_attention_heads: number;
  hidden_act: ClipActivation;
  layer_norm_eps: number;
  /** LayerScale: `ls_1.gamma` and `ls_2.gamma` `[C]` scale the attention and MLP branches. */
  layer_scale?: boolean;
}

/** The activations {@link linear} fuses. */
const LINEAR_ACTIVATIONS = ['none', 'quick_gelu', 'gelu', 'gelu_tanh', 'relu'];

/**
 * The arguments every block function takes first: params, the prefix of its tensors, the states
 * `[B, T, C]`. Called once per block: a few typeof/instanceof tests.
 */
function checkBlockArgs(fn: string, params: unknown, prefix: unknown, x: unknown): void {
  checkParamsMap(fn, params);
  checkString(fn, 'prefix', prefix);
  checkTensor(fn, 'x', x);
  if (x.rank !== 3) throw new RangeError(`${fn}: x must be [B, T, C], got ${x.describe()}`);
}

/** A block's config and options: objects (their fields are the config parser's to check). */
function checkBlockConfig(fn: string, c: unknown, options: unknown): void {
  checkObject(fn, 'c', c, 'an EncoderLayerConfig (a tower config)');
  checkObject(fn, 'options', options, 'an object { causal, mask? }');
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
  if (c.layer_scale) shapes.push([`${prefix}.ls_1.gamma`, [C]], [`${prefix}.ls_2.gamma`, [C]]);
  return shapes;
}

/**
 * PyTorch `nn.Linear` at `prefix` (weight `[out, in]`, optional bias) with a fused activation,
 * and a fused `residual` (the output's shape, added last) when given. Reads `${prefix}.weight` and
 * `${prefix}.bias` from `params` (unlike `@vl/tensor`'s `linear`, which takes the tensors).
 *
 * @example
 * ```ts
 * const mlp = 'vision_model.encoder.layers.0.mlp';
 * const up = linear(params, `${mlp}.fc1`, x, 'quick_gelu'); // [B, 50, 768] -> [B, 50, 3072]
 * const y = linear(params, `${mlp}.fc2`, up, 'none', h); // h + fc2(up): [B, 50, 768]
 * ```
 */
export function linear(
  params: ClipParams,
  prefix: string,
  x: Tensor, // [..., in]
  activation: 'none' | 'quick_gelu' | 'gelu' | 'gelu_tanh' | 'relu' = 'none',
  residual?: Tensor, // [..., out]
): Tensor {
  checkParamsMap('linear', params);
  checkString('linear', 'prefix', prefix);
  checkTensor('linear', 'x', x);
  if (!LINEAR_ACTIVATIONS.includes(activation))
    throw argumentError('linear', 'activation', `one of ${LINEAR_ACTIVATIONS.join(', ')}`, activation);
  checkOptionalTensor('linear', 'residual', residual);
  const bias = params.get(`${prefix}.bias`);
  return matmul(x, param(params, `${prefix}.weight`), {
    transposeB: true,
    activation,
    ...(bias ? { bias } : {}),
    ...(residual ? { residual } : {}),
  }); // [..., out]
}

/**
 * Self-attention with CLIP's q/k/v projections; `mask` is a bool `[B, T]` padding mask. With a fused
 * `qkv_proj` in `params` (see fuseQkvProjections) one product feeds attentionQkv; otherwise the three
 * products are read as `[B, T, H, D]` heads in place. No head is transposed either way.
 * `prefix` is the block's `self_attn` (e.g. `text_model.encoder.layers.0.self_attn`); `x` is the
 * block's input after its first LayerNorm. `options.residual` (`[B, T, C]`, the block's input) is
 * added by the output projection's kernel.
 *
 * @example
 * ```ts
 * const prefix = 'text_model.encoder.layers.0.self_attn';
 * const a = clipAttention(params, prefix, x, config.text_config, { causal: true, mask }); // [B, 77, 512]
 * ```
 */
export function clipAttention(
  params: ClipParams,
  prefix: string,
  x: Tensor, // [B, T, C]
  c: EncoderLayerConfig,
  options: { causal: boolean; mask?: Tensor; residual?: Tensor },
): Tensor {
  checkBlockArgs('clipAttention', params, prefix, x);
  checkBlockConfig('clipAttention', c, options);
  const [B, T, C] = x.shape as [number, number, number];
  const H = c.num_attention_heads;
  const masking = { causal: options.causal, ...(options.mask ? { mask: options.mask } : {}) };
  if (params.has(`${prefix}.qkv_proj.weight`)) {
    const qkv = linear(params, `${prefix}.qkv_proj`, x); // [B, T, 3C]
    const o = attentionQkv(qkv, { heads: H, ...masking }); // [B, T, C]
    return linear(params, `${prefix}.out_proj`, o, 'none', options.residual); // [B, T, C]
  }
  const heads = (p: string) => reshape(linear(params, `${prefix}.${p}`, x), [B, T, H, C / H]); // [B, T, H, D]
  const o = attention(heads('q_proj'), heads('k_proj'), heads('v_proj'), { ...masking, layout: 'bthd' }); // [B, T, H, D]
  return linear(params, `${prefix}.out_proj`, reshape(o, [B, T, C]), 'none', options.residual); // [B, T, C]
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
  checkBlockArgs('encoderLayer', params, prefix, x);
  checkBlockConfig('encoderLayer', c, options);
  const ln = (name: string, t: Tensor) =>
    layerNorm(
      t,
      param(params, `${prefix}.${name}.weight`),
      param(params, `${prefix}.${name}.bias`),
      c.layer_norm_eps,
    );
  if (c.layer_scale) {
    // The branches are scaled before the skip, so the kernels cannot add it.
    const C = c.hidden_size;
    const a = clipAttention(params, `${prefix}.self_attn`, ln('layer_norm1', x), c, options); // [B, T, C]
    const h = add(x, mul(a, param(params, `${prefix}.ls_1.gamma`, [C]))); // [B, T, C]
    const up = linear(params, `${prefix}.mlp.fc1`, ln('layer_norm2', h), matmulActivation(c.hidden_act)); // [B, T, F]
    const m = linear(params, `${prefix}.mlp.fc2`, up); // [B, T, C]
    return add(h, mul(m, param(params, `${prefix}.ls_2.gamma`, [C]))); // [B, T, C]
  }
  // The skip connections are added by the output projections' kernels.
  const attn = { ...options, residual: x };
  const h = clipAttention(params, `${prefix}.self_attn`, ln('layer_norm1', x), c, attn); // [B, T, C]
  const up = linear(params, `${prefix}.mlp.fc1`, ln('layer_norm2', h), matmulActivation(c.hidden_act)); // [B, T, F]
  return linear(params, `${prefix}.mlp.fc2`, up, 'none', h); // h + fc2(up): [B, T, C]
}

/**
 * Picks row `rows[b]` of each sequence b: a function from states `[B, T, C]` to `[B, C]` (the
 * offsets computed once, for every tensor it picks from).
 *
 * @example
 * ```ts
 * const pooled = rowPicker(endPositions, B, T)(lastHiddenState); // [B, C]
 * ```
 */
export function rowPicker(rows: Tensor, B: number, T: number): (t: Tensor) => Tensor {
  // Row b of the flattened [B*T, C] states at b*T + rows[b].
  const at = add(rows, arange(0, B * T, T, { backend: rows.backend })); // i32 [B]
  return (t) => gather(reshape(t, [B * T, t.shape[2]!]), at, 0); // [B, C]
}

/**
 * The block of {@link encoderLayer} computed for one row per sequence only (`rows`, i32 `[B]`: the
 * pooled token), which is all a tower's last block needs when only its pooled output is read: the
 * keys and values still come from every row, but the query, the output projection and the MLP run
 * for one row instead of T (a ViT-B/32 or text tower skips about a twelfth of its work). `keyMask`
 * (bool `[B, T]`) says which keys that row sees; without it, all. The row's values are those of
 * `encoderLayer`'s output at `rows`.
 *
 * @example
 * ```ts
 * const cls = encoderLayerAtRows(params, prefix, h, c, zeros([B], { backend, dtype: 'i32' })); // [B, C]
 * ```
 */
export function encoderLayerAtRows(
  params: ClipParams,
  prefix: string,
  x: Tensor, // [B, T, C]
  c: EncoderLayerConfig,
  rows: Tensor, // i32 [B]
  keyMask?: Tensor, // bool [B, T]
): Tensor {
  const [B, T, C] = x.shape as [number, number, number];
  const H = c.num_attention_heads;
  const ln = (name: string, t: Tensor) =>
    layerNorm(
      t,
      param(params, `${prefix}.${name}.weight`),
      param(params, `${prefix}.${name}.bias`),
      c.layer_norm_eps,
    );
  const pick = rowPicker(rows, B, T); // [B, T, C] -> [B, C]
  const h1 = ln('layer_norm1', x); // [B, T, C]
  const attn = `${prefix}.self_attn`;
  const q = reshape(linear(params, `${attn}.q_proj`, pick(h1)), [B, 1, H, C / H]); // [B, 1, H, D]
  const heads = (p: string) => reshape(linear(params, `${attn}.${p}`, h1), [B, T, H, C / H]); // [B, T, H, D]
  const o = attention(q, heads('k_proj'), heads('v_proj'), {
    layout: 'bthd',
    ...(keyMask ? { mask: keyMask } : {}),
  }); // [B, 1, H, D]
  const xRow = pick(x); // [B, C]
  if (c.layer_scale) {
    const a = linear(params, `${attn}.out_proj`, reshape(o, [B, C])); // [B, C]
    const h = add(xRow, mul(a, param(params, `${prefix}.ls_1.gamma`, [C]))); // [B, C]
    const up = linear(params, `${prefix}.mlp.fc1`, ln('layer_norm2', h), matmulActivation(c.hidden_act)); // [B, F]
    return add(h, mul(linear(params, `${prefix}.mlp.fc2`, up), param(params, `${prefix}.ls_2.gamma`, [C]))); // [B, C]
  }
  const h = linear(params, `${attn}.out_proj`, reshape(o, [B, C]), 'none', xRow); // [B, C]
  const up = linear(params, `${prefix}.mlp.fc1`, ln('layer_norm2', h), matmulActivation(c.hidden_act)); // [B, F]
  return linear(params, `${prefix}.mlp.fc2`, up, 'none', h); // [B, C]
}
