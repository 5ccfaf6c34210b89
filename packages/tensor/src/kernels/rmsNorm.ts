// rmsNorm over the last axis (Llama): x * rsqrt(mean(x^2) + eps) * gamma. On the GPU one
// workgroup normalizes one row (rows of 32 or fewer elements: one invocation per row); the
// launch shape and shader skeleton are layerNorm's.
import type { TensorInfo } from '../backend.js';
import type { GpuContext, GpuTensor } from '../backends/webgpu/context.js';
import { allocArray } from '../dtype.js';
import { checkOptionalTensor, checkTensor } from '../checkTensor.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { normGrad } from './normGrad.js';
import { checkChannelParam, checkNormInput, dispatchNorm } from './normShared.js';
import { sumToShape } from './sumToShape.js';

interface RmsNormAttrs {
  hasGamma: boolean;
  eps: number;
}

function dispatchRmsNorm(
  ctx: GpuContext,
  inputs: readonly GpuTensor[],
  out: GpuTensor,
  attrs: RmsNormAttrs,
): void {
  const g = attrs.hasGamma;
  const reads = ['xBuf', ...(g ? ['gammaBuf'] : [])];
  dispatchNorm(ctx, `rmsNorm:${+g}`, reads, ['yBuf'], [...inputs, out], attrs.eps, () => {
    return `var qAcc = 0.0;
  ROW { let v = xBuf[base + j]; qAcc += v * v; }
  let inv = 1.0 / sqrt(rowSum(qAcc) / n + p.eps);
  ROW { yBuf[base + j] = xBuf[base + j] * inv${g ? ' * gammaBuf[j]' : ''}; }`;
  });
}

/** @internal The kernel behind {@link rmsNorm}. */
export const rmsNormKernel: Kernel<RmsNormAttrs> = {
  name: 'rmsNorm',
  infer([x, gamma], { hasGamma, eps }): TensorInfo[] {
    checkNormInput(x!, eps, 'rmsNorm');
    checkChannelParam(x!, hasGamma ? gamma : undefined, 'rmsNorm', 'gamma');
    return [{ shape: x!.shape, dtype: 'f32' }];
  },
  cpu([x, gamma], { eps }) {
    const xd = x!.data;
    const n = x!.shape[x!.shape.length - 1]!;
    const y = allocArray('f32', xd.length);
    for (let base = 0; base < xd.length; base += n) {
      let q = 0;
      for (let j = 0; j < n; j++) q += xd[base + j]! ** 2;
      const r = 1 / Math.sqrt(q / n + eps);
      for (let j = 0; j < n; j++) y[base + j] = xd[base + j]! * r * (gamma ? gamma.data[j]! : 1);
    }
    return [y];
  },
  webgpu(ctx, inputs, [out], attrs) {
    dispatchRmsNorm(ctx, inputs, out!, attrs);
  },
  tfjs(tf, [x, gamma], { eps }) {
    const y = tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
    return [gamma ? tf.mul(y, gamma) : y];
  },
  grad({ dy: [dy], inputs: [x, gamma], attrs: { eps } }) {
    if (!dy) return [undefined, undefined];
    // One fused pass per row (normGrad.ts): dx, and dy * x * rsqrt(mean(x^2) + eps) for gamma.
    const [dx, dyXhat] = normGrad('rms', x!, dy, gamma, eps);
    return gamma ? [dx, sumToShape(dyXhat!, gamma.shape)] : [dx];
  },
};

/**
 * RMS normalization over the last axis (Llama, T5): `x * rsqrt(mean(x^2) + eps) * gamma`, with an
 * optional `gamma` of shape `[C]`.
 *
 * @example
 * ```ts
 * const h = rmsNorm(x, params['model.layers.0.input_layernorm.weight']); // [B, T, C]
 * ```
 */
export function rmsNorm(x: Tensor, gamma?: Tensor, eps = 1e-6): Tensor {
  checkTensor(x, 'rmsNorm', 'x');
  checkOptionalTensor(gamma, 'rmsNorm', 'gamma');
  return run1(rmsNormKernel, gamma ? [x, gamma] : [x], { hasGamma: gamma !== undefined, eps });
}
