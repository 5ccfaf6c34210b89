// oneHot(indices, depth, dtype): [...] i32 -> [..., depth] with a 1 at each index.
import type { TensorInfo } from '../backend.js';
import { wgslStorageType, workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { allocArray, type DType, type TypedArray } from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { showValue, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { assertIndices } from './gather.js';
import { assertMaxRank } from './transpose.js';

interface OneHotAttrs {
  readonly depth: number;
  readonly dtype: DType;
}

const params = uniformLayout({ size: 'u32', depth: 'u32' });
const WG = 256;

export const oneHotKernel: Kernel<OneHotAttrs> = {
  name: 'oneHot',
  infer([indices], { depth, dtype }): TensorInfo[] {
    assertIndices(indices!, 'oneHot');
    if (!Number.isInteger(depth) || depth < 0)
      throw new RangeError(`oneHot: depth must be a non-negative integer, got ${showValue(depth)}`);
    if (dtype !== 'f32' && dtype !== 'i32' && dtype !== 'u32' && dtype !== 'bool') {
      throw new TypeError(`oneHot: dtype must be f32, i32, u32 or bool, got ${dtype}`);
    }
    const shape = [...indices!.shape, depth];
    assertMaxRank({ shape, dtype }, 'oneHot', 'the output');
    return [{ shape, dtype }];
  },
  cpu([indices], { depth }, [out]) {
    const result: TypedArray = allocArray(out!.dtype, sizeOf(out!.shape));
    indices!.data.forEach((k, j) => {
      if (k >= 0 && k < depth) result[j * depth + k] = 1;
    });
    return [result];
  },
  webgpu(ctx, [indices], [out], { depth }) {
    const o = out!;
    if (o.size === 0) return;
    const type = wgslStorageType(o.dtype);
    const pipeline = ctx.pipeline(
      `oneHot:${type}`,
      () => `${params.wgsl('Params')}
@group(0) @binding(0) var<storage, read> ids: array<i32>;
@group(0) @binding(1) var<storage, read_write> outBuf: array<${type}>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * ${WG}u;
  if (o >= p.size) { return; }
  outBuf[o] = ${type}(ids[o / p.depth] == i32(o % p.depth));
}`,
    );
    ctx.dispatch(
      pipeline,
      [indices!, o],
      params.pack({ size: o.size, depth }),
      workgroups1d(Math.ceil(o.size / WG)),
    );
  },
  tfjs(tf, [indices], { depth }) {
    // tf.oneHot refuses depth < 2: compare with a range instead (out-of-range ids match nothing).
    if (depth < 2) return [tf.equal(tf.expandDims(indices, -1), tf.range(0, depth, 1, 'int32'))];
    return [tf.oneHot(indices, depth)];
  },
};

/**
 * One-hot encodes i32 `indices` into `[..., depth]` (f32 by default; i32, u32 or bool too).
 * Indices outside `[0, depth)` give an all-zero row.
 *
 * @example
 * ```ts
 * const targets = oneHot(labels, 10); // [B] -> [B, 10]
 * ```
 */
export function oneHot(indices: Tensor, depth: number, dtype: DType = 'f32'): Tensor {
  checkTensor(indices, 'oneHot', 'indices');
  return run1(oneHotKernel, [indices], { depth, dtype });
}
