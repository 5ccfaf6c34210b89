// HF CLIPVisionTransformer: patch embedding (a conv with kernel = stride = patch), class token,
// position embeddings, pre-LayerNorm, encoder blocks, and the post-LayerNorm of the class token;
// optionally (a vl extension) a convolutional stem before the patch embedding.
import {
  type Tensor,
  add,
  concat,
  conv2d,
  layerNorm,
  matmul,
  mean,
  relu,
  reshape,
  slice,
  transpose,
  zeros,
} from '@vl/tensor';
import { argumentError, checkObject, checkParamsMap, checkString, checkTensor } from '../checkArguments.js';
import type { ClipVisionConfig } from './config.js';
import { encoderLayer, encoderLayerAtRows, encoderLayerShapes } from './encoderLayer.js';
import { type ClipParams, param } from './params.js';

/** Outputs of the image tower. */
export interface ClipVisionOutput {
  /** `[B, 1 + P, C]`: the encoder's output (before the post-LayerNorm), as HF returns it. */
  lastHiddenState: Tensor;
  /** `[B, C]`: the post-LayerNorm class token (or the mean of the tokens, see {@link ClipVisionConfig.pool_type}). */
  pooled: Tensor;
  /** Every block's output, `hiddenStates[0]` being the embeddings after the pre-LayerNorm (LLaVA uses these). */
  hiddenStates: Tensor[];
}

/**
 * The patch embedding, a convolution with kernel = stride = patch and no bias, as one product that
 * writes the tokens `[B, g·g, C]` directly: the patches are cut out by a reshape and one transpose,
 * and the conv weight `[C, Cin, p, p]` is read as `[C, Cin·p·p]`. (conv2d would return `[B, C, g, g]`,
 * costing a transpose there and another back to tokens.)
 */
function patchEmbedding(x: Tensor, weight: Tensor, g: number): Tensor {
  const [B, Cin, side] = x.shape as [number, number, number, number]; // [B, Cin, g·p, g·p]
  const p = side / g;
  const C = weight.shape[0]!;
  const cut = transpose(reshape(x, [B, Cin, g, p, g, p]), [0, 2, 4, 1, 3, 5]); // [B, g, g, Cin, p, p]
  const patches = reshape(cut, [B, g * g, Cin * p * p]); // [B, P, Cin·p·p]
  return matmul(patches, reshape(weight, [C, Cin * p * p]), { transposeB: true }); // [B, P, C]
}

/**
 * The side of the image tower's patch grid: `image_size / patch_size`, after the halvings of a
 * convolutional stem ({@link ClipVisionConfig.conv_stem_channels}) where there is one. Throws a
 * RangeError naming the fields when the sizes do not divide.
 *
 * @example
 * ```ts
 * visionPatchGrid(defaultVisionConfig); // 7 (224 / 32)
 * ```
 */
export function visionPatchGrid(c: ClipVisionConfig): number {
  checkObject('visionPatchGrid', 'c', c, 'a ClipVisionConfig');
  return patchGrid(c, 'visionPatchGrid');
}

/** {@link visionPatchGrid}; `where` starts the error. */
function patchGrid(c: ClipVisionConfig, where: string): number {
  for (const key of ['image_size', 'patch_size'] as const) {
    const v: unknown = c[key];
    if (typeof v !== 'number') throw argumentError(where, key, 'a positive integer', v);
    if (!Number.isInteger(v) || v <= 0)
      throw new RangeError(`${where}: ${key} must be a positive integer, got ${v}`);
  }
  const stages = c.conv_stem_channels?.length ?? 0;
  const stemOut = c.image_size / 2 ** stages;
  const grid = stemOut / c.patch_size;
  if (!Number.isInteger(stemOut) || !Number.isInteger(grid)) {
    throw new RangeError(
      `${where}: image_size ${c.image_size}${stages ? ` halved by ${stages} conv_stem_channels stages` : ''} is not a multiple of patch_size ${c.patch_size}`,
    );
  }
  return grid;
}

/**
 * Expected parameter shapes of the image tower, as `[name, shape]` pairs under `prefix` (default
 * `vision_model`); the visual projection is not part of the tower (see {@link clipShapes}).
 *
 * @example
 * ```ts
 * const shapes = new Map(visionTowerShapes(defaultVisionConfig));
 * shapes.get('vision_model.embeddings.patch_embedding.weight'); // [768, 3, 32, 32]
 * shapes.get('vision_model.embeddings.position_embedding.weight'); // [50, 768]
 * ```
 */
export function visionTowerShapes(c: ClipVisionConfig, prefix = 'vision_model'): [string, number[]][] {
  checkObject('visionTowerShapes', 'c', c, 'a ClipVisionConfig');
  checkString('visionTowerShapes', 'prefix', prefix);
  const C = c.hidden_size;
  const patches = patchGrid(c, 'visionTowerShapes') ** 2;
  const stem = c.conv_stem_channels ?? [];
  const stemIn = [c.num_channels, ...stem];
  const patchIn = stemIn[stem.length]!;
  const shapes: [string, number[]][] = [
    [`${prefix}.embeddings.class_embedding`, [C]],
    ...stem.flatMap((out, i): [string, number[]][] => [
      [`${prefix}.embeddings.conv_stem.${i}.weight`, [out, stemIn[i]!, 3, 3]],
      [`${prefix}.embeddings.conv_stem.${i}.bias`, [out]],
    ]),
    [`${prefix}.embeddings.patch_embedding.weight`, [C, patchIn, c.patch_size, c.patch_size]],
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

/** The arguments both forward functions take, checked in the name of the one called. */
function checkVisionArgs(
  fn: string,
  params: unknown,
  pixelValues: unknown,
  c: unknown,
  prefix: unknown,
): void {
  checkParamsMap(fn, params);
  checkTensor(fn, 'pixelValues', pixelValues);
  checkObject(fn, 'c', c, 'a ClipVisionConfig');
  checkString(fn, 'prefix', prefix);
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
  checkVisionArgs('clipVisionForward', params, pixelValues, c, prefix);
  checkObject('clipVisionForward', 'options', options, 'an object { layers? }');
  const layers = options.layers ?? c.num_hidden_layers;
  if (options.layers !== undefined && !(Number.isInteger(layers) && layers >= 0))
    throw new RangeError(`clipVisionForward: options.layers must be an integer >= 0, got ${String(layers)}`);
  let h = visionEmbeddings(params, pixelValues, c, prefix); // [B, 1 + P, C]
  const hiddenStates = [h];
  for (let i = 0; i < layers; i++) {
    h = encoderLayer(params, `${prefix}.encoder.layers.${i}`, h, c, { causal: false });
    hiddenStates.push(h);
  }
  return { lastHiddenState: h, pooled: pool(h, c, postNorm(params, c, prefix)), hiddenStates };
}

/**
 * The image tower's pooled output alone (`[B, C]`, {@link clipVisionForward}'s `pooled`): with
 * class-token pooling its last block runs for that token only (see encoderLayerAtRows).
 *
 * @example
 * ```ts
 * const pooled = clipVisionPooled(params, pixelValues, config.vision_config); // [B, 768]
 * ```
 */
export function clipVisionPooled(
  params: ClipParams,
  pixelValues: Tensor, // [B, 3, S, S]
  c: ClipVisionConfig,
  prefix = 'vision_model',
): Tensor {
  checkVisionArgs('clipVisionPooled', params, pixelValues, c, prefix);
  const L = c.num_hidden_layers;
  if ((c.pool_type ?? 'tok') !== 'tok' || L === 0)
    return clipVisionForward(params, pixelValues, c, prefix).pooled;
  let h = visionEmbeddings(params, pixelValues, c, prefix); // [B, 1 + P, C]
  for (let i = 0; i < L - 1; i++)
    h = encoderLayer(params, `${prefix}.encoder.layers.${i}`, h, c, { causal: false });
  const B = pixelValues.shape[0]!;
  const cls = zeros([B], { backend: pixelValues.backend, dtype: 'i32' }); // i32 [B]: the class token at 0
  const token = encoderLayerAtRows(params, `${prefix}.encoder.layers.${L - 1}`, h, c, cls); // [B, C]
  return postNorm(params, c, prefix)(token); // [B, C]
}

/** The post-LayerNorm, on `[..., C]`. */
function postNorm(params: ClipParams, c: ClipVisionConfig, prefix: string): (t: Tensor) => Tensor {
  return (t) =>
    layerNorm(
      t,
      param(params, `${prefix}.post_layernorm.weight`),
      param(params, `${prefix}.post_layernorm.bias`),
      c.layer_norm_eps,
    );
}

/** Checks the pixels; the tokens after the stem, the patch and position embeddings and the pre-LayerNorm. */
function visionEmbeddings(
  params: ClipParams,
  pixelValues: Tensor, // [B, 3, S, S]
  c: ClipVisionConfig,
  prefix: string,
): Tensor {
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
  const g = patchGrid(c, 'CLIP vision config');
  let x = pixelValues; // [B, channels, S, S]
  for (let i = 0; i < (c.conv_stem_channels?.length ?? 0); i++) {
    const stem = `${prefix}.embeddings.conv_stem.${i}`;
    x = relu(
      conv2d(x, param(params, `${stem}.weight`), param(params, `${stem}.bias`), { stride: 2, padding: 1 }),
    );
  } // [B, stem channels, S / 2^stages, S / 2^stages]
  const tokens = patchEmbedding(x, param(params, `${prefix}.embeddings.patch_embedding.weight`), g); // [B, P, C]
  const cls = param(params, `${prefix}.embeddings.class_embedding`); // [C]
  const clsTokens = add(zeros([B, 1, C], { backend: pixelValues.backend }), reshape(cls, [1, 1, C])); // [B, 1, C]
  const embeddings = add(
    concat([clsTokens, tokens], 1),
    param(params, `${prefix}.embeddings.position_embedding.weight`),
  ); // [B, 1 + P, C]
  return layerNorm(
    embeddings,
    param(params, `${prefix}.pre_layrnorm.weight`),
    param(params, `${prefix}.pre_layrnorm.bias`),
    c.layer_norm_eps,
  ); // [B, 1 + P, C]
}

/**
 * open_clip's `_global_pool` with the post-LayerNorm before or after it: the class token (the
 * norm's place does not matter: it is per token), the mean of the patch tokens, or of all tokens.
 */
function pool(h: Tensor, c: ClipVisionConfig, postLn: (t: Tensor) => Tensor): Tensor {
  const [B, N, C] = h.shape as [number, number, number]; // [B, 1 + P, C]
  const type = c.pool_type ?? 'tok';
  if (type === 'tok') return postLn(reshape(slice(h, [0, 0, 0], [B, 1, C]), [B, C])); // [B, C]
  const tokens = type === 'avg' ? slice(h, [0, 1, 0], [B, N - 1, C]) : h; // [B, P or 1 + P, C]
  if (c.final_ln_after_pool) return postLn(mean(tokens, 1)); // [B, C]
  return mean(postLn(tokens), 1); // [B, C]
}
