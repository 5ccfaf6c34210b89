// matmul: `act(op(a) @ op(b) + bias)` with NumPy batch broadcasting, transposes, a fused bias and
// activation, and b optionally stored as f16/bf16. The WebGPU code lives in ./matmul/ (tiled GEMM,
// GEMV for small M); the CPU reference in ./matmul/reference.ts.
import type { TensorInfo } from '../backend.js';
import { checkOptionalTensor, checkTensor } from '../checkTensor.js';
import { run1 } from '../engine.js';
import type { Kernel, TfjsCore, TfjsTensor } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { isQuantized } from '../dtype.js';
import { checkOptionKeys, flagOption } from './options.js';
import { cast } from './cast.js';
import { MATMUL_ACTIVATIONS, type MatmulActivation, tfjsActivation } from './matmul/activation.js';
import { matmulActivationGradKernel } from './matmul/activationGrad.js';
import {
  type MatmulAttrs,
  type MatmulNames,
  matmulOperands,
  planMatmul,
  validateMatmul,
} from './matmul/plan.js';
import { matmulReference } from './matmul/reference.js';
import { matmulWebGpu } from './matmul/webgpu.js';
import { dequantize } from './quantize.js';
import { sum } from './reduce.js';
import { reshape } from './reshape.js';
import { sumToShape } from './sumToShape.js';

export type { MatmulActivation, MatmulAttrs };

function tfjsMatmul(tf: TfjsCore, inputs: readonly TfjsTensor[], attrs: MatmulAttrs): TfjsTensor {
  const { a, b, bias, residual } = matmulOperands(inputs, attrs);
  const info = (t: TfjsTensor): TensorInfo => ({ shape: t.shape, dtype: 'f32' });
  const plan = planMatmul(info(a), info(b), attrs, true);
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  let y: TfjsTensor;
  if (plan.batches === 1 || plan.batchShape.length === 0) {
    // One problem (b shared by every item of a, folded into a's rows).
    const rows = attrs.transposeA ? ra : plan.m; // a's rows, every batch item stacked
    y = tf.matMul(tf.reshape(a, [rows, ca]), tf.reshape(b, [rb, cb]), attrs.transposeA, attrs.transposeB);
  } else {
    // tfjs broadcasts batch dims only partially; expand both to the full batch explicitly.
    const full = (t: TfjsTensor, r: number, c: number) =>
      tf.reshape(tf.broadcastTo(t, [...plan.batchShape, r, c]), [plan.batches, r, c]);
    y = tf.matMul(full(a, ra, ca), full(b, rb, cb), attrs.transposeA, attrs.transposeB);
  }
  y = tf.reshape(y, [...plan.outShape]);
  if (bias) y = tf.add(y, bias);
  y = tfjsActivation(tf, y, attrs.activation);
  return residual ? tf.add(y, residual) : y;
}

/** A `[..., r, c]` tensor as `[rows, c]` (a view): folds batch items into rows. */
function foldRows(t: Tensor): Tensor {
  return t.rank === 2 ? t : reshape(t, [-1, t.shape[t.rank - 1]!]);
}

/**
 * The matmul kernel. Inputs `[a, b]` or `[a, b, bias]`, then the residual when `attrs.residual`; a
 * `[...batchA, M, K]` (`[..., K, M]` when transposeA), b `[...batchB, K, N]` (`[..., N, K]` when
 * transposeB; f32, f16 or bf16; q8/q4 only as a 2-D `[N, K]` with transposeB), bias `[N]`,
 * residual the output's shape; output f32 `[...batch, M, N]`.
 *
 * @example
 * ```ts
 * const y = runKernel(matmulKernel, [x, w], { transposeA: false, transposeB: true, activation: 'none' })[0];
 * ```
 */
export const matmulKernel: Kernel<MatmulAttrs> = {
  name: 'matmul',
  acceptsQuantized: true,
  infer(inputs, attrs): TensorInfo[] {
    validateMatmul(inputs, attrs);
    return [{ shape: planMatmul(inputs[0]!, inputs[1]!, attrs).outShape, dtype: 'f32' }];
  },
  cpu(inputs, attrs) {
    return [matmulReference(inputs, attrs)];
  },
  webgpu(ctx, inputs, [out], attrs) {
    matmulWebGpu(ctx, inputs, out!, attrs);
  },
  tfjs(tf, inputs, attrs) {
    return [tfjsMatmul(tf, inputs, attrs)];
  },
  grad({ dy: [dy], inputs, attrs }) {
    const { a, b: stored, bias, residual } = matmulOperands(inputs as readonly Tensor[], attrs);
    if (!dy) return inputs.map(() => undefined);
    // The residual's gradient is dy itself; the rest is the product's.
    const withResidual = (grads: (Tensor | undefined)[]) => (residual ? [...grads, dy] : grads);
    const quantized = isQuantized(stored.dtype);
    if (quantized && stored.tracked) {
      throw new Error(
        `matmul: no gradient flows into a quantized weight (${stored.describe()}); train the float weight and ` +
          'quantize it afterwards, or pass the quantized one as a constant',
      );
    }
    // The gradient of a still flows through a quantized weight (its dequantized values).
    const b = quantized ? dequantize(stored) : stored;
    const { transposeA: tA, transposeB: tB } = attrs;
    // The gradient at the pre-activation z = op(a) @ op(b) + bias, recomputing z.
    const dz =
      attrs.activation === 'none'
        ? dy // [...batch, M, N]
        : run1(matmulActivationGradKernel, [matmul(a, b, { transposeA: tA, transposeB: tB, bias }), dy], {
            activation: attrs.activation,
          });
    // d op(a) = dz @ op(b)^T and d op(b) = op(a)^T @ dz, each written so the result comes out in
    // the operand's stored layout.
    const bLeft = () => (b.dtype === 'f32' ? b : cast(b, 'f32'));
    const dbias = bias ? sum(foldRows(dz), 0) : undefined; // [N]
    if (quantized) {
      const da = tA
        ? matmul(b, dz, { transposeA: tB, transposeB: true }) // [..., K, M]
        : matmul(dz, b, { transposeB: !tB }); // [..., M, K]
      return withResidual([sumToShape(da, a.shape), undefined, ...(bias ? [dbias] : [])]);
    }
    const da = tA
      ? matmul(bLeft(), dz, { transposeA: tB, transposeB: true }) // [..., K, M]
      : matmul(dz, b, { transposeB: !tB }); // [..., M, K]
    let db: Tensor;
    if (b.rank === 2 && a.rank > 2 && !tA) {
      // Shared weights: fold every batch item into the rows, so the sum over the batch happens
      // inside the product.
      db = tB
        ? matmul(foldRows(dz), foldRows(a), { transposeA: true }) // [N, K]
        : matmul(foldRows(a), foldRows(dz), { transposeA: true }); // [K, N]
    } else {
      db = tB
        ? matmul(dz, a, { transposeA: true, transposeB: tA }) // [..., N, K]
        : matmul(a, dz, { transposeA: !tA }); // [..., K, N]
    }
    db = sumToShape(db, b.shape);
    if (b.dtype !== 'f32') db = cast(db, b.dtype);
    return withResidual(bias ? [sumToShape(da, a.shape), db, dbias] : [sumToShape(da, a.shape), db]);
  },
};

/** Options of {@link matmul}. */
export interface MatmulOptions {
  /** a is stored `[..., K, M]`. */
  transposeA?: boolean;
  /** b is stored `[..., N, K]` (PyTorch `nn.Linear` weights). */
  transposeB?: boolean;
  /** `[N]`, added before the activation. */
  bias?: Tensor;
  /** Applied after the bias (default `'none'`). */
  activation?: MatmulActivation;
  /**
   * `[...batch, M, N]` (the output's shape, not broadcast), added last: a transformer block's
   * skip connection fused into the product, `x + linear(h)` in one kernel.
   */
  residual?: Tensor;
}

/**
 * Matrix product `act(op(a) @ op(b) + bias)`, batched with NumPy broadcasting of the leading dims
 * (a 2-D `b` is shared by every batch item without a copy). `a` is f32; `b` may be f32, f16 or
 * bf16 (stored weights, converted inside the kernel), or a 2-D `[N, K]` weight block-quantized
 * with {@link quantizeWeight} (q8, q4; with `transposeB`), dequantized inside the kernel: the
 * result is the f32 product with the dequantized weight. The output is f32 `[...batch, M, N]`.
 *
 * @example
 * ```ts
 * const h = matmul(x, w1, { bias: b1, activation: 'gelu' }); // [B, T, C] @ [C, 4C] -> [B, T, 4C]
 * const scores = matmul(q, k, { transposeB: true }); // [B, H, T, D] @ [B, H, T, D]^T -> [B, H, T, T]
 * ```
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  checkTensor(a, 'matmul', 'a');
  checkTensor(b, 'matmul', 'b');
  checkOptionKeys('matmul', options, MATMUL_OPTION_KEYS);
  const activation = options.activation ?? 'none';
  if (!MATMUL_ACTIVATIONS.includes(activation)) {
    throw new RangeError(
      `matmul: unknown activation ${JSON.stringify(activation)} (expected one of ${MATMUL_ACTIVATIONS.join(', ')})`,
    );
  }
  const { bias, residual } = options;
  checkOptionalTensor(bias, 'matmul', 'options.bias');
  checkOptionalTensor(residual, 'matmul', 'options.residual');
  const transposeA = flagOption('matmul', options, 'transposeA');
  const transposeB = flagOption('matmul', options, 'transposeB');
  return runMatmul(a, b, bias, residual, { transposeA, transposeB, activation });
}

/**
 * The matmul kernel on `a`, `b` and the optional bias and residual (a residual is marked in the
 * kernel's attrs). With `names`, an error of the kernel's checks is said again in the caller's
 * words (linear's `x` and `weight`): checked only after a failure, so a valid call pays nothing.
 */
function runMatmul(
  a: Tensor,
  b: Tensor,
  bias: Tensor | undefined,
  residual: Tensor | undefined,
  products: Omit<MatmulAttrs, 'residual'>,
  names?: MatmulNames,
): Tensor {
  const attrs: MatmulAttrs = { ...products, ...(residual ? { residual: true } : {}) };
  const inputs = [a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  if (!names) return run1(matmulKernel, inputs, attrs);
  try {
    return run1(matmulKernel, inputs, attrs);
  } catch (e) {
    validateMatmul(inputs, attrs, names);
    planMatmul(a, b, attrs, false, names);
    throw e;
  }
}

const MATMUL_OPTION_KEYS = ['transposeA', 'transposeB', 'bias', 'activation', 'residual'];

/**
 * A fully connected layer in PyTorch's layout: `x @ weight^T + bias` with `weight` `[out, in]`
 * (f32, f16, bf16, or quantized q8/q4 from {@link quantizeWeight}), plus `residual` when given
 * (the output's shape), fused into the same kernel.
 *
 * @example
 * ```ts
 * const q = linear(x, params['q_proj.weight'], params['q_proj.bias']); // [B, T, C] -> [B, T, C]
 * const out = linear(attn, params['out_proj.weight'], params['out_proj.bias'], x); // x + out_proj(attn)
 * ```
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor, residual?: Tensor): Tensor {
  checkTensor(x, 'linear', 'x');
  checkTensor(weight, 'linear', 'weight');
  checkOptionalTensor(bias, 'linear', 'bias');
  checkOptionalTensor(residual, 'linear', 'residual');
  // What matmul(x, weight, { transposeB: true, bias, residual }) runs, its errors in linear's words.
  return runMatmul(
    x,
    weight,
    bias,
    residual,
    { transposeA: false, transposeB: true, activation: 'none' },
    LINEAR_NAMES,
  );
}

const LINEAR_NAMES: MatmulNames = { op: 'linear', a: 'x', b: 'weight' };
