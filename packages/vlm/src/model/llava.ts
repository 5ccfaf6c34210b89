// LLaVA as HF transformers' LlavaForConditionalGeneration computes it: the CLIP vision tower's
// hidden states at `vision_feature_layer` (class token dropped under the `default` strategy), the
// two-layer MLP projector, and the projected image tokens put in place of the image placeholder
// tokens of the prompt before the Llama decoder runs over the whole sequence.
import { clipVisionForward } from '@vl/clip';
import { type Tensor, concat, embedding, gather, reshape, slice, tensor } from '@vl/tensor';
import {
  checkInteger,
  checkLlavaConfig,
  checkTensor,
  checkTensorMap,
  checkTokenRows,
} from '../checkArguments.js';
import { type LlavaConfig, imageTokenCount } from './config.js';
import {
  type LlamaForwardOptions,
  checkForwardOptions,
  linearAt,
  llamaForward,
  matmulActivationOf,
} from './llama.js';
import { type VlmParams, vlmParam } from './params.js';

/**
 * Hidden-state indexes of the vision tower that `vision_feature_layer` names (0 = embeddings):
 * a negative layer counts from the end of the tower's `num_hidden_layers + 1` hidden states.
 *
 * @example
 * ```ts
 * visionFeatureLayers(config); // [23] for LLaVA-1.5 (vision_feature_layer -2, 24 layers)
 * const { hiddenStates } = clipVisionForward(params, pixels, config.vision_config, 'vision_tower');
 * ```
 */
export function visionFeatureLayers(config: LlavaConfig): number[] {
  checkLlavaConfig('visionFeatureLayers', config);
  const n = config.vision_config.num_hidden_layers;
  const list = Array.isArray(config.vision_feature_layer)
    ? config.vision_feature_layer
    : [config.vision_feature_layer];
  return list.map((l) => (l < 0 ? n + 1 + l : l));
}

function checkVisionArguments(fn: string, params: unknown, pixelValues: unknown, config: unknown): void {
  checkTensorMap(fn, 'params', params);
  checkTensor(fn, 'pixelValues', pixelValues);
  if ((pixelValues as Tensor).rank !== 4)
    throw new RangeError(
      `${fn}: pixelValues must be [N, 3, S, S], got ${(pixelValues as Tensor).describe()}`,
    );
  checkLlavaConfig(fn, config);
}

/**
 * The vision tower's features that become image tokens, before the projector: hidden states at
 * `vision_feature_layer` (a list is joined per token), class token dropped (`default`) or kept
 * (`full`).
 *
 * @example
 * ```ts
 * const features = llavaVisionFeatures(params, pixelValues, config); // [N, 576, 1024] for LLaVA-1.5 7B
 * ```
 */
export function llavaVisionFeatures(
  params: VlmParams,
  pixelValues: Tensor, // [N, 3, S, S]
  config: LlavaConfig,
): Tensor {
  checkVisionArguments('llavaVisionFeatures', params, pixelValues, config);
  const layers = visionFeatureLayers(config);
  const tower = clipVisionForward(params, pixelValues, config.vision_config, 'vision_tower', {
    layers: Math.max(...layers),
  });
  const picked = layers.map((l) => tower.hiddenStates[l]!); // each [N, 1 + P, Cv]
  const features = picked.length === 1 ? picked[0]! : concat(picked, 2); // [N, 1 + P, Cv * layers]
  return config.vision_feature_select_strategy === 'default'
    ? slice(features, [0, 1, 0], [-1, -1, -1]) // [N, P, Cv']
    : features;
}

/**
 * Image tokens in the decoder's embedding space: {@link llavaVisionFeatures} through the projector.
 *
 * @example
 * ```ts
 * const features = llavaImageFeatures(params, pixelValues, config); // [N, 576, 4096] for LLaVA-1.5 7B
 * ```
 */
export function llavaImageFeatures(
  params: VlmParams,
  pixelValues: Tensor, // [N, 3, S, S]
  config: LlavaConfig,
): Tensor {
  checkVisionArguments('llavaImageFeatures', params, pixelValues, config);
  const features = llavaVisionFeatures(params, pixelValues, config); // [N, P', Cv']
  const act = matmulActivationOf(config.projector_hidden_act);
  const hidden = linearAt(params, 'multi_modal_projector.linear_1', features, act); // [N, P', C]
  return linearAt(params, 'multi_modal_projector.linear_2', hidden); // [N, P', C]
}

/**
 * Token ids as rows of equal length (`[B][T]`), e.g. a prompt batch already padded.
 */
export type TokenRows = readonly (readonly number[])[] | readonly Int32Array[];

/**
 * Counts the image placeholder tokens of `ids` and checks them against the images given: each
 * image fills `imageTokenCount(config)` placeholders, in order.
 *
 * @example
 * ```ts
 * checkImageTokens([[1, 299, 299, 5]], 1, config); // throws unless one image is 2 tokens
 * ```
 */
export function checkImageTokens(ids: TokenRows, images: number, config: LlavaConfig): void {
  checkTokenRows('checkImageTokens', 'ids', ids);
  checkInteger('checkImageTokens', 'images', images, 0);
  checkLlavaConfig('checkImageTokens', config);
  countImageTokens(ids, images, config);
}

/** {@link checkImageTokens} without its argument checks. */
function countImageTokens(ids: TokenRows, images: number, config: LlavaConfig): void {
  const id = config.image_token_index;
  let count = 0;
  for (const row of ids) for (const t of row) if (t === id) count++;
  const per = imageTokenCount(config);
  if (count !== images * per) {
    throw new RangeError(
      `LLaVA: the prompt has ${count} image placeholder tokens (id ${id}) but ${images} image(s) need ${images * per} (${per} per image)`,
    );
  }
}

/**
 * The decoder's input embeddings `[B, T, C]`: token embeddings, with the image placeholders
 * replaced, in order, by the rows of `imageFeatures` (`[N, P, C]`). One gather from the token
 * embeddings and the image features stacked.
 *
 * @example
 * ```ts
 * const embeds = llavaInputEmbeddings(params, ids, features, config); // [B, T, C]
 * ```
 */
export function llavaInputEmbeddings(
  params: VlmParams,
  ids: TokenRows,
  imageFeatures: Tensor | undefined, // [N, P, C]
  config: LlavaConfig,
): Tensor {
  checkTensorMap('llavaInputEmbeddings', 'params', params);
  checkTokenRows('llavaInputEmbeddings', 'ids', ids);
  checkTensor('llavaInputEmbeddings', 'imageFeatures', imageFeatures, true);
  checkLlavaConfig('llavaInputEmbeddings', config);
  const table = vlmParam(params, 'language_model.model.embed_tokens.weight'); // [V, C]
  const backend = table.backend;
  const B = ids.length;
  const T = ids[0]?.length ?? 0;
  const V = config.text_config.vocab_size;
  const C = config.text_config.hidden_size;
  const images = imageFeatures ? imageFeatures.shape[0]! : 0;
  countImageTokens(ids, images, config);
  const imageId = config.image_token_index;
  const textIds = new Int32Array(B * T);
  const pick = new Int32Array(B * T);
  let next = 0;
  for (let b = 0; b < B; b++) {
    const row = ids[b]!;
    if (row.length !== T) throw new RangeError(`LLaVA: token row ${b} has ${row.length} ids, row 0 has ${T}`);
    for (let t = 0; t < T; t++) {
      const id = row[t]!;
      const i = b * T + t;
      if (id === imageId) {
        textIds[i] = 0;
        pick[i] = B * T + next++;
      } else {
        if (!Number.isInteger(id) || id < 0 || id >= V)
          throw new RangeError(`LLaVA: token id ${id} at [${b}, ${t}] is outside the vocabulary [0, ${V})`);
        textIds[i] = id;
        pick[i] = i;
      }
    }
  }
  const tokens = embedding(table, tensor(textIds, [B * T], { backend, dtype: 'i32' })); // [B * T, C]
  if (!imageFeatures) return reshape(tokens, [B, T, C]); // [B, T, C]
  const stacked = concat([tokens, reshape(imageFeatures, [-1, C])], 0); // [B * T + N * P, C]
  const merged = gather(stacked, tensor(pick, [B * T], { backend, dtype: 'i32' }), 0); // [B * T, C]
  return reshape(merged, [B, T, C]); // [B, T, C]
}

/**
 * The whole model in one pass: logits `[B, T, V]` for token ids (image placeholders already
 * expanded to `imageTokenCount(config)` per image) and the images' pixels, as HF's
 * `LlavaForConditionalGeneration.forward` returns them.
 *
 * @example
 * ```ts
 * const logits = llavaForward(params, [[1, 10, ...Array(16).fill(299), 20]], pixelValues, config); // [1, 19, V]
 * ```
 */
export function llavaForward(
  params: VlmParams,
  ids: TokenRows,
  pixelValues: Tensor | undefined, // [N, 3, S, S]
  config: LlavaConfig,
  options: LlamaForwardOptions = {},
): Tensor {
  const fn = 'llavaForward';
  checkTensorMap(fn, 'params', params);
  checkTokenRows(fn, 'ids', ids);
  checkTensor(fn, 'pixelValues', pixelValues, true);
  checkLlavaConfig(fn, config);
  checkForwardOptions(fn, options);
  const features = pixelValues ? llavaImageFeatures(params, pixelValues, config) : undefined; // [N, P, C]
  const embeds = llavaInputEmbeddings(params, ids, features, config); // [B, T, C]
  return llamaForward(params, embeds, config.text_config, options); // [B, T, V]
}
