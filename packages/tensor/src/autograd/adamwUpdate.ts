// One fused AdamW step for one parameter: reads p, g, m, v once and writes the new p, m and v, so
// an optimizer step costs one dispatch per parameter instead of a dozen elementwise ops.
import type { TensorInfo } from '../backend.js';
import { assertSameShape, runKernel } from '../engine.js';
import type { Kernel } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';

/**
 * The scalars of one AdamW step, precomputed in float64 on the host as PyTorch does:
 * `decay = 1 - lr * weightDecay`, `stepSize = lr / (1 - beta1^t)`, `bc2Sqrt = sqrt(1 - beta2^t)`.
 *
 * @example
 * ```ts
 * const attrs: AdamWUpdateAttrs = { decay: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 1e-2, bc2Sqrt: Math.sqrt(1e-3) };
 * ```
 */
export interface AdamWUpdateAttrs {
  readonly decay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly stepSize: number;
  readonly bc2Sqrt: number;
  readonly eps: number;
}

const params = uniformLayout({
  size: 'u32',
  decay: 'f32',
  beta1: 'f32',
  beta2: 'f32',
  oneMinusBeta1: 'f32',
  oneMinusBeta2: 'f32',
  stepSize: 'f32',
  bc2Sqrt: 'f32',
  eps: 'f32',
});

const WG = 256;

/**
 * Each attr with the range AdamW gives it (lr >= 0, weightDecay >= 0 with lr * weightDecay <= 1,
 * betas in [0, 1), eps > 0, t >= 1): a value outside it would make NaN or nonsense params.
 */
const ATTR_RANGES: Record<keyof AdamWUpdateAttrs, [string, (x: number) => boolean]> = {
  decay: ['in [0, 1] (1 - lr * weightDecay)', (x) => x >= 0 && x <= 1],
  beta1: ['in [0, 1)', (x) => x >= 0 && x < 1],
  beta2: ['in [0, 1)', (x) => x >= 0 && x < 1],
  eps: ['> 0', (x) => x > 0],
  stepSize: ['>= 0 (lr / (1 - beta1^t))', (x) => x >= 0],
  bc2Sqrt: ['in (0, 1] (sqrt(1 - beta2^t))', (x) => x > 0 && x <= 1],
};

function checkAttrs(attrs: unknown): void {
  if (typeof attrs !== 'object' || attrs === null) {
    throw new TypeError(
      `adamwUpdate: attrs must be an object { ${Object.keys(ATTR_RANGES).join(', ')} }, got ${String(attrs)}`,
    );
  }
  for (const key of Object.keys(attrs)) {
    if (!Object.hasOwn(ATTR_RANGES, key)) {
      throw new TypeError(
        `adamwUpdate: attrs has an unknown key ${JSON.stringify(key)} (expected ${Object.keys(ATTR_RANGES).join(', ')})`,
      );
    }
  }
  for (const [key, [range, ok]] of Object.entries(ATTR_RANGES)) {
    const x: unknown = (attrs as Record<string, unknown>)[key];
    if (!(typeof x === 'number' && Number.isFinite(x) && ok(x))) {
      const got = typeof x === 'string' ? JSON.stringify(x) : String(x);
      throw new RangeError(`adamwUpdate: attrs.${key} must be a finite number ${range}, got ${got}`);
    }
  }
}

const WGSL = `${params.wgsl('Params')}
@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> m: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> pOut: array<f32>;
@group(0) @binding(5) var<storage, read_write> mOut: array<f32>;
@group(0) @binding(6) var<storage, read_write> vOut: array<f32>;
@group(0) @binding(7) var<uniform> u: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= u.size) { return; }
  let gi = g[i];
  let mi = u.beta1 * m[i] + u.oneMinusBeta1 * gi;
  let vi = u.beta2 * v[i] + u.oneMinusBeta2 * gi * gi;
  mOut[i] = mi;
  vOut[i] = vi;
  pOut[i] = p[i] * u.decay - u.stepSize * mi / (sqrt(vi) / u.bc2Sqrt + u.eps);
}`;

export const adamwUpdateKernel: Kernel<AdamWUpdateAttrs> = {
  name: 'adamwUpdate',
  infer(inputs, attrs): TensorInfo[] {
    const names = ['param', 'grad', 'm', 'v'];
    inputs.forEach((t, i) => {
      if (t.dtype !== 'f32') throw new TypeError(`adamwUpdate: ${names[i]} must be f32, got ${t.dtype}`);
      if (i > 0) assertSameShape(inputs[0]!, t, 'adamwUpdate', ['param', names[i]!]);
    });
    checkAttrs(attrs);
    const info = { shape: inputs[0]!.shape, dtype: 'f32' as const };
    return [info, info, info];
  },
  cpu([p, g, m, v], a) {
    const n = p!.data.length;
    const pOut = new Float32Array(n);
    const mOut = new Float32Array(n);
    const vOut = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const gi = g!.data[i]!;
      const mi = a.beta1 * m!.data[i]! + (1 - a.beta1) * gi;
      const vi = a.beta2 * v!.data[i]! + (1 - a.beta2) * gi * gi;
      mOut[i] = mi;
      vOut[i] = vi;
      pOut[i] = p!.data[i]! * a.decay - (a.stepSize * mi) / (Math.sqrt(vi) / a.bc2Sqrt + a.eps);
    }
    return [pOut, mOut, vOut];
  },
  webgpu(ctx, [p, g, m, v], [pOut, mOut, vOut], a) {
    if (p!.size === 0) return;
    const uniforms = params.pack({
      size: p!.size,
      ...a,
      oneMinusBeta1: 1 - a.beta1,
      oneMinusBeta2: 1 - a.beta2,
    });
    const pipeline = ctx.pipeline('adamwUpdate', () => WGSL);
    ctx.dispatch(
      pipeline,
      [p!, g!, m!, v!, pOut!, mOut!, vOut!],
      uniforms,
      workgroups1d(Math.ceil(p!.size / WG)),
    );
  },
  tfjs(tf, [p, g, m, v], a) {
    const mi = tf.add(tf.mul(m, a.beta1), tf.mul(g, 1 - a.beta1));
    const vi = tf.add(tf.mul(v, a.beta2), tf.mul(tf.square(g), 1 - a.beta2));
    const denom = tf.add(tf.div(tf.sqrt(vi), a.bc2Sqrt), a.eps);
    return [tf.sub(tf.mul(p, a.decay), tf.mul(tf.div(mi, denom), a.stepSize)), mi, vi];
  },
};

/**
 * One AdamW step for one parameter (the fused kernel behind {@link AdamW}): returns new tensors
 * `[param, m, v]`; the inputs are left as they are. Use {@link AdamW} unless you manage the
 * optimizer state yourself. Each attr must be finite and in the range AdamW gives it: `decay` in
 * [0, 1], `beta1` and `beta2` in [0, 1), `eps` > 0, `stepSize` >= 0 and `bc2Sqrt` in (0, 1];
 * anything else throws a RangeError naming the attr.
 *
 * @example
 * ```ts
 * const t = 1, lr = 1e-3, [b1, b2] = [0.9, 0.999];
 * const [p2, m2, v2] = adamwUpdate(p, g, m, v, {
 *   decay: 1 - lr * 0.01, beta1: b1, beta2: b2, eps: 1e-8,
 *   stepSize: lr / (1 - b1 ** t), bc2Sqrt: Math.sqrt(1 - b2 ** t),
 * });
 * ```
 */
export function adamwUpdate(
  param: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  attrs: AdamWUpdateAttrs,
): [Tensor, Tensor, Tensor] {
  const [p2, m2, v2] = runKernel(adamwUpdateKernel, [param, grad, m, v], attrs);
  return [p2!, m2!, v2!];
}
