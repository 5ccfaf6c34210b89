// HF CLIPTextTransformer: token + position embeddings, causal encoder blocks (with the padding
// mask), final LayerNorm, pooling at the end token.
import {
  type Tensor,
  add,
  arange,
  argmax,
  cast,
  compare,
  embedding,
  layerNorm,
  reshape,
  tensor,
} from '@vl/tensor';
import {
  checkObject,
  checkOptionalTensor,
  checkParamsMap,
  checkString,
  checkTensor,
} from '../checkArguments.js';
import type { ClipTextConfig } from './config.js';
import { encoderLayer, encoderLayerAtRows, encoderLayerShapes, rowPicker } from './encoderLayer.js';
import { type ClipParams, param } from './params.js';

/** Outputs of the text tower. */
export interface ClipTextOutput {
  /** `[B, T, C]` after the final LayerNorm. */
  lastHiddenState: Tensor;
  /** `[B, C]` at each sequence's end token. */
  pooled: Tensor;
}

/**
 * Expected parameter shapes of the text tower, as `[name, shape]` pairs under `prefix` (default
 * `text_model`); the text projection is not part of the tower (see {@link clipShapes}).
 *
 * @example
 * ```ts
 * const shapes = new Map(textTowerShapes(config.text_config));
 * shapes.get('text_model.embeddings.token_embedding.weight'); // [49408, 512] for ViT-B/32
 * ```
 */
export function textTowerShapes(c: ClipTextConfig, prefix = 'text_model'): [string, number[]][] {
  checkObject('textTowerShapes', 'c', c, 'a ClipTextConfig');
  checkString('textTowerShapes', 'prefix', prefix);
  const shapes: [string, number[]][] = [
    [`${prefix}.embeddings.token_embedding.weight`, [c.vocab_size, c.hidden_size]],
    [`${prefix}.embeddings.position_embedding.weight`, [c.max_position_embeddings, c.hidden_size]],
    [`${prefix}.final_layer_norm.weight`, [c.hidden_size]],
    [`${prefix}.final_layer_norm.bias`, [c.hidden_size]],
  ];
  for (let i = 0; i < c.num_hidden_layers; i++)
    shapes.push(...encoderLayerShapes(`${prefix}.encoder.layers.${i}`, c));
  return shapes;
}

/** The arguments both forward functions take, checked in the name of the one called. */
function checkTextArgs(
  fn: string,
  params: unknown,
  inputIds: unknown,
  attentionMask: unknown,
  c: unknown,
  prefix: unknown,
): void {
  checkParamsMap(fn, params);
  checkTensor(fn, 'inputIds', inputIds);
  checkOptionalTensor(fn, 'attentionMask', attentionMask);
  checkObject(fn, 'c', c, 'a ClipTextConfig');
  checkString(fn, 'prefix', prefix);
}

/** How the text tower picks each row's pooling position (see {@link poolPositions}). */
function poolTypeOf(c: ClipTextConfig): 'argmax' | 'eos' {
  return c.pool_type ?? (c.eos_token_id === 2 ? 'argmax' : 'eos');
}

/**
 * The pooling position of one row of ids on the host, by the rule of {@link poolPositions}: the
 * first largest id, or the first end token (0 when there is none).
 *
 * @example
 * ```ts
 * poolPositionOf(new Int32Array([49406, 320, 2368, 49407, 0, 0]), config.text_config); // 3
 * ```
 */
export function poolPositionOf(ids: ArrayLike<number>, c: ClipTextConfig): number {
  let at = 0;
  if (poolTypeOf(c) === 'argmax') {
    for (let t = 1; t < ids.length; t++) if (ids[t]! > ids[at]!) at = t;
    return at;
  }
  for (let t = 0; t < ids.length; t++) if (ids[t] === c.eos_token_id) return t;
  return 0;
}

/**
 * Each row's pooling position: the argmax of the ids or the first end token
 * (`(ids == eos).int().argmax(-1)`, so 0 when a row has none), as `pool_type` says; without it, as
 * HF decides: the argmax when `eos_token_id` is 2 (OpenAI's legacy configs: the end token has the
 * largest id), else the first end token.
 */
function poolPositions(inputIds: Tensor, c: ClipTextConfig): Tensor {
  if (poolTypeOf(c) === 'argmax') return argmax(inputIds, -1); // i32 [B]
  const eos = tensor(new Int32Array([c.eos_token_id]), [1], { backend: inputIds.backend });
  return argmax(cast(compare('equal', inputIds, eos), 'i32'), -1); // i32 [B]
}

/**
 * The CLIP text tower. `inputIds` i32 `[B, T]`; `attentionMask` (optional) `[B, T]` with 1 for real
 * tokens.
 *
 * @example
 * ```ts
 * const { pooled } = clipTextForward(params, ids, mask, config.text_config);
 * ```
 */
export function clipTextForward(
  params: ClipParams,
  inputIds: Tensor, // i32 [B, T]
  attentionMask: Tensor | undefined, // [B, T]
  c: ClipTextConfig,
  prefix = 'text_model',
): ClipTextOutput {
  checkTextArgs('clipTextForward', params, inputIds, attentionMask, c, prefix);
  const { h: embedded, mask } = textEmbeddings(params, inputIds, attentionMask, c, prefix);
  const [B, T] = inputIds.shape as [number, number];
  const h = textLayers(params, embedded, mask, c, prefix, c.num_hidden_layers); // [B, T, C]
  const last = finalNorm(params, h, c, prefix); // [B, T, C]
  const pooled = rowPicker(poolPositions(inputIds, c), B, T)(last); // [B, C]
  return { lastHiddenState: last, pooled };
}

/**
 * The text tower's pooled output alone (`[B, C]`, {@link clipTextForward}'s `pooled`): its last
 * block runs for the pooled token only (see encoderLayerAtRows), which sees the keys up to it.
 *
 * @example
 * ```ts
 * const pooled = clipTextPooled(params, ids, mask, config.text_config); // [B, 512]
 * ```
 */
export function clipTextPooled(
  params: ClipParams,
  inputIds: Tensor, // i32 [B, T]
  attentionMask: Tensor | undefined, // [B, T]
  c: ClipTextConfig,
  prefix = 'text_model',
): Tensor {
  checkTextArgs('clipTextPooled', params, inputIds, attentionMask, c, prefix);
  const L = c.num_hidden_layers;
  if (L === 0) return clipTextForward(params, inputIds, attentionMask, c, prefix).pooled;
  const { h: embedded, mask } = textEmbeddings(params, inputIds, attentionMask, c, prefix);
  const [B, T] = inputIds.shape as [number, number];
  const h = textLayers(params, embedded, mask, c, prefix, L - 1); // [B, T, C]
  const where = poolPositions(inputIds, c); // i32 [B]
  // The pooled token sees the keys up to itself (causal), and only real tokens (the padding mask).
  const upTo = compare(
    'lessEqual',
    reshape(arange(0, T, 1, { backend: inputIds.backend }), [1, T]),
    reshape(where, [B, 1]),
  ); // bool [B, T]
  const keyMask = mask ? compare('logicalAnd', upTo, mask) : upTo; // bool [B, T]
  const row = encoderLayerAtRows(params, `${prefix}.encoder.layers.${L - 1}`, h, c, where, keyMask); // [B, C]
  return finalNorm(params, row, c, prefix); // [B, C]
}

/** The first `count` causal blocks on `[B, T, C]` states, with the padding mask when there is one. */
function textLayers(
  params: ClipParams,
  h: Tensor, // [B, T, C]
  mask: Tensor | undefined, // bool [B, T]
  c: ClipTextConfig,
  prefix: string,
  count: number,
): Tensor {
  for (let i = 0; i < count; i++) {
    h = encoderLayer(params, `${prefix}.encoder.layers.${i}`, h, c, {
      causal: true,
      ...(mask ? { mask } : {}),
    });
  }
  return h; // [B, T, C]
}

/** The tower's final LayerNorm, on `[..., C]`. */
function finalNorm(params: ClipParams, h: Tensor, c: ClipTextConfig, prefix: string): Tensor {
  return layerNorm(
    h,
    param(params, `${prefix}.final_layer_norm.weight`),
    param(params, `${prefix}.final_layer_norm.bias`),
    c.layer_norm_eps,
  );
}

/** Checks the inputs; token plus position embeddings `[B, T, C]`, and the bool padding mask. */
function textEmbeddings(
  params: ClipParams,
  inputIds: Tensor, // i32 [B, T]
  attentionMask: Tensor | undefined, // [B, T]
  c: ClipTextConfig,
  prefix: string,
): { h: Tensor; mask: Tensor | undefined } {
  if (inputIds.rank !== 2 || inputIds.dtype !== 'i32') {
    throw new TypeError(`CLIP text: inputIds must be i32 [B, T], got ${inputIds.describe()}`);
  }
  const [B, T] = inputIds.shape as [number, number];
  if (T > c.max_position_embeddings) {
    throw new RangeError(
      `CLIP text: ${T} tokens exceed the context of ${c.max_position_embeddings} positions`,
    );
  }
  if (
    attentionMask &&
    (attentionMask.rank !== 2 || attentionMask.shape[0] !== B || attentionMask.shape[1] !== T)
  ) {
    throw new RangeError(
      `CLIP text: attentionMask ${attentionMask.describe()} does not match inputIds ${inputIds.describe()}`,
    );
  }
  const backend = inputIds.backend;
  const positions = arange(0, T, 1, { backend }); // i32 [T]
  const tok = embedding(param(params, `${prefix}.embeddings.token_embedding.weight`), inputIds); // [B, T, C]
  const pos = embedding(param(params, `${prefix}.embeddings.position_embedding.weight`), positions); // [T, C]
  const zero = tensor(new Int32Array([0]), [1], { backend, dtype: attentionMask?.dtype ?? 'i32' });
  const mask = attentionMask ? compare('notEqual', attentionMask, zero) : undefined; // bool [B, T]
  return { h: add(tok, pos), mask }; // [B, T, C]
}
