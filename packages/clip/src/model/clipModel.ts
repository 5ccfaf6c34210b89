// CLIPModel's heads: projections into the joint space, normalized embeddings, scaled cosine
// logits, and the symmetric contrastive loss (HF `CLIPModel.forward`, `clip_loss`).
import {
  type Shape,
  type Tensor,
  add,
  arange,
  crossEntropy,
  div,
  exp,
  matmul,
  mul,
  reshape,
  scale,
  sqrt,
  square,
  sum,
  transpose,
} from '@vl/tensor';
import {
  checkConfigArg,
  checkObject,
  checkOptionalTensor,
  checkParamsMap,
  checkTensor,
} from '../checkArguments.js';
import type { ClipConfig } from './config.js';
import { modifiedResNetForward, modifiedResNetShapes } from './modifiedResNet.js';
import { type ClipParams, param } from './params.js';
import { clipTextPooled, textTowerShapes } from './textTransformer.js';
import { clipVisionPooled, visionTowerShapes } from './visionTransformer.js';

/**
 * Every tensor a full CLIPModel checkpoint must hold, with its shape. `towers` leaves out the text
 * or the image tower (and then `logit_scale`) for single-tower checkpoints.
 *
 * @example
 * ```ts
 * checkParams(params, clipShapes(config)); // throws listing missing or misshapen tensors
 * clipShapes(config).get('visual_projection.weight'); // [512, 768] for ViT-B/32
 * const textOnly = clipShapes(config, { vision: false });
 * ```
 */
export function clipShapes(
  config: ClipConfig,
  towers: { text?: boolean; vision?: boolean } = {},
): Map<string, Shape> {
  checkObject('clipShapes', 'towers', towers, 'an object { text?, vision? }');
  checkConfigArg('clipShapes', config, towers);
  const shapes = new Map<string, Shape>();
  const P = config.projection_dim;
  if (towers.text !== false) {
    for (const [k, v] of textTowerShapes(config.text_config)) shapes.set(k, v);
    shapes.set('text_projection.weight', [P, config.text_config.hidden_size]);
  }
  if (towers.vision !== false && config.vision_resnet) {
    for (const [k, v] of modifiedResNetShapes(config.vision_resnet)) shapes.set(k, v);
  } else if (towers.vision !== false) {
    for (const [k, v] of visionTowerShapes(config.vision_config)) shapes.set(k, v);
    shapes.set('visual_projection.weight', [P, config.vision_config.hidden_size]);
  }
  if (towers.text !== false && towers.vision !== false) shapes.set('logit_scale', []);
  return shapes;
}

/**
 * Projected, unnormalized image features (HF `get_image_features`).
 *
 * @example
 * ```ts
 * const features = getImageFeatures(params, pixelValues, config); // [B, projection_dim]
 * ```
 */
export function getImageFeatures(params: ClipParams, pixelValues: Tensor, config: ClipConfig): Tensor {
  checkParamsMap('getImageFeatures', params);
  checkTensor('getImageFeatures', 'pixelValues', pixelValues);
  checkConfigArg('getImageFeatures', config, { text: false });
  if (config.vision_resnet) return modifiedResNetForward(params, pixelValues, config.vision_resnet); // [B, P]
  const pooled = clipVisionPooled(params, pixelValues, config.vision_config); // [B, C]
  return matmul(pooled, param(params, 'visual_projection.weight'), { transposeB: true }); // [B, P]
}

/**
 * Projected, unnormalized text features (HF `get_text_features`).
 *
 * @example
 * ```ts
 * const features = getTextFeatures(params, inputIds, attentionMask, config); // [B, projection_dim]
 * ```
 */
export function getTextFeatures(
  params: ClipParams,
  inputIds: Tensor,
  attentionMask: Tensor | undefined,
  config: ClipConfig,
): Tensor {
  checkParamsMap('getTextFeatures', params);
  checkTensor('getTextFeatures', 'inputIds', inputIds);
  checkOptionalTensor('getTextFeatures', 'attentionMask', attentionMask);
  checkConfigArg('getTextFeatures', config, { vision: false });
  const pooled = clipTextPooled(params, inputIds, attentionMask, config.text_config); // [B, C]
  return matmul(pooled, param(params, 'text_projection.weight'), { transposeB: true }); // [B, P]
}

/**
 * Rows divided by their L2 norm.
 *
 * @example
 * ```ts
 * const embeds = l2Normalize(features); // [B, P], each row of length 1
 * ```
 */
export function l2Normalize(x: Tensor): Tensor {
  checkTensor('l2Normalize', 'x', x);
  return div(x, sqrt(sum(square(x), -1, true))); // [..., P]
}

/** Similarity logits of CLIPModel. */
export interface ClipLogits {
  /** `[Bi, Bt]`: `exp(logit_scale) * image · text`. */
  logitsPerImage: Tensor;
  /** `[Bt, Bi]`: the transpose. */
  logitsPerText: Tensor;
}

/**
 * Scaled cosine similarities between normalized image and text embeddings.
 *
 * @example
 * ```ts
 * const { logitsPerImage } = clipLogits(imageEmbeds, textEmbeds, params.get('logit_scale')!);
 * ```
 */
export function clipLogits(imageEmbeds: Tensor, textEmbeds: Tensor, logitScale: Tensor): ClipLogits {
  checkTensor('clipLogits', 'imageEmbeds', imageEmbeds);
  checkTensor('clipLogits', 'textEmbeds', textEmbeds);
  checkTensor('clipLogits', 'logitScale', logitScale);
  const [, P] = imageEmbeds.shape;
  if (imageEmbeds.rank !== 2 || textEmbeds.rank !== 2 || textEmbeds.shape[1] !== P) {
    throw new RangeError(
      `clipLogits: imageEmbeds and textEmbeds must be [Bi, P] and [Bt, P], got ${imageEmbeds.describe()} and ${textEmbeds.describe()}`,
    );
  }
  if (logitScale.size !== 1)
    throw new RangeError(
      `clipLogits: logitScale must hold one value ([] or [1]), got ${logitScale.describe()}`,
    );
  const logitsPerText = mul(
    matmul(textEmbeds, imageEmbeds, { transposeB: true }),
    exp(reshape(logitScale, [1])),
  ); // [Bt, Bi]
  return { logitsPerText, logitsPerImage: transpose(logitsPerText, [1, 0]) };
}

/**
 * The symmetric contrastive loss: the mean of the cross-entropies over rows and over columns, with
 * the matching pair on the diagonal (HF `clip_loss`).
 *
 * @example
 * ```ts
 * const loss = clipLoss(logitsPerText); // scalar
 * ```
 */
export function clipLoss(logitsPerText: Tensor): Tensor {
  checkTensor('clipLoss', 'logitsPerText', logitsPerText);
  const n = logitsPerText.shape[0]!;
  if (logitsPerText.rank !== 2 || logitsPerText.shape[1] !== n) {
    throw new RangeError(`clipLoss: logits must be square [N, N], got ${logitsPerText.describe()}`);
  }
  const targets = arange(0, n, 1, { backend: logitsPerText.backend }); // i32 [N]
  const textLoss = crossEntropy(logitsPerText, targets); // []
  const imageLoss = crossEntropy(transpose(logitsPerText, [1, 0]), targets); // []
  return scale(add(textLoss, imageLoss), 0.5); // []
}
