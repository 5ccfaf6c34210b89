// FLOPs of the CLIP towers (2 per multiply-add), counted from the config: the linear layers, the
// two attention products, the patch embedding and the projection. Elementwise work is left out;
// it is well under 1% at ViT-B/32 sizes.
import type { ClipConfig } from '../src/index.js';

function encoderFlops(tokens: number, hidden: number, intermediate: number, layers: number): number {
  const linear = tokens * (4 * hidden * hidden + 2 * hidden * intermediate); // q, k, v, out, fc1, fc2
  const attention = 2 * tokens * tokens * hidden; // q·kᵀ and p·v over all heads
  return 2 * layers * (linear + attention);
}

/** FLOPs of `getImageFeatures` for `batch` images (ViT-B/32: 8.8 GFLOP, i.e. 4.4 G multiply-adds, per image). */
export function imageTowerFlops(config: ClipConfig, batch: number): number {
  const v = config.vision_config;
  const patches = (v.image_size / v.patch_size) ** 2;
  const patchEmbed = 2 * patches * v.hidden_size * v.num_channels * v.patch_size ** 2;
  const encoder = encoderFlops(patches + 1, v.hidden_size, v.intermediate_size, v.num_hidden_layers);
  return batch * (patchEmbed + encoder + 2 * v.hidden_size * config.projection_dim);
}

/** FLOPs of `getTextFeatures` for `batch` sequences of `tokens` (ViT-B/32 at 77 tokens: 6.0 GFLOP). */
export function textTowerFlops(config: ClipConfig, batch: number, tokens: number): number {
  const t = config.text_config;
  const encoder = encoderFlops(tokens, t.hidden_size, t.intermediate_size, t.num_hidden_layers);
  return batch * (encoder + 2 * t.hidden_size * config.projection_dim);
}
