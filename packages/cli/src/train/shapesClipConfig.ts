import { type ClipConfig, defaultTextConfig, defaultVisionConfig } from '@vl/clip';

/** Tokens per caption (start and end included): the longest shapes caption is ~20 words. */
export const CAPTION_CONTEXT = 32;

/**
 * The small CLIP `vl train clip` trains: a hybrid image tower (the ViT paper's: three 3x3 stride-2
 * convolutions, 32/64/96 channels, then 1x1 patches of the 8x8 map for a 64x64 image, so 64 tokens
 * into 3 transformer layers), a 2-layer text transformer over a closed word vocabulary, a 64-dim
 * joint space. About 0.7M parameters: minutes per hundred steps on two CPU cores.
 *
 * The stem is there because plain 8x8 patches never learned shape on this world: on a supervised
 * 6-way shape probe, the patch tower stayed at chance for 475 steps where the hybrid reached 60% at
 * 500 (`packages/shapes/models/README.md`).
 */
export function smallClipConfig(
  imageSize: number,
  vocabSize: number,
  startId: number,
  endId: number,
): ClipConfig {
  const width = 96;
  const projection = 64;
  return {
    projection_dim: projection,
    logit_scale_init_value: Math.log(1 / 0.07),
    vision_config: {
      ...defaultVisionConfig,
      hidden_size: width,
      intermediate_size: width * 4,
      num_hidden_layers: 3,
      num_attention_heads: 4,
      image_size: imageSize,
      conv_stem_channels: [32, 64, width],
      // 8x8 tokens: the stem's map (imageSize / 8) in patches of imageSize / 64 (1 for 64x64).
      patch_size: Number.isInteger(imageSize / 64) ? imageSize / 64 : 1,
      projection_dim: projection,
    },
    text_config: {
      ...defaultTextConfig,
      vocab_size: vocabSize,
      hidden_size: width,
      intermediate_size: width * 4,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      max_position_embeddings: CAPTION_CONTEXT,
      projection_dim: projection,
      bos_token_id: startId,
      eos_token_id: endId,
      pad_token_id: endId,
    },
  };
}
