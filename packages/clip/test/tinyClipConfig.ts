// A CLIP config small enough for a test to build, run and train in milliseconds: width 16 (or as
// given), one block per tower, 16 px images in 8 px patches, projections of 8. Overrides reach
// the towers' fields; the vocabulary and context stay CLIP's unless a test narrows them.
import { type ClipConfig, defaultTextConfig, defaultVisionConfig } from '../src/index.js';

/**
 * A tiny CLIP config, with `text` and `vision` fields overriding the towers'.
 *
 * @example
 * ```ts
 * const config = tinyClipConfig({ text: { pool_type: 'eos' }, vision: { layer_scale: true } });
 * ```
 */
export function tinyClipConfig(
  overrides: {
    text?: Partial<ClipConfig['text_config']>;
    vision?: Partial<ClipConfig['vision_config']>;
    projection_dim?: number;
  } = {},
): ClipConfig {
  const P = overrides.projection_dim ?? 8;
  const block = { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2 };
  return {
    projection_dim: P,
    logit_scale_init_value: Math.log(1 / 0.07),
    vision_config: {
      ...defaultVisionConfig,
      ...block,
      image_size: 16,
      patch_size: 8,
      projection_dim: P,
      ...overrides.vision,
    },
    text_config: { ...defaultTextConfig, ...block, projection_dim: P, ...overrides.text },
  };
}
