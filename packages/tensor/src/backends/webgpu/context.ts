import { type DType, storageLength } from '../../dtype.js';
import type { Shape } from '../../shape.js';

/** A tensor as a WebGPU kernel sees it: its storage buffer, shape and dtype. */
export interface GpuTensor {
  readonly buffer: GPUBuffer;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
}

/** Optional adapter features a kernel may specialize on. */
export interface GpuFeatures {
  readonly subgroups: boolean;
  readonly shaderF16: boolean;
  readonly timestampQuery: boolean;
}

/**
 * What a kernel's `webgpu` function uses to encode work. Bindings are `@group(0)`: the buffers in
 * order at `@binding(0..n-1)`, then the uniform struct (when given) at `@binding(n)`.
 */
export interface GpuContext {
  readonly device: GPUDevice;
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  /** A compute pipeline, compiled once per `key` (the source is only built on a cache miss). */
  pipeline(key: string, code: () => string): GPUComputePipeline;
  /**
   * Encodes one dispatch into the backend's current compute pass. The uniform bytes are copied
   * during the call, so kernels may pass the same (cached) array to many dispatches.
   */
  dispatch(
    pipeline: GPUComputePipeline,
    buffers: readonly (GpuTensor | GPUBuffer)[],
    uniforms: Uint8Array | undefined,
    workgroups: readonly [number, number?, number?],
  ): void;
  /** A temporary storage buffer, released when the current kernel's outputs are. */
  scratch(byteLength: number): GPUBuffer;
  /**
   * The backend's device-error flags (deviceErrors.ts): a kernel that checks its indices binds it
   * and sets its op's bit; the next read throws.
   */
  deviceErrors(): GPUBuffer;
}

/** WGSL element type a dtype is stored as in a storage buffer (f16/bf16 are packed two per u32). */
export function wgslStorageType(dtype: DType): string {
  switch (dtype) {
    case 'f32':
      return 'f32';
    case 'i32':
      return 'i32';
    default:
      return 'u32';
  }
}

/** Bytes a tensor occupies in a storage buffer (bool as u32, f16/bf16 packed), a multiple of 4. */
export function gpuByteLength(dtype: DType, size: number): number {
  if (dtype === 'f16' || dtype === 'bf16') return Math.ceil(size / 2) * 4;
  return storageLength(dtype, size) * 4;
}

/** Splits a number of workgroups over x and y so neither exceeds the 65,535 per-dimension limit. */
export function workgroups1d(count: number, max = 65535): [number, number] {
  if (count <= max) return [Math.max(1, count), 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y];
}
