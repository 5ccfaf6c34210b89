// What the CLIP benchmarks share: the ViT-B/32 config (random weights are initialized from it) and
// the WebGPU backend they time.
import { type Backend, createBackend } from '@vl/tensor';
import { type ClipConfig, defaultTextConfig, defaultVisionConfig } from '../src/index.js';

/** OpenAI's ViT-B/32 CLIP: the HF defaults of both towers, a 512-wide joint space. */
export const VIT_B32: ClipConfig = {
  text_config: defaultTextConfig,
  vision_config: defaultVisionConfig,
  projection_dim: 512,
  logit_scale_init_value: 2.6592,
};

/**
 * A WebGPU backend with Dawn's robustness checks off (up to ~3x on some GPUs; the kernels keep
 * their own bounds). On a machine without a GPU the test setup's helper lets Dawn find a software
 * Vulkan driver (it never hides a real GPU); the specifier is a variable: the helper is untyped JS.
 */
export async function benchWebGpu(): Promise<Backend> {
  const envHelper = '@vl/vitest-config/webgpu-env';
  try {
    ((await import(envHelper)) as { exposeSoftwareVulkan(): void }).exposeSoftwareVulkan();
  } catch {
    // Not installed (a production install): rely on the system's Vulkan drivers.
  }
  return createBackend('webgpu', {
    webgpu: { powerPreference: 'high-performance', dawnOptions: ['enable-dawn-features=disable_robustness'] },
  });
}
