// The backward of a softmax over the last axis in one pass per row: dx = y ⊙ (dy − Σ dy ⊙ y), where
// y is the softmax's output. Composed from ops it is four passes over the rows (mul, sum, sub, mul),
// each allocating its result: the larger part of attention's backward on the CPU.
import type { TensorInfo } from '../backend.js';
import { workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { formatShape, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { rowEntry, wgslRowMain, wgslWorkgroupReduce } from './reduce.js';

const params = uniformLayout({ rows: 'u32', n: 'u32' });
const WG = 64;

function wgsl(subgroups: boolean): string {
  const entry = rowEntry(subgroups);
  return `${entry.enable}${params.wgsl('Params')}
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
${wgslWorkgroupReduce('wgSum', 'f32', 'add', WG, subgroups)}
${wgslRowMain(true, WG, subgroups)} // one workgroup per row
  if (r >= p.rows) { return; } // uniform: r depends only on the workgroup
  let base = r * p.n;
  var acc = 0.0;
  for (var j = lid; j < p.n; j += ${WG}u) { acc += dy[base + j] * y[base + j]; }
  let dot = wgSum(acc, lid, lane, sgSize);
  for (var j = lid; j < p.n; j += ${WG}u) { dx[base + j] = y[base + j] * (dy[base + j] - dot); }
}`;
}

function check([y, dy]: readonly TensorInfo[]): void {
  if (y!.dtype !== 'f32' || dy!.dtype !== 'f32' || !shapesEqual(y!.shape, dy!.shape) || y!.shape.length < 1)
    throw new RangeError(
      `softmaxGrad: y and dy must be f32 of one shape (rank 1 or more), got y ${y!.dtype}${formatShape(y!.shape)} and dy ${dy!.dtype}${formatShape(dy!.shape)}`,
    );
}

/**
 * The softmax backward kernel behind {@link softmaxGrad}: inputs `[y, dy]`, the output dx.
 *
 * @example
 * ```ts
 * const [dx] = runKernel(softmaxGradKernel, [y, dy], {});
 * ```
 */
export const softmaxGradKernel: Kernel<Record<string, never>> = {
  name: 'softmaxGrad',
  infer(inputs) {
    check(inputs);
    return [{ shape: inputs[0]!.shape, dtype: 'f32' }];
  },
  cpu([y, dy]) {
    const yd = y!.data;
    const gd = dy!.data;
    const n = y!.shape[y!.shape.length - 1]!;
    const dx = new Float32Array(yd.length);
    for (let base = 0; base < yd.length; base += n) {
      let dot = 0;
      for (let j = base; j < base + n; j++) dot += gd[j]! * yd[j]!;
      for (let j = base; j < base + n; j++) dx[j] = yd[j]! * (gd[j]! - dot);
    }
    return [dx];
  },
  webgpu(ctx, inputs, [out]) {
    if (out!.size === 0) return;
    const n = out!.shape[out!.shape.length - 1]!;
    const rows = out!.size / n;
    const subgroups = ctx.features.subgroups;
    const pipeline = ctx.pipeline(`softmaxGrad:${subgroups ? 'sg' : ''}`, () => wgsl(subgroups));
    ctx.dispatch(pipeline, [...inputs, out!], params.pack({ rows, n }), workgroups1d(rows));
  },
  tfjs(tf, [y, dy]) {
    return [tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), -1, true)))];
  },
};

/**
 * The gradient of a softmax over the last axis from its output `y` and the output's gradient `dy`:
 * `y ⊙ (dy − Σ_last dy ⊙ y)`, one pass per row on every backend. Positions where y is 0 (masked)
 * get 0.
 *
 * @example
 * ```ts
 * const p = softmax(scores); // [B, H, T, T]
 * const dScores = softmaxGrad(p, dP); // [B, H, T, T]
 * ```
 */
export function softmaxGrad(y: Tensor, dy: Tensor): Tensor {
  checkTensor(y, 'softmaxGrad', 'y');
  checkTensor(dy, 'softmaxGrad', 'dy');
  return run1(softmaxGradKernel, [y, dy], {});
}
