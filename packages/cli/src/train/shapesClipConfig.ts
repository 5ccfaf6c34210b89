import { type ClipConfig, defaultTextConfig, defaultVisionConfig } from '@vl/clip';

/** Tokens per caption (start and end included): the longest shapes caption is ~20 words. */
export const CAPTION_CONTEXT = 32;

/**
 * The small CLIP `vl train clip` trains: a ViT-style image tower on 64x64 images in 8x8 patches (64
 * patch tokens), a 2-layer text transformer over a closed word vocabulary, a 64-dim joint space.
 * About 0.6M parameters: minutes per hundred steps on two CPU cores.
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
      patch_size: imageSize / 8,
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
