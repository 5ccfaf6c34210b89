import { checkOptionKeys } from '../../kernels/options.js';
import { checkBackendOptions, WebGpuBackend, type WebGpuBackendOptions } from './WebGpuBackend.js';

/** Options for creating a WebGPU backend. */
export interface WebGpuOptions extends WebGpuBackendOptions {
  /** The `GPU` to use: `navigator.gpu` in browsers; in Node the entry point supplies Dawn's. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /**
   * Node only: strings passed to Dawn's `create()`, e.g. `enable-dawn-features=disable_robustness`,
   * `backend=vulkan`, `adapter=NVIDIA`.
   */
  dawnOptions?: string[];
}

const WANTED_FEATURES = ['subgroups', 'shader-f16', 'timestamp-query'] as GPUFeatureName[];
const WANTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/**
 * Why no WebGPU backend could be made (no `navigator.gpu`, or no adapter); `createBackend('auto')`
 * falls back to the CPU on it, and `createBackend('webgpu')` throws it.
 *
 * @example
 * ```ts
 * const backend = await createBackend('webgpu').catch((e: unknown) => {
 *   if (e instanceof WebGpuUnavailableError) return createBackend('cpu');
 *   throw e;
 * });
 * ```
 */
export class WebGpuUnavailableError extends Error {
  override readonly name = 'WebGpuUnavailableError';
}

function reason(e: unknown): string {
  return (e as Error)?.message || (e as Error)?.name || String(e);
}

/**
 * Requests an adapter and a device with the optional features and the adapter's largest limits,
 * and wraps them in a {@link WebGpuBackend}.
 */
export async function createWebGpuBackend(options: WebGpuOptions = {}): Promise<WebGpuBackend> {
  // A bad or misspelt option fails before a device exists.
  checkOptionKeys('webgpu backend', options, [
    'gpu',
    'powerPreference',
    'dawnOptions',
    'maxPooledBytes',
    'submitEvery',
  ]);
  checkBackendOptions(options);
  const gpu = options.gpu ?? (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new WebGpuUnavailableError(
      'WebGPU is not available: this browser has no navigator.gpu (Chrome 113+, Edge, or Safari 26; ' +
        'secure contexts only)',
    );
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  } catch (e) {
    throw new WebGpuUnavailableError(`WebGPU is not available: requestAdapter() failed (${reason(e)})`, {
      cause: e,
    });
  }
  if (!adapter) {
    const inNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
    throw new WebGpuUnavailableError(
      inNode
        ? 'WebGPU is not available: requestAdapter() found no adapter (no GPU driver; on a machine without a ' +
            'GPU, install a Vulkan driver such as SwiftShader (Debian: chromium + libvulkan1) or Mesa lavapipe)'
        : 'WebGPU is not available: requestAdapter() found no adapter (the browser has no usable GPU, or blocks ' +
            'it: see chrome://gpu or about:support)',
    );
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    const name = adapter.info?.description || adapter.info?.vendor || 'the adapter';
    throw new WebGpuUnavailableError(
      `WebGPU is not available: ${name} could not create a device (${reason(e)})`,
      {
        cause: e,
      },
    );
  }
  const info = adapter.info;
  // A fallback adapter (the GPU emulated on the CPU: llvmpipe, SwiftShader, WARP) says so in the
  // name, which isSoftwareWebGpu reads; WARP's description is a driver version string.
  const fallback = (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true;
  const description = [
    info?.description || info?.device || info?.vendor || 'adapter',
    info?.architecture,
    fallback ? 'fallback adapter' : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  const backend = new WebGpuBackend(device, description, options);
  // Dawn in Node destroys its instance when the GPU and adapter objects are garbage collected,
  // even while a device made from them is alive; the backend keeps them referenced.
  backend.keepAlive = [gpu, adapter];
  return backend;
}
