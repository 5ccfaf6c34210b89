// The DALL-E dVAE decoder (dall_e/decoder.py) as a pure forward function over the checkpoint's params.
import { type Tensor, relu, upsampleNearest } from '@vl/tensor';
import { checkObjectArg, checkParamsMap, checkTensorArg } from './checkArguments.js';
import type { DvaeDecoderConfig } from './config.js';
import { dvaeBlock, dvaePostGain } from './dvaeBlock.js';
import { paramsConv } from './dvaeConv.js';
import type { DvaeParams } from './dvaeShapes.js';

/**
 * The decoder: a one-hot (or relaxed) token grid to logit-Laplace statistics. A 1x1 input conv to
 * `n_init` channels, `group_count` groups of `n_blk_per_group` residual blocks (res path: 1x1 conv
 * then three 3x3 convs, each after a relu) with nearest 2x upsampling after every group but the
 * last, then relu and a 1x1 conv to `2 * output_channels` (location, then log-scale).
 *
 * @example
 * ```ts
 * const z = transpose(oneHot(tokens, 8192), [0, 3, 1, 2]); // [B, 8192, 32, 32]
 * const stats = dvaeDecoder(params, z, config.decoder); // [B, 6, 256, 256]
 * ```
 */
export function dvaeDecoder(params: DvaeParams, z: Tensor, config: DvaeDecoderConfig): Tensor {
  const caller = 'dvaeDecoder';
  checkParamsMap(caller, 'params', params);
  checkTensorArg(caller, 'z', z, 'an f32 [B, vocab_size, h, w] tensor (one-hot over vocab_size)');
  checkObjectArg(caller, 'config', config, 'an object (a DvaeDecoderConfig, such as config.decoder)');
  if (z.shape.length !== 4 || z.shape[1] !== config.vocab_size || z.dtype !== 'f32') {
    throw new RangeError(
      `${caller}: z must be f32 [B, ${config.vocab_size}, h, w] (one-hot over vocab_size), got ${z.describe()}`,
    );
  }
  const postGain = dvaePostGain(config);
  const conv = (name: string, t: Tensor) => paramsConv(params, name, t, caller);
  let h = conv('blocks.input', z); // [B, n_init, h, w]
  for (let g = 1; g <= config.group_count; g++) {
    for (let b = 1; b <= config.n_blk_per_group; b++) {
      h = dvaeBlock(params, `blocks.group_${g}.block_${b}`, h, postGain, caller); // [B, C_g, h, w]
    }
    if (g < config.group_count) h = upsampleNearest(h, 2); // [B, C_g, 2h, 2w]
  }
  return conv('blocks.output.conv', relu(h)); // [B, 2 * output_channels, h * 2^(G-1), w * 2^(G-1)]
}
