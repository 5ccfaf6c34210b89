// layerNorm over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta, with the variance
// from two passes over the row (mean first, then squared deviations), which stays accurate for
// rows with a large mean where E[x^2] - E[x]^2 would cancel. The second pass is the corrected
// two-pass one: with d = x - mu, mean = mu + sum(d) / n and var = (sum(d^2) - sum(d)^2 / n) / n
// (at least 0). A rounded mu is off by ulps of the row's magnitude, which (x - mu) / sqrt(eps)
// would magnify on a near-constant row; the correction cancels it (a constant row gives exactly 0,
// as in PyTorch). On the GPU one workgroup normalizes
// one row (rows of 32 or fewer elements: one invocation per row).
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

interface LayerNormAttrs {
  hasGamma: boolean;
  hasBeta: boolean;
  eps: number;
}

function dispatchLayerNorm(
  ctx: GpuContext,
  inputs: readonly GpuTensor[],
  out: GpuTensor,
  attrs: LayerNormAttrs,
): void {
  const reads = ['xBuf', ...(attrs.hasGamma ? ['gammaBuf'] : []), ...(attrs.hasBeta ? ['betaBuf'] : [])];
  const key = `layerNorm:${+attrs.hasGamma}${+attrs.hasBeta}`;
  dispatchNorm(ctx, key, reads, ['yBuf'], [...inputs, out], attrs.eps, () => {
    return `var sAcc = 0.0;
  ROW { sAcc += xBuf[base + j]; }
  let mu0 = rowSum(sAcc) / n;
  var dAcc = 0.0;
  var qAcc = 0.0;
  ROW { let d = xBuf[base + j] - mu0; dAcc += d; qAcc += d * d; }
  let sd = rowSum(dAcc);
  let sq = rowSum(qAcc);
  // The mean is mu0 + delta, kept apart: folded into one f32 it would be off by up to half an ulp
  // of a large mean, which x - mean would carry into every value (as the CPU kernel keeps it).
  let delta = sd / n;
  let rstd = 1.0 / sqrt(max((sq - sd * (sd / n)) / n, 0.0) + p.eps);
  ROW {
    var y = ((xBuf[base + j] - mu0) - delta) * rstd;
    ${attrs.hasGamma ? 'y *= gammaBuf[j];' : ''}
    ${attrs.hasBeta ? 'y += betaBuf[j];' : ''}
    yBuf[base + j] = y;
  }`;
  });
}

/** @internal The kernel behind {@link layerNorm}. */
export const layerNormKernel: Kernel<LayerNormAttrs> = {
  name: 'layerNorm',
  infer(inputs, { hasGamma, hasBeta, eps }): TensorInfo[] {
    const [x] = inputs;
    checkNormInput(x!, eps, 'layerNorm');
    checkChannelParam(x!, hasGamma ? inputs[1] : undefined, 'layerNorm', 'gamma');
    checkChannelParam(x!, hasBeta ? inputs[hasGamma ? 2 : 1] : undefined, 'layerNorm', 'beta');
    return [{ shape: x!.shape, dtype: 'f32' }];
  },
  cpu(inputs, { hasGamma, hasBeta, eps }) {
    const x = inputs[0]!.data;
    const gamma = hasGamma ? inputs[1]!.data : undefined;
    const beta = hasBeta ? inputs[hasGamma ? 2 : 1]!.data : undefined;
    const shape = inputs[0]!.shape;
    const n = shape[shape.length - 1]!;
    const y = allocArray('f32', x.length);
    for (let base = 0; base < x.length; base += n) {
      let s = 0;
      for (let j = base; j < base + n; j++) s += x[j]!;
      const mu0 = s / n;
      let sd = 0;
      let q = 0;
      for (let j = base; j < base + n; j++) {
        const d = x[j]! - mu0;
        sd += d;
        q += d * d;
      }
      // The corrected two-pass variance (see the top of the file); NaN stays NaN through the max.
      const v = (q - sd * (sd / n)) / n;
      const mu = mu0 + sd / n;
      const rstd = 1 / Math.sqrt(Math.max(v, 0) + eps);
      // One loop per case keeps the per-element work free of branches.
      if (gamma && beta)
        for (let j = 0; j < n; j++) y[base + j] = (x[base + j]! - mu) * rstd * gamma[j]! + beta[j]!;
      else if (gamma) for (let j = 0; j < n; j++) y[base + j] = (x[base + j]! - mu) * rstd * gamma[j]!;
      else if (beta) for (let j = 0; j < n; j++) y[base + j] = (x[base + j]! - mu) * rstd + beta[j]!;
      else for (let j = 0; j < n; j++) y[base + j] = (x[base + j]! - mu) * rstd;
    }
    return [y];
  },
  webgpu(ctx, inputs, [out], attrs) {
    dispatchLayerNorm(ctx, inputs, out!, attrs);
  },
  tfjs(tf, inputs, { hasGamma, hasBeta, eps }) {
    const [x] = inputs;
    // The corrected two-pass variance, as the other backends (tf.moments keeps mu's rounding).
    const n = x.shape[x.shape.length - 1]!;
    const mu0 = tf.mean(x, -1, true);
    const d = tf.sub(x, mu0);
    const sd = tf.sum(d, -1, true);
    const sq = tf.sum(tf.square(d), -1, true);
    const delta = tf.div(sd, n); // the mean is mu0 + delta, kept apart (see the WGSL)
    const v = tf.relu(tf.div(tf.sub(sq, tf.mul(sd, tf.div(sd, n))), n));
    let y = tf.mul(tf.sub(d, delta), tf.rsqrt(tf.add(v, eps)));
    if (hasGamma) y = tf.mul(y, inputs[1]);
    if (hasBeta) y = tf.add(y, inputs[hasGamma ? 2 : 1]);
    return [y];
  },
  grad({ dy: [dy], inputs, attrs: { hasGamma, hasBeta, eps } }) {
    const x = inputs[0]!;
    const gamma = hasGamma ? inputs[1] : undefined;
    const beta = hasBeta ? inputs[hasGamma ? 2 : 1] : undefined;
    if (!dy) return inputs.map(() => undefined);
    // One fused pass per row (normGrad.ts): dx, and dy * xhat for gamma.
    const [dx, dyXhat] = normGrad('layer', x, dy, gamma, eps);
    const grads: (Tensor | undefined)[] = [dx];
    if (gamma) grads.push(sumToShape(dyXhat!, gamma.shape));
    if (beta) grads.push(sumToShape(dy, beta.shape));
    return grads;
  },
};

/**
 * Layer normalization over the last axis: `(x - mean) / sqrt(var + eps) * gamma + beta`, with
 * the population variance; `gamma` and `beta` (shape `[C]`) are optional.
 *
 * @example
 * ```ts
 * const h = layerNorm(x, params['ln_1.weight'], params['ln_1.bias']); // [B, T, C]
 * ```
 */
export function layerNorm(x: Tensor, gamma?: Tensor, beta?: Tensor, eps = 1e-5): Tensor {
  checkTensor(x, 'layerNorm', 'x');
  checkOptionalTensor(gamma, 'layerNorm', 'gamma');
  checkOptionalTensor(beta, 'layerNorm', 'beta');
  const inputs = [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
  return run1(layerNormKernel, inputs, { hasGamma: gamma !== undefined, hasBeta: beta !== undefined, eps });
}
