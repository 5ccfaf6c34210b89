// scatterAdd(shape, indices, updates, axis): the adjoint of gather, summing updates that land on
// the same slice. Deterministic on every backend: duplicates are summed in index order, the same
// order as the CPU reference, so results match it bit for bit.
import type { TensorInfo } from '../backend.js';
import { wgslStorageType, workgroups1d } from '../backends/webgpu/context.js';
import { DEVICE_ERROR_BITS, wgslDeviceErrors } from '../backends/webgpu/deviceErrors.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { allocArray, type TypedArray } from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { assertShape, formatShape, normAxis, type Shape, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { assertIndices, checkIndices, gather, tfjsOnHost } from './gather.js';
import { assertMaxRank } from './transpose.js';

interface ScatterAttrs {
  readonly shape: Shape;
  /** Non-negative. */
  readonly axis: number;
}

const scatterParams = uniformLayout({ size: 'u32', dim: 'u32', inner: 'u32', count: 'u32' });
const WG = 256;

// Three dispatches: (1) mark every slice k as untouched, (2) for each index j link it to the next
// j' with the same (clamped) index and record the first j of each slice, (3) for each output
// element walk its slice's chain in index order. The link pass is O(J^2) in the worst case, fine
// for token-id sized index lists (J up to ~10^4).
const PRELUDE = `${scatterParams.wgsl('Params')}
fn slot(j: u32) -> i32 { return clamp(ids[j], 0, i32(p.dim) - 1); }
`;

function initShader(): string {
  return `${scatterParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read_write> first: array<i32>;
@group(0) @binding(1) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = gid.x + gid.y * nwg.x * ${WG}u;
  if (k < p.dim) { first[k] = -1; }
}`;
}

function linkShader(): string {
  return `${PRELUDE}
@group(0) @binding(0) var<storage, read> ids: array<i32>;
@group(0) @binding(1) var<storage, read_write> first: array<i32>;
@group(0) @binding(2) var<storage, read_write> next: array<i32>;
${wgslDeviceErrors(3)}
@group(0) @binding(4) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * ${WG}u;
  if (j >= p.count) { return; }
  // An out-of-range index is flagged (the next read throws) and clamped.
  if (ids[j] < 0 || ids[j] >= i32(p.dim)) { flagError(${DEVICE_ERROR_BITS.scatterAdd}u); }
  let k = slot(j);
  var head = true;
  for (var i = 0u; i < j; i++) { if (slot(i) == k) { head = false; break; } }
  var n = -1;
  for (var i = j + 1u; i < p.count; i++) { if (slot(i) == k) { n = i32(i); break; } }
  next[j] = n;
  if (head) { first[k] = i32(j); }
}`;
}

function sumShader(type: string): string {
  return `${scatterParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> upd: array<${type}>;
@group(0) @binding(1) var<storage, read> first: array<i32>;
@group(0) @binding(2) var<storage, read> next: array<i32>;
@group(0) @binding(3) var<storage, read_write> outBuf: array<${type}>;
@group(0) @binding(4) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * ${WG}u;
  if (o >= p.size) { return; }
  let r = o % p.inner;
  let k = (o / p.inner) % p.dim;
  let b = o / (p.inner * p.dim);
  var acc = ${type}(0);
  var j = first[k];
  while (j >= 0) {
    acc += upd[(b * p.count + u32(j)) * p.inner + r];
    j = next[j];
  }
  outBuf[o] = acc;
}`;
}

export const scatterAddKernel: Kernel<ScatterAttrs> = {
  name: 'scatterAdd',
  infer([indices, updates], { shape, axis }): TensorInfo[] {
    assertIndices(indices!, 'scatterAdd');
    const { dtype } = updates!;
    if (dtype !== 'f32' && dtype !== 'i32' && dtype !== 'u32') {
      throw new TypeError(`scatterAdd: updates must be f32, i32 or u32, got ${dtype}`);
    }
    assertMaxRank({ shape, dtype }, 'scatterAdd', 'the output');
    const want = [...shape.slice(0, axis), ...indices!.shape, ...shape.slice(axis + 1)];
    if (want.length !== updates!.shape.length || want.some((d, i) => d !== updates!.shape[i])) {
      throw new RangeError(
        `scatterAdd: updates have shape ${formatShape(updates!.shape)} but shape ${formatShape(shape)} with indices ${formatShape(indices!.shape)} on axis ${axis} needs ${formatShape(want)}`,
      );
    }
    return [{ shape, dtype }];
  },
  cpu([indices, updates], { shape, axis }, [out]) {
    const result: TypedArray = allocArray(out!.dtype, sizeOf(shape));
    const dim = shape[axis]!;
    const outer = shape.slice(0, axis).reduce((n, d) => n * d, 1);
    const inner = shape.slice(axis + 1).reduce((n, d) => n * d, 1);
    const ids = indices!.data;
    checkIndices(ids, dim, 'scatterAdd', `axis ${axis} of the output (shape ${formatShape(shape)})`);
    let u = 0;
    for (let b = 0; b < outer; b++) {
      for (let j = 0; j < ids.length; j++) {
        const dst = (b * dim + ids[j]!) * inner;
        for (let r = 0; r < inner; r++) result[dst + r] = result[dst + r]! + updates!.data[u++]!;
      }
    }
    return [result];
  },
  webgpu(ctx, [indices, updates], [out], { shape, axis }) {
    const o = out!;
    if (o.size === 0) return;
    const dim = shape[axis]!;
    const count = indices!.size;
    const uniforms = scatterParams.pack({
      size: o.size,
      dim,
      inner: shape.slice(axis + 1).reduce((n, d) => n * d, 1),
      count,
    });
    const first = ctx.scratch(Math.max(4, dim * 4));
    const next = ctx.scratch(Math.max(4, count * 4));
    ctx.dispatch(
      ctx.pipeline('scatterAdd:init', initShader),
      [first],
      uniforms,
      workgroups1d(Math.ceil(dim / WG)),
    );
    if (count > 0) {
      ctx.dispatch(
        ctx.pipeline('scatterAdd:link', linkShader),
        [indices!, first, next, ctx.deviceErrors()],
        uniforms,
        workgroups1d(Math.ceil(count / WG)),
      );
    }
    const type = wgslStorageType(o.dtype);
    ctx.dispatch(
      ctx.pipeline(`scatterAdd:sum:${type}`, () => sumShader(type)),
      [updates!, first, next, o],
      uniforms,
      workgroups1d(Math.ceil(o.size / WG)),
    );
  },
  tfjs(tf, [indices, updates], { shape, axis }) {
    // tf.scatterND drops out-of-range ids silently: check here as the CPU does (where the indices
    // are on the host; on tfjs's GPU backends the read would stall every call).
    if (tfjsOnHost(tf)) {
      const what = `axis ${axis} of the output (shape ${formatShape(shape)})`;
      checkIndices(indices.dataSync(), shape[axis]!, 'scatterAdd', what);
    }
    // scatterND adds each update row into its slice in index order: NaN stays in its row, int32
    // adds exactly, and the cost is one pass over the updates. (unsortedSegmentSum is neither:
    // tfjs-cpu multiplies every update by a 0/1 mask per segment, and wasm lacks it.)
    // Move the indexed axis to the front: updates [B, J, I] -> [J, B*I] rows into [K, B*I].
    const outer = shape.slice(0, axis).reduce((n, d) => n * d, 1);
    const inner = shape.slice(axis + 1).reduce((n, d) => n * d, 1);
    const count = indices.size;
    const dim = shape[axis]!;
    const rows = tf.reshape(tf.transpose(tf.reshape(updates, [outer, count, inner]), [1, 0, 2]), [
      count,
      outer * inner,
    ]); // [J, B*I]
    const summed = tf.scatterND(tf.reshape(indices, [count, 1]), rows, [dim, outer * inner]); // [K, B*I]
    return [tf.reshape(tf.transpose(tf.reshape(summed, [dim, outer, inner]), [1, 0, 2]), [...shape])];
  },
  grad({ dy: [dy], inputs: [indices], attrs: { axis } }) {
    return [undefined, dy && gather(dy, indices!, axis)];
  },
};

/**
 * Adds `updates` into a zero tensor of `shape` at `indices` (i32) along `axis`: the adjoint of
 * {@link gather}, so `updates` has shape `shape[:axis] + indices.shape + shape[axis+1:]`. Repeated
 * indices accumulate, in index order on every backend (deterministic). Out-of-range indices are an
 * error on every backend, as in gather (on WebGPU the next read throws). f32, i32 or u32.
 *
 * @example
 * ```ts
 * const tableGrad = scatterAdd([V, C], ids, dTokens, 0); // ids [B, T], dTokens [B, T, C] -> [V, C]
 * ```
 */
export function scatterAdd(shape: Shape, indices: Tensor, updates: Tensor, axis: number): Tensor {
  const dims = assertShape(shape, 'scatterAdd');
  return run1(scatterAddKernel, [indices, updates], {
    shape: dims,
    axis: normAxis(axis, dims.length, 'scatterAdd'),
  });
}
