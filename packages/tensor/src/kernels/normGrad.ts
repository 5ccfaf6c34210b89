// The backward of layerNorm and rmsNorm over the last axis in one kernel: per row, the statistics,
// the two sums the chain rule needs, then dx (and dy ⊙ x̂, which summed over rows is dgamma).
//   layer: x̂ = (x − μ)·r, r = 1/√(var + eps);  dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂)),  g = dy ⊙ γ
//   rms:   x̂ = x·r,       r = 1/√(mean(x²) + eps);  dx = r·(g − x̂·mean(g ⊙ x̂))
// The statistics are the forward's (layerNorm.ts): for layer, the corrected two-pass ones, with
// d = x − μ₀, μ = μ₀ + Σd/n and var = max((Σd² − (Σd)²/n)/n, 0), in the same order of operations,
// so that x̂ here is the forward's x̂ (a constant row: exactly 0 in both, not ulps(μ₀)/√eps).
// Composed from ops the same thing was about a dozen passes, each allocating its result.
import type { TensorInfo } from '../backend.js';
import { runKernel } from '../engine.js';
import { checkOptionalTensor, checkTensor } from '../checkTensor.js';
import type { Kernel, TfjsTensor } from '../kernel.js';
import { showValue } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkChannelParam, checkNormInput, dispatchNorm } from './normShared.js';

/** Attributes of {@link normGradKernel}. */
export interface NormGradAttrs {
  kind: 'layer' | 'rms';
  eps: number;
  /** The input list is `[x, dy, gamma]`, and the outputs `[dx, dy ⊙ x̂]`. */
  hasGamma: boolean;
}

/** Per-row statistics and sums, then dx and dy ⊙ x̂, on the host (float64 sums). */
function normGradCpu(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  gamma: ArrayLike<number> | undefined,
  n: number,
  { kind, eps }: NormGradAttrs,
): [Float32Array, Float32Array] {
  const dx = new Float32Array(x.length);
  const dyXhat = new Float32Array(gamma ? x.length : 0);
  for (let base = 0; base < x.length; base += n) {
    let mu = 0;
    let v: number;
    if (kind === 'layer') {
      let s = 0;
      for (let j = 0; j < n; j++) s += x[base + j]!;
      const mu0 = s / n;
      let sd = 0;
      let q = 0;
      for (let j = 0; j < n; j++) {
        const d = x[base + j]! - mu0;
        sd += d;
        q += d * d;
      }
      v = Math.max((q - sd * (sd / n)) / n, 0); // NaN stays NaN
      mu = mu0 + sd / n;
    } else {
      let q = 0;
      for (let j = 0; j < n; j++) q += x[base + j]! ** 2;
      v = q / n;
    }
    const r = 1 / Math.sqrt(v + eps);
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < n; j++) {
      const g = dy[base + j]! * (gamma ? gamma[j]! : 1);
      sg += g;
      sgx += g * (x[base + j]! - mu) * r;
    }
    const mg = kind === 'layer' ? sg / n : 0;
    const mgx = sgx / n;
    for (let j = 0; j < n; j++) {
      const xhat = (x[base + j]! - mu) * r;
      const g = dy[base + j]! * (gamma ? gamma[j]! : 1);
      dx[base + j] = r * (g - mg - xhat * mgx);
      if (gamma) dyXhat[base + j] = dy[base + j]! * xhat;
    }
  }
  return [dx, dyXhat];
}

/** The WGSL row body (`r` is the skeleton's row index, so the scale is `rstd`). */
function wgslBody({ kind, hasGamma }: NormGradAttrs): string {
  const g = hasGamma ? 'dyBuf[base + j] * gammaBuf[j]' : 'dyBuf[base + j]';
  const stats =
    kind === 'layer'
      ? `var sAcc = 0.0;
  ROW { sAcc += xBuf[base + j]; }
  let mu0 = rowSum(sAcc) / n;
  var dAcc = 0.0;
  var qAcc = 0.0;
  ROW { let d = xBuf[base + j] - mu0; dAcc += d; qAcc += d * d; }
  let sd = rowSum(dAcc);
  let sq = rowSum(qAcc);
  let mu = mu0 + sd / n;
  let rstd = 1.0 / sqrt(max((sq - sd * (sd / n)) / n, 0.0) + p.eps);`
      : `let mu = 0.0;
  var qAcc = 0.0;
  ROW { let d = xBuf[base + j]; qAcc += d * d; }
  let rstd = 1.0 / sqrt(rowSum(qAcc) / n + p.eps);`;
  return `${stats}
  var gAcc = 0.0;
  var gxAcc = 0.0;
  ROW { let g = ${g}; gAcc += g; gxAcc += g * (xBuf[base + j] - mu) * rstd; }
  let mg = ${kind === 'layer' ? 'rowSum(gAcc) / n' : '0.0'};
  let mgx = rowSum(gxAcc) / n;
  ROW {
    let xhat = (xBuf[base + j] - mu) * rstd;
    dxBuf[base + j] = rstd * (${g} - mg - xhat * mgx);
    ${hasGamma ? 'dyXhatBuf[base + j] = dyBuf[base + j] * xhat;' : ''}
  }`;
}

/**
 * The layerNorm / rmsNorm backward kernel: inputs `[x, dy]` or `[x, dy, gamma]`; outputs `[dx]`, or
 * `[dx, dy ⊙ x̂]` with gamma (whose sum over rows is gamma's gradient).
 *
 * @example
 * ```ts
 * const [dx, dyXhat] = runKernel(normGradKernel, [x, dy, gamma], { kind: 'layer', eps: 1e-5, hasGamma: true });
 * ```
 */
export const normGradKernel: Kernel<NormGradAttrs> = {
  name: 'normGrad',
  infer(inputs, attrs) {
    const [x, dy, gamma] = inputs as [TensorInfo, TensorInfo, TensorInfo | undefined];
    const op = `normGrad('${attrs.kind}')`;
    checkNormInput(x, attrs.eps, op);
    checkNormInput(dy, attrs.eps, op, 'dy');
    if (dy.shape.join() !== x.shape.join())
      throw new RangeError(`${op}: dy [${dy.shape.join(', ')}] must have x's shape [${x.shape.join(', ')}]`);
    if (inputs.length !== (attrs.hasGamma ? 3 : 2))
      throw new RangeError(
        `${op}: hasGamma ${attrs.hasGamma} needs ${attrs.hasGamma ? 3 : 2} inputs ([x, dy${attrs.hasGamma ? ', gamma' : ''}]), got ${inputs.length}`,
      );
    if (attrs.hasGamma) checkChannelParam(x, gamma, op, 'gamma');
    const out = { shape: x.shape, dtype: 'f32' as const };
    return attrs.hasGamma ? [out, out] : [out];
  },
  cpu([x, dy, gamma], attrs) {
    const n = x!.shape[x!.shape.length - 1]!;
    const [dx, dyXhat] = normGradCpu(x!.data, dy!.data, attrs.hasGamma ? gamma!.data : undefined, n, attrs);
    return attrs.hasGamma ? [dx, dyXhat] : [dx];
  },
  webgpu(ctx, inputs, outputs, attrs) {
    const reads = ['xBuf', 'dyBuf', ...(attrs.hasGamma ? ['gammaBuf'] : [])];
    const writes = ['dxBuf', ...(attrs.hasGamma ? ['dyXhatBuf'] : [])];
    const key = `normGrad:${attrs.kind}:${+attrs.hasGamma}`;
    dispatchNorm(ctx, key, reads, writes, [...inputs, ...outputs], attrs.eps, () => wgslBody(attrs));
  },
  tfjs(tf, [x, dy, gamma], { kind, eps, hasGamma }) {
    let d: TfjsTensor;
    let v: TfjsTensor;
    if (kind === 'layer') {
      // As layerNorm's tfjs forward: the corrected two-pass statistics.
      const n = x.shape[x.shape.length - 1]!;
      const mu0 = tf.mean(x, -1, true);
      const d0 = tf.sub(x, mu0);
      const sd = tf.sum(d0, -1, true);
      const sq = tf.sum(tf.square(d0), -1, true);
      d = tf.sub(x, tf.add(mu0, tf.div(sd, n)));
      v = tf.relu(tf.div(tf.sub(sq, tf.mul(sd, tf.div(sd, n))), n));
    } else {
      d = x;
      v = tf.mean(tf.mul(x, x), -1, true);
    }
    const r = tf.rsqrt(tf.add(v, eps));
    const xhat = tf.mul(d, r);
    const g = hasGamma ? tf.mul(dy, gamma) : dy;
    let inner = tf.sub(g, tf.mul(xhat, tf.mean(tf.mul(g, xhat), -1, true)));
    if (kind === 'layer') inner = tf.sub(inner, tf.mean(g, -1, true));
    const dx = tf.mul(r, inner);
    return hasGamma ? [dx, tf.mul(dy, xhat)] : [dx];
  },
};

/**
 * dx of layerNorm (`kind: 'layer'`) or rmsNorm (`'rms'`) at `x` for the output gradient `dy`, and,
 * with `gamma`, `dy ⊙ x̂` (gamma's gradient before the sum over rows). What both norms' gradients run.
 *
 * @example
 * ```ts
 * const [dx, dyXhat] = normGrad('layer', x, dy, gamma, 1e-5); // dgamma = sum of dyXhat over rows
 * ```
 */
export function normGrad(
  kind: 'layer' | 'rms',
  x: Tensor,
  dy: Tensor,
  gamma: Tensor | undefined,
  eps: number,
): Tensor[] {
  if (kind !== 'layer' && kind !== 'rms') {
    const Err = typeof kind === 'string' ? RangeError : TypeError;
    throw new Err(`normGrad: kind must be 'layer' or 'rms', got ${showValue(kind)}`);
  }
  checkTensor(x, 'normGrad', 'x');
  checkTensor(dy, 'normGrad', 'dy');
  checkOptionalTensor(gamma, 'normGrad', 'gamma');
  return runKernel(normGradKernel, gamma ? [x, dy, gamma] : [x, dy], { kind, eps, hasGamma: !!gamma });
}
