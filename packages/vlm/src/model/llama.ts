// The Llama decoder as HF transformers' LlamaForCausalLM computes it:
//   h = x + o_proj(attention(rope(q_proj(rms(x))), rope(k_proj(..)), v_proj(..)))   (GQA, causal)
//   y = h + down_proj(act(gate_proj(rms(h))) * up_proj(rms(h)))                       (SwiGLU)
// then a final RMSNorm and the output embeddings (tied to the input ones or not). With a KV cache
// the new keys and values are written into the preallocated cache in place and attention reads its
// valid prefix, so a prefill is one pass over the prompt and a decode step one pass over one token.
import {
  type KvCache,
  type MatmulActivation,
  type Tensor,
  appendKv,
  attention,
  matmul,
  mul,
  reshape,
  rmsNorm,
  rope,
  slice,
  transpose,
} from '@vl/tensor';
import { checkObject, checkString, checkTensor, checkTensorMap } from '../checkArguments.js';
import { type LlamaConfig, type VlmActivation, ropeScaling } from './config.js';
import { type VlmParams, vlmParam } from './params.js';

/**
 * The matmul epilogue for a config activation: the tanh GELUs (`gelu_pytorch_tanh`, `gelu_new`)
 * become `gelu_tanh`; the others keep their names.
 *
 * @example
 * ```ts
 * matmulActivationOf('gelu_pytorch_tanh'); // 'gelu_tanh'
 * const act = matmulActivationOf(c.hidden_act); // 'silu' for Llama
 * const gate = linearAt(params, 'language_model.model.layers.0.mlp.gate_proj', h, act); // [B, T, F]
 * ```
 */
export function matmulActivationOf(act: VlmActivation): MatmulActivation {
  switch (act) {
    case 'gelu_pytorch_tanh':
    case 'gelu_new':
      return 'gelu_tanh';
    default:
      return act;
  }
}

/**
 * PyTorch `nn.Linear` at `prefix` (weight `[out, in]`, optional bias) with a fused activation, and a
 * fused `residual` (the output's shape, added last) when given.
 *
 * @example
 * ```ts
 * const q = linearAt(params, 'language_model.model.layers.0.self_attn.q_proj', x); // [B, T, Hq * D]
 * const y = linearAt(params, 'language_model.model.layers.0.self_attn.o_proj', o, 'none', x); // x + o_proj(o)
 * ```
 */
export function linearAt(
  params: VlmParams,
  prefix: string,
  x: Tensor, // [..., in]
  activation: MatmulActivation = 'none',
  residual?: Tensor, // [..., out]
): Tensor {
  // Called per layer: a few typeof/instanceof tests.
  checkTensorMap('linearAt', 'params', params);
  checkString('linearAt', 'prefix', prefix);
  checkTensor('linearAt', 'x', x);
  checkString('linearAt', 'activation', activation);
  checkTensor('linearAt', 'residual', residual, true);
  const bias = params.get(`${prefix}.bias`);
  return matmul(x, vlmParam(params, `${prefix}.weight`), {
    transposeB: true,
    activation,
    ...(bias ? { bias } : {}),
    ...(residual ? { residual } : {}),
  }); // [..., out]
}

/** Options of {@link llamaForward}. */
export interface LlamaForwardOptions {
  /** Appends this chunk's keys and values and attends over the whole cache (then advances it). */
  cache?: KvCache;
  /** i32 `[B, T]` positions (left-padded batches); default `cache.length + t`. */
  positions?: Tensor;
  /** bool `[B, Tk]` key padding mask (true = a real token); Tk is the cache's maxLength, or T without a cache. */
  mask?: Tensor;
  /** Logits of the last position only (`[B, 1, V]`): what generation needs after a prefill. */
  lastOnly?: boolean;
  /** Params prefix of the decoder (default `language_model`). */
  prefix?: string;
}

/** `[B, T, H * D]` -> `[B, H, T, D]` */
function splitHeads(x: Tensor, heads: number, headDim: number): Tensor {
  const [B, T] = x.shape as [number, number, number];
  return transpose(reshape(x, [B, T, heads, headDim]), [0, 2, 1, 3]); // [B, H, T, D]
}

function checkLlamaForwardArguments(
  params: unknown,
  inputsEmbeds: unknown,
  c: unknown,
  options: unknown,
): void {
  const fn = 'llamaForward';
  checkTensorMap(fn, 'params', params);
  checkTensor(fn, 'inputsEmbeds', inputsEmbeds);
  checkObject(fn, 'c', c, 'a LlamaConfig object');
  checkObject(fn, 'c.rope_parameters', (c as LlamaConfig).rope_parameters);
  checkForwardOptions(fn, options);
}

/** {@link LlamaForwardOptions} given to `fn`: an object, with tensors where it holds tensors. */
export function checkForwardOptions(fn: string, options: unknown): void {
  checkObject(fn, 'options', options);
  const o = options as LlamaForwardOptions;
  checkObject(fn, 'options.cache', o.cache, 'a KvCache', true);
  checkTensor(fn, 'options.positions', o.positions, true);
  checkTensor(fn, 'options.mask', o.mask, true);
  checkString(fn, 'options.prefix', o.prefix, true);
}

/**
 * The Llama decoder on input embeddings `[B, T, C]` (token embeddings with image features merged
 * in), returning logits `[B, T, V]` (`[B, 1, V]` with `lastOnly`).
 *
 * @example
 * ```ts
 * const cache = createKvCache({ backend, layers: c.num_hidden_layers, batch: 1, kvHeads: c.num_key_value_heads, maxLength: 256, headDim: c.head_dim });
 * const logits = llamaForward(params, embeds, c, { cache, lastOnly: true }); // [1, 1, V]
 * ```
 */
export function llamaForward(
  params: VlmParams,
  inputsEmbeds: Tensor, // [B, T, C]
  c: LlamaConfig,
  options: LlamaForwardOptions = {},
): Tensor {
  checkLlamaForwardArguments(params, inputsEmbeds, c, options);
  const { cache, positions, mask } = options;
  const m = `${options.prefix ?? 'language_model'}.model`;
  if (inputsEmbeds.rank !== 3 || inputsEmbeds.shape[2] !== c.hidden_size) {
    throw new RangeError(
      `llamaForward: inputsEmbeds must be [B, T, ${c.hidden_size}], got ${inputsEmbeds.describe()}`,
    );
  }
  const [B, T] = inputsEmbeds.shape as [number, number, number];
  const Hq = c.num_attention_heads;
  const Hkv = c.num_key_value_heads;
  const D = c.head_dim;
  const scaling = ropeScaling(c.rope_parameters);
  const ropeOptions = {
    theta: c.rope_parameters.rope_theta,
    ...(scaling ? { scaling } : {}),
    ...(positions ? { positions } : { offset: cache?.length ?? 0 }),
  };
  const act = matmulActivationOf(c.hidden_act);
  let x = inputsEmbeds; // [B, T, C]
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const l = `${m}.layers.${i}`;
    const h = rmsNorm(x, vlmParam(params, `${l}.input_layernorm.weight`), c.rms_norm_eps); // [B, T, C]
    const q = rope(splitHeads(linearAt(params, `${l}.self_attn.q_proj`, h), Hq, D), ropeOptions); // [B, Hq, T, D]
    const k = rope(splitHeads(linearAt(params, `${l}.self_attn.k_proj`, h), Hkv, D), ropeOptions); // [B, Hkv, T, D]
    const v = splitHeads(linearAt(params, `${l}.self_attn.v_proj`, h), Hkv, D); // [B, Hkv, T, D]
    let o: Tensor; // [B, Hq, T, D]
    if (cache) {
      const kv = appendKv(cache, i, k, v); // [B, Hkv, maxLength, D] each, kvLength valid
      o = attention(q, kv.k, kv.v, { causal: true, kvLength: kv.kvLength, ...(mask ? { mask } : {}) });
    } else {
      o = attention(q, k, v, { causal: true, ...(mask ? { mask } : {}) });
    }
    const merged = reshape(transpose(o, [0, 2, 1, 3]), [B, T, Hq * D]); // [B, T, Hq * D]
    x = linearAt(params, `${l}.self_attn.o_proj`, merged, 'none', x); // x + o_proj: [B, T, C]
    const h2 = rmsNorm(x, vlmParam(params, `${l}.post_attention_layernorm.weight`), c.rms_norm_eps); // [B, T, C]
    const gate = linearAt(params, `${l}.mlp.gate_proj`, h2, act); // [B, T, F]
    const up = linearAt(params, `${l}.mlp.up_proj`, h2); // [B, T, F]
    x = linearAt(params, `${l}.mlp.down_proj`, mul(gate, up), 'none', x); // x + down_proj: [B, T, C]
  }
  cache?.advance();
  let last = x; // [B, T, C]
  if (options.lastOnly && T > 1) last = slice(x, [0, T - 1, 0], [B, 1, c.hidden_size]); // [B, 1, C]
  const normed = rmsNorm(last, vlmParam(params, `${m}.norm.weight`), c.rms_norm_eps); // [B, T', C]
  const head = c.tie_word_embeddings
    ? vlmParam(params, `${m}.embed_tokens.weight`) // [V, C]
    : vlmParam(params, `${options.prefix ?? 'language_model'}.lm_head.weight`); // [V, C]
  return matmul(normed, head, { transposeB: true }); // [B, T', V]
}
