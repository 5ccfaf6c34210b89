// The public API of @vl/tensor (browser entry). Explicit named exports only.
// The declarations name WebGPU's types (GPUDevice, GPUBuffer...): the reference below brings them
// into a consumer's program, so its type check needs no setup of its own.
/// <reference types="@webgpu/types" preserve="true" />
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
export type { BackendName, CpuOptions, CreateBackendOptions } from './createBackend.js';
export { createBackend, isSoftwareWebGpu } from './createBackend.js';
export { checkOptionKeys } from './kernels/options.js';
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
export {
  abs,
  clamp,
  cos,
  erf,
  exp,
  gelu,
  geluTanh,
  log,
  neg,
  quickGelu,
  relu,
  rsqrt,
  scale,
  sigmoid,
  sign,
  silu,
  sin,
  sqrt,
  square,
  tanh,
} from './kernels/unary.js';
export type { UnaryOp } from './kernels/unary.js';
export { cast } from './kernels/cast.js';
export { where } from './kernels/where.js';
export { argmax, logSumExp, max, mean, min, sum, variance } from './kernels/reduce.js';
export type { ReduceOp } from './kernels/reduce.js';
export { sumToShape } from './kernels/sumToShape.js';
export { logSoftmax, softmax } from './kernels/softmax.js';
export { softmaxGrad, softmaxGradKernel } from './kernels/softmaxGrad.js';
export { normGrad, normGradKernel } from './kernels/normGrad.js';
export type { NormGradAttrs } from './kernels/normGrad.js';
export { layerNorm } from './kernels/layerNorm.js';
export { rmsNorm } from './kernels/rmsNorm.js';

// --- shape ops, gather/scatter, conv (reshape.ts, transpose.ts, slice.ts, concat.ts, pad.ts, gather.ts, scatter.ts, oneHot.ts, conv2d.ts, maxPool2d.ts, upsample.ts) ---
export { expandDims, flatten, reshape, squeeze, unsqueeze } from './kernels/reshape.js';
export { transpose } from './kernels/transpose.js';
export { slice } from './kernels/slice.js';
export { concat } from './kernels/concat.js';
export { pad } from './kernels/pad.js';
export type { PadMode } from './kernels/pad.js';
export { embedding, gather } from './kernels/gather.js';
export { scatterAdd } from './kernels/scatter.js';
export { oneHot } from './kernels/oneHot.js';
export { maxPool2d } from './kernels/maxPool2d.js';
export { conv2d } from './kernels/conv2d.js';
export type { Conv2dOptions } from './kernels/conv2d.js';
export { upsampleNearest } from './kernels/upsample.js';

// --- matmul (matmul.ts) ---
export { linear, matmul, matmulKernel } from './kernels/matmul.js';
export type { MatmulActivation, MatmulAttrs, MatmulOptions } from './kernels/matmul.js';
export { setMatmulWebGpuConfig } from './kernels/matmul/config.js';
export { TUNE_CANDIDATES, tuneMatmulWebGpu } from './kernels/matmul/tune.js';
export type { MatmulTuneOptions, MatmulTuneResult } from './kernels/matmul/tune.js';
export { SHAPE_TUNE_SPLITS, SHAPE_TUNE_TILES, tuneMatmulShapesWebGpu } from './kernels/matmul/tuneShapes.js';
export type {
  MatmulShapeCandidate,
  MatmulShapeTuneOptions,
  MatmulShapeTuneResult,
} from './kernels/matmul/tuneShapes.js';
export type { MatmulCall } from './kernels/matmul/shapeKey.js';
export type {
  GemmTileConfig,
  GemvConfig,
  MatmulShapeChoice,
  MatmulWebGpuConfig,
  SplitKConfig,
} from './kernels/matmul/config.js';

// --- attention, rope, kv cache (attention.ts, rope.ts, kvCache.ts) ---
export { attention, attentionKernel } from './kernels/attention.js';
export type { AttentionOptions } from './kernels/attention.js';
export type {
  AttentionAttrs,
  AttentionLayout,
  AttentionMaskKind,
} from './kernels/attention/attentionDims.js';
export { attentionQkv, attentionQkvKernel } from './kernels/attention/attentionQkv.js';
export type { AttentionQkvAttrs, AttentionQkvOptions } from './kernels/attention/attentionQkv.js';
export { attentionProbs, attentionProbsKernel } from './kernels/attention/attentionProbs.js';
export { rope, ropeKernel } from './kernels/rope.js';
export type { RopeAttrs, RopeOptions } from './kernels/rope.js';
export { ropeInverseFrequencies } from './kernels/attention/ropeFrequencies.js';
export type { RopeScaling } from './kernels/attention/ropeFrequencies.js';
export { KvCache, appendKv, createKvCache } from './kernels/kvCache.js';
export type { KvAppendResult, KvCacheOptions } from './kernels/kvCache.js';
export { kvCacheUpdateKernel, kvCacheWriteKernel } from './kernels/attention/kvCacheWrite.js';
export type { KvCacheWriteAttrs } from './kernels/attention/kvCacheWrite.js';

// --- quantized weights (quantize.ts, quantize/codec.ts; matmul reads them) ---
export { dequantize, quantizeWeight } from './kernels/quantize.js';
export type { QuantizeWeightOptions } from './kernels/quantize.js';
export { dequantizeArray, quantizeArray } from './kernels/quantize/codec.js';
export { QUANT_BLOCK } from './dtype.js';
export type { QuantizedDType } from './dtype.js';

// --- random, sampling, losses (random.ts, sampling.ts, crossEntropy.ts, topk.ts) ---
export {
  Rng,
  gumbelNoise,
  randomBits,
  randomExponential,
  randomNormal,
  randomUniform,
} from './kernels/random.js';
export type { RandomNormalOptions, RandomOptions, RandomUniformOptions, RngState } from './kernels/random.js';
export { topk } from './kernels/topk.js';
export type { TopkResult } from './kernels/topk.js';
export { multinomial, repetitionPenalty, sample } from './kernels/sampling.js';
export type { MultinomialOptions, SampleOptions } from './kernels/sampling.js';
export { crossEntropy, softmaxCrossEntropyWithSoftTargets } from './kernels/crossEntropy.js';
export type { CrossEntropyOptions, CrossEntropyReduction } from './kernels/crossEntropy.js';

// --- autograd and optimizers (src/autograd/) ---
export { grad, valueAndGrad } from './autograd/valueAndGrad.js';
export type { ValueAndGrad } from './autograd/valueAndGrad.js';
export type { ParamTree } from './autograd/paramTree.js';
export { stopGradient } from './autograd/stopGradient.js';
export { gradCheck } from './autograd/gradCheck.js';
export type { GradCheckInput, GradCheckOptions, GradCheckResult } from './autograd/gradCheck.js';
export { AdamW } from './autograd/AdamW.js';
export type {
  AdamWOptions,
  AdamWState,
  AdamWStateDict,
  LearningRate,
  ParamGroup,
} from './autograd/AdamW.js';
export {
  loadOptimizerState,
  loadOptimizers,
  saveOptimizerState,
  saveOptimizers,
} from './autograd/optimizerStateFile.js';
export { resumeStep } from './autograd/resumeFrom.js';
export type { ResumeFrom } from './autograd/resumeFrom.js';
export type { LoadedOptimizerState, OptimizerTarget } from './autograd/optimizerStateFile.js';
export { adamwUpdate } from './autograd/adamwUpdate.js';
export type { AdamWUpdateAttrs } from './autograd/adamwUpdate.js';
export { cosineWithWarmup } from './autograd/cosineWithWarmup.js';
export type { CosineWithWarmupOptions } from './autograd/cosineWithWarmup.js';
export { isBiasOrNorm } from './autograd/isBiasOrNorm.js';
export { clipGradNorm, gradNorm } from './autograd/clipGradNorm.js';
export { guardedStep } from './autograd/guardedStep.js';
export { yieldToEventLoop } from './yieldToEventLoop.js';
export type { GuardedStepOptions, GuardedStepResult } from './autograd/guardedStep.js';
export { TrainingInterruptedError } from './autograd/TrainingInterruptedError.js';
export type { TrainingInterruptedOptions } from './autograd/TrainingInterruptedError.js';

export type { DecodedSafetensorsTensor, DecodeSafetensorsOptions } from './io/decodeSafetensorsTensor.js';
export { decodeSafetensorsTensor } from './io/decodeSafetensorsTensor.js';
export type { LoadedSafetensors, LoadSafetensorsOptions } from './io/loadSafetensors.js';
export { loadCheckpointTensors } from './io/loadCheckpointTensors.js';
export { hubFileUrl } from './io/hubUrl.js';
export { loadSafetensors } from './io/loadSafetensors.js';
export { STORED_DTYPES, type StoredDType } from './io/storeAs.js';
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
export {
  joinSource,
  loadFile,
  loadFileIfExists,
  loadJson,
  loadJsonIfExists,
  loadTextIfExists,
} from './io/loadFile.js';
export { isNotFound } from './io/notFound.js';
export type { LoadFileOptions } from './io/loadFile.js';
export { SafetensorsError } from './io/SafetensorsError.js';
export type { SafetensorsProgress } from './io/SafetensorsProgress.js';
export type { SafetensorsDType } from './io/safetensorsDType.js';
export type { NamedTensors } from './io/saveSafetensors.js';
export { encodeSafetensors, saveSafetensors } from './io/saveSafetensors.js';
export { saveSafetensorsFile } from './io/saveSafetensorsFile.js';
export type { SaveCheckpointTensorsOptions } from './io/saveCheckpointTensors.js';
export { saveCheckpointTensors } from './io/saveCheckpointTensors.js';
