// HF CLIPVisionTransformer: patch embedding (a conv with kernel = stride = patch), class token,
// position embeddings, pre-LayerNorm, encoder blocks, and the post-LayerNorm of the class token.
import { type Tensor, add, concat, conv2d, layerNorm, reshape, slice, transpose, zeros } from '@vl/tensor';
import type { ClipVisionConfig } from './config.js';
import { encoderLayer, encoderLayerShapes } from './encoderLayer.js';
import { type ClipParams, param } from './params.js';

/** Outputs of the image tower. */
export interface ClipVisionOutput {
  /** `[B, 1 + P, C]`: the encoder's output (before the post-LayerNorm), as HF returns it. */
  lastHiddenState: Tensor;
  /** `[B, C]`: the post-LayerNorm class token. */
  pooled: Tensor;
  /** Every block's output, `hiddenStates[0]` being the embeddings after the pre-LayerNorm (LLaVA uses these). */
  hiddenStates: Tensor[];
}

/** Expected parameter shapes of the image tower. */
export function visionTowerShapes(c: ClipVisionConfig, prefix = 'vision_model'): [string, number[]][] {
  const C = c.hidden_size;
  const patches = (c.image_size / c.patch_size) ** 2;
  const shapes: [string, number[]][] = [
    [`${prefix}.embeddings.class_embedding`, [C]],
    [`${prefix}.embeddings.patch_embedding.weight`, [C, c.num_channels, c.patch_size, c.patch_size]],
    [`${prefix}.embeddings.position_embedding.weight`, [patches + 1, C]],
    [`${prefix}.pre_layrnorm.weight`, [C]],
    [`${prefix}.pre_layrnorm.bias`, [C]],
    [`${prefix}.post_layernorm.weight`, [C]],
    [`${prefix}.post_layernorm.bias`, [C]],
  ];
  for (let i = 0; i < c.num_hidden_layers; i++)
    shapes.push(...encoderLayerShapes(`${prefix}.encoder.layers.${i}`, c));
  return shapes;
}

/**
 * The CLIP image tower on normalized pixels `[B, channels, image_size, image_size]`.
 *
 * @example
 * ```ts
 * const { pooled } = clipVisionForward(params, pixelValues, config.vision_config);
 * ```
 */
export function clipVisionForward(
  params: ClipParams,
  pixelValues: Tensor, // [B, 3, S, S]
  c: ClipVisionConfig,
  prefix = 'vision_model',
  options: { layers?: number } = {},
): ClipVisionOutput {
  const S = c.image_size;
  if (
    pixelValues.rank !== 4 ||
    pixelValues.shape[1] !== c.num_channels ||
    pixelValues.shape[2] !== S ||
    pixelValues.shape[3] !== S
  ) {
    throw new RangeError(
      `CLIP vision: pixelValues must be [B, ${c.num_channels}, ${S}, ${S}], got ${pixelValues.describe()}`,
    );
  }
  const B = pixelValues.shape[0]!;
  const C = c.hidden_size;
  const g = S / c.patch_size;
  const patches = conv2d(
    pixelValues,
    param(params, `${prefix}.embeddings.patch_embedding.weight`),
    undefined,
    {
      stride: c.patch_size,
    },
  ); // [B, C, g, g]
  const tokens = transpose(reshape(patches, [B, C, g * g]), [0, 2, 1]); // [B, P, C]
  const cls = param(params, `${prefix}.embeddings.class_embedding`); // [C]
  const clsTokens = add(zeros([B, 1, C], { backend: pixelValues.backend }), reshape(cls, [1, 1, C])); // [B, 1, C]
  const embeddings = add(
    concat([clsTokens, tokens], 1),
    param(params, `${prefix}.embeddings.position_embedding.weight`),
  ); // [B, 1 + P, C]
  let h = layerNorm(
    embeddings,
    param(params, `${prefix}.pre_layrnorm.weight`),
    param(params, `${prefix}.pre_layrnorm.bias`),
    c.layer_norm_eps,
  ); // [B, 1 + P, C]
  const hiddenStates = [h];
  const layers = options.layers ?? c.num_hidden_layers;
  for (let i = 0; i < layers; i++) {
    h = encoderLayer(params, `${prefix}.encoder.layers.${i}`, h, c, { causal: false });
    hiddenStates.push(h);
  }
  const pooled = layerNorm(
    reshape(slice(h, [0, 0, 0], [B, 1, C]), [B, C]),
    param(params, `${prefix}.post_layernorm.weight`),
    param(params, `${prefix}.post_layernorm.bias`),
    c.layer_norm_eps,
  ); // [B, C]
  return { lastHiddenState: h, pooled, hiddenStates };
}
