// The public API of @vl/tensor (browser entry). Explicit named exports only.
export type { Backend, BackendKind, BackendStats, TensorInfo } from './backend.js';
export type { CpuAccelerated, CpuBackendOptions } from './backends/cpu/CpuBackend.js';
export { CpuBackend } from './backends/cpu/CpuBackend.js';
export type { TfjsBackendOptions } from './backends/tfjs/TfjsBackend.js';
export { TfjsBackend } from './backends/tfjs/TfjsBackend.js';
export type { GpuContext, GpuFeatures, GpuTensor } from './backends/webgpu/context.js';
export type { WebGpuOptions } from './backends/webgpu/createWebGpuBackend.js';
export { WebGpuUnavailableError } from './backends/webgpu/createWebGpuBackend.js';
export type { UniformType, UniformValues } from './backends/webgpu/uniforms.js';
export { UniformLayout, uniformLayout } from './backends/webgpu/uniforms.js';
export type { WebGpuBackendOptions } from './backends/webgpu/WebGpuBackend.js';
export { WebGpuBackend } from './backends/webgpu/WebGpuBackend.js';
export type { TensorOptions } from './create.js';
export { arange, full, ones, tensor, toBackend, toNested, zeros } from './create.js';
export type { BackendName, CreateBackendOptions } from './createBackend.js';
export { createBackend } from './createBackend.js';
export type { DType, DTypeArrays, TypedArray } from './dtype.js';
export type { TensorContainer } from './engine.js';
export { keep, runKernel, tidy, tidyAsync } from './engine.js';
export type { GradArgs, HostTensor, Kernel, TfjsCore, TfjsTensor } from './kernel.js';
export type { BinaryOp } from './kernels/binary.js';
export { add, compare, div, maximum, minimum, mul, pow, sub } from './kernels/binary.js';
export type { Shape } from './shape.js';
export type { TensorData } from './tensor.js';
export { Tensor } from './tensor.js';

// --- elementwise, reductions, normalization (unary.ts, cast.ts, where.ts, reduce.ts, softmax.ts, layerNorm.ts, rmsNorm.ts) ---

// --- shape ops, gather/scatter, conv (reshape.ts, transpose.ts, slice.ts, concat.ts, pad.ts, gather.ts, scatter.ts, oneHot.ts, conv2d.ts, maxPool2d.ts, upsample.ts) ---

// --- matmul (matmul.ts) ---

// --- attention, rope, kv cache (attention.ts, rope.ts, kvCache.ts) ---

// --- quantized weights (quantize.ts, matmulQuantized.ts) ---

// --- random, sampling, losses (random.ts, sampling.ts, crossEntropy.ts, topk.ts) ---

// --- autograd and optimizers (src/autograd/) ---

export type { DecodedSafetensorsTensor, DecodeSafetensorsOptions } from './io/decodeSafetensorsTensor.js';
export { decodeSafetensorsTensor } from './io/decodeSafetensorsTensor.js';
export type { LoadedSafetensors, LoadSafetensorsOptions } from './io/loadSafetensors.js';
export { loadSafetensors } from './io/loadSafetensors.js';
export type { SafetensorsSource } from './io/locateSource.js';
export type { SafetensorsFile } from './io/parseSafetensors.js';
export { parseSafetensors } from './io/parseSafetensors.js';
export type {
  ParseSafetensorsOptions,
  SafetensorsHeader,
  SafetensorsTensorInfo,
} from './io/parseSafetensorsHeader.js';
export { parseSafetensorsHeader } from './io/parseSafetensorsHeader.js';
// --- io (src/io/) ---
export { SafetensorsError } from './io/SafetensorsError.js';
export type { SafetensorsProgress } from './io/SafetensorsProgress.js';
export type { SafetensorsDType } from './io/safetensorsDType.js';
export type { NamedTensors } from './io/saveSafetensors.js';
export { saveSafetensors } from './io/saveSafetensors.js';
export { saveSafetensorsFile } from './io/saveSafetensorsFile.js';
