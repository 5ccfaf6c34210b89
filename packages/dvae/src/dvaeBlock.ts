// The residual block shared by dall_e's encoder and decoder: `id_path(x) + post_gain * res_path(x)`,
// where res_path is four relu-then-conv steps (kernel sizes come from the weights: 3,3,3,1 in the
// encoder, 1,3,3,3 in the decoder) and id_path is a 1x1 conv only where the channel count changes.
import { type Tensor, add, relu, scale } from '@vl/tensor';
import { paramsConv } from './dvaeConv.js';
import type { DvaeParams } from './dvaeShapes.js';

/**
 * `1 / n_layers²` with `n_layers = group_count * n_blk_per_group`: scales every residual branch
 * down so the deep stack starts close to the identity.
 *
 * @example
 * ```ts
 * dvaePostGain({ group_count: 4, n_blk_per_group: 2 }); // 1 / 64
 * ```
 */
export function dvaePostGain(config: { group_count: number; n_blk_per_group: number }): number {
  return 1 / (config.group_count * config.n_blk_per_group) ** 2;
}

/**
 * One residual block at `prefix` (e.g. `blocks.group_1.block_1`); `caller` names a missing weight.
 *
 * @example
 * ```ts
 * h = dvaeBlock(params, 'blocks.group_1.block_1', h, dvaePostGain(config), 'dvaeEncoder');
 * ```
 */
export function dvaeBlock(
  params: DvaeParams,
  prefix: string,
  h: Tensor,
  postGain: number,
  caller: string,
): Tensor {
  const conv = (name: string, x: Tensor) => paramsConv(params, `${prefix}.${name}`, x, caller);
  const id = params.has(`${prefix}.id_path.w`) ? conv('id_path', h) : h; // [B, C_g, h, w]
  let r = conv('res_path.conv_1', relu(h)); // [B, C_g/4 or C_g, h, w]
  r = conv('res_path.conv_2', relu(r)); // [B, C_g/4, h, w]
  r = conv('res_path.conv_3', relu(r)); // [B, C_g/4, h, w]
  r = conv('res_path.conv_4', relu(r)); // [B, C_g, h, w]
  return add(id, scale(r, postGain)); // [B, C_g, h, w]
}
