import type { TensorInfo } from './backend.js';
import type { GpuContext, GpuTensor } from './backends/webgpu/context.js';
import type { DType, TypedArray } from './dtype.js';
import type { Shape } from './shape.js';
import type { Tensor } from './tensor.js';

/** A tensor's data on the host, as the CPU reference implementation of a kernel sees it. */
export interface HostTensor {
  readonly data: TypedArray;
  readonly shape: Shape;
  readonly dtype: DType;
}

/**
 * What a gradient rule receives: the upstream gradients of the outputs (`undefined` where an output
 * does not reach the loss), the inputs, the outputs and the attributes.
 */
export interface GradArgs<A> {
  readonly dy: readonly (Tensor | undefined)[];
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly attrs: A;
}

/**
 * The subset of `@tensorflow/tfjs-core` a kernel's tfjs implementation uses; kept structural so
 * that tfjs stays an optional peer dependency.
 */
// biome-ignore lint/suspicious/noExplicitAny: tfjs-core's namespace is large and optional here
export type TfjsCore = any;
/** A `tf.Tensor` (structural, see {@link TfjsCore}). */
// biome-ignore lint/suspicious/noExplicitAny: see TfjsCore
export type TfjsTensor = any;

/**
 * One kernel: its name, its output shape rule, the CPU reference (also the CPU fallback), its
 * WebGPU implementation, its tfjs implementation and its gradient rule. Kernels live one per file
 * under `src/kernels/`.
 *
 * @example
 * ```ts
 * const double: Kernel<void> = {
 *   name: 'double',
 *   infer: ([x]) => [x!],
 *   cpu: ([x]) => [Float32Array.from(x!.data, (v) => 2 * v)],
 * };
 * const y = runKernel(double, [x], undefined)[0]!;
 * ```
 */
export interface Kernel<A = unknown> {
  readonly name: string;
  /**
   * Set on view kernels (reshape): the single output shares the buffer of this input, with the
   * same number of elements, and no backend work is done.
   */
  readonly aliasInput?: number;
  /**
   * Whether the kernel reads block-quantized inputs (`q8`/`q4` weights, see `QuantizedDType`);
   * the engine rejects them for every other kernel, whose code would misread packed words.
   */
  readonly acceptsQuantized?: boolean;
  /** Output shapes and dtypes; throws an error naming the op and the offending shapes on bad input. */
  infer(inputs: readonly TensorInfo[], attrs: A): TensorInfo[];
  /** Reference implementation on host arrays; returns one array per output. */
  cpu(inputs: readonly HostTensor[], attrs: A, outputs: readonly TensorInfo[]): TypedArray[];
  /** Encodes the kernel's dispatches on a WebGPU backend, writing into the preallocated outputs. */
  webgpu?(ctx: GpuContext, inputs: readonly GpuTensor[], outputs: readonly GpuTensor[], attrs: A): void;
  /**
   * Computes the kernel with tfjs-core ops; returns one `tf.Tensor` per output, or undefined where
   * tfjs cannot compute these inputs exactly (u32 is held as int32, say), to run `cpu` instead.
   * `infos` are the inputs' shapes and dtypes.
   */
  tfjs?(
    tf: TfjsCore,
    inputs: readonly TfjsTensor[],
    attrs: A,
    outputs: readonly TensorInfo[],
    infos: readonly TensorInfo[],
  ): TfjsTensor[] | undefined;
  /** Gradients with respect to each input (`undefined` where none flows), built from ops. */
  grad?(args: GradArgs<A>): (Tensor | undefined)[];
}
