// Backends every kernel test runs on: the pure reference CPU backend, the default CPU backend
// (with its accelerated kernels), WebGPU (Dawn in Node; SwiftShader in CI) and tfjs on its cpu
// backend. A missing WebGPU adapter fails loudly when VL_REQUIRE_WEBGPU is set (CI sets it).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { type Backend, CpuBackend, createBackend } from '../../src/index.node.js';

export interface NamedBackend {
  label: string;
  backend: Backend;
}

export function webgpuRequired(): boolean {
  const v = process.env.VL_REQUIRE_WEBGPU;
  return v !== undefined && v !== '' && v !== '0';
}

let gpuWarned = false;

/** A WebGPU backend, or undefined (after a loud warning) when no adapter exists and none is required. */
export async function maybeWebGpu(): Promise<Backend | undefined> {
  try {
    return await createBackend('webgpu');
  } catch (e) {
    if (webgpuRequired()) {
      throw new Error(
        `VL_REQUIRE_WEBGPU is set but no WebGPU backend could be created: ${(e as Error).message}`,
      );
    }
    if (!gpuWarned) {
      gpuWarned = true;
      console.warn(
        `\n*** WebGPU UNAVAILABLE: WebGPU kernel checks are NOT running (${(e as Error).message}) ***\n`,
      );
    }
    return undefined;
  }
}

/** The reference backend (kernels' `cpu` functions only) and every backend to check against it. */
export async function kernelBackends(): Promise<{
  reference: Backend;
  others: NamedBackend[];
  dispose(): void;
}> {
  const reference = new CpuBackend({ description: 'reference' });
  const others: NamedBackend[] = [{ label: 'cpu', backend: await createBackend('cpu') }];
  const gpu = await maybeWebGpu();
  if (gpu) others.push({ label: 'webgpu', backend: gpu });
  await tf.setBackend('cpu');
  others.push({ label: 'tfjs-cpu', backend: await createBackend('tfjs', { tfjs: { tf } }) });
  return {
    reference,
    others,
    dispose() {
      reference.dispose();
      for (const o of others) o.backend.dispose();
    },
  };
}
