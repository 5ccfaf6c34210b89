// What the CLIP benchmarks share: the ViT-B/32 config (random weights are initialized from it).
// The WebGPU backend they time is tensor/bench/benchWebGpu.ts.
import { type ClipConfig, defaultTextConfig, defaultVisionConfig } from '../src/index.js';

/** OpenAI's ViT-B/32 CLIP: the HF defaults of both towers, a 512-wide joint space. */
export const VIT_B32: ClipConfig = {
  text_config: defaultTextConfig,
  vision_config: defaultVisionConfig,
  projection_dim: 512,
  logit_scale_init_value: 2.6592,
};
