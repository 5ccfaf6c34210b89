// The WebGPU backend the model benchmarks time (CLIP, dVAE): Dawn's robustness checks off (up to
// ~3x on some GPUs; the kernels keep their own bounds). On a machine without a GPU the test setup's
// helper lets Dawn find a software Vulkan driver (it never hides a real GPU); the specifier is a
// variable: the helper is untyped JS.
import { type Backend, createBackend, type WebGpuBackendOptions } from '../src/index.node.js';

/** Creates the benchmarks' WebGPU backend; `options` adds backend options (a pool cap). */
export async function benchWebGpu(options: WebGpuBackendOptions = {}): Promise<Backend> {
  const envHelper = '@vl/vitest-config/webgpu-env';
  try {
    ((await import(envHelper)) as { exposeSoftwareVulkan(): void }).exposeSoftwareVulkan();
  } catch {
    // Not installed (a production install): rely on the system's Vulkan drivers.
  }
  return createBackend('webgpu', {
    webgpu: {
      powerPreference: 'high-performance',
      dawnOptions: ['enable-dawn-features=disable_robustness'],
      ...options,
    },
  });
}
