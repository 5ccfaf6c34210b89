// gather(x, indices, axis) and embedding(table, ids): pick slices of x along an axis by index.
import type { TensorInfo } from '../backend.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { allocArray, type TypedArray } from '../dtype.js';
import { DEVICE_ERROR_BITS } from '../backends/webgpu/deviceErrors.js';
import { run1 } from '../engine.js';
import type { Kernel, TfjsCore } from '../kernel.js';
import { formatShape, normAxis, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { scatterAdd } from './scatter.js';
import { assertMaxRank, dispatchIndexMap } from './transpose.js';

interface GatherAttrs {
  /** Non-negative. */
  readonly axis: number;
  /** The public function, for errors: `gather` or `embedding`. */
  readonly op: string;
}

const gatherParams = uniformLayout({ size: 'u32', fill: 'u32', dim: 'u32', inner: 'u32', count: 'u32' });

/** @internal Throws unless `indices` is i32 (shared with scatterAdd and oneHot). */
export function assertIndices(indices: TensorInfo, op: string): void {
  if (indices.dtype !== 'i32') {
    throw new TypeError(
      `${op}: indices must be i32, got ${indices.dtype}${formatShape(indices.shape)}; cast them first`,
    );
  }
}

/** @internal The CPU reference's range check: names the index, its position and the valid range. */
export function checkIndex(v: number, position: number, dim: number, op: string, what: string): void {
  if (v < 0 || v >= dim) {
    throw new RangeError(
      `${op}: index ${v} at position ${position} of indices is out of range [0, ${dim}) for ${what}`,
    );
  }
}

/** @internal Whether tfjs's registered backend keeps tensors in host memory (dataSync is cheap). */
export function tfjsOnHost(tf: TfjsCore): boolean {
  return ['cpu', 'wasm', 'tensorflow'].includes(tf.getBackend());
}

/** @internal {@link checkIndex} over every index. */
export function checkIndices(ids: ArrayLike<number>, dim: number, op: string, what: string): void {
  for (let j = 0; j < ids.length; j++) checkIndex(ids[j]!, j, dim, op, what);
}

export const gatherKernel: Kernel<GatherAttrs> = {
  name: 'gather',
  infer([x, indices], { axis, op }): TensorInfo[] {
    assertIndices(indices!, op);
    const shape = [...x!.shape.slice(0, axis), ...indices!.shape, ...x!.shape.slice(axis + 1)];
    assertMaxRank({ shape, dtype: x!.dtype }, op, 'the output');
    return [{ shape, dtype: x!.dtype }];
  },
  cpu([x, indices], { axis, op }, [out]) {
    const result: TypedArray = allocArray(out!.dtype, sizeOf(out!.shape));
    const dim = x!.shape[axis]!;
    const outer = x!.shape.slice(0, axis).reduce((n, d) => n * d, 1);
    const inner = x!.shape.slice(axis + 1).reduce((n, d) => n * d, 1);
    const ids = indices!.data;
    checkIndices(ids, dim, op, `axis ${axis} of x (shape ${formatShape(x!.shape)})`);
    let o = 0;
    for (let b = 0; b < outer; b++) {
      for (let j = 0; j < ids.length; j++) {
        const src = (b * dim + ids[j]!) * inner;
        for (let r = 0; r < inner; r++) result[o++] = x!.data[src + r]!;
      }
    }
    return [result];
  },
  webgpu(ctx, [x, indices], [out], { axis, op }) {
    const dim = x!.shape[axis]!;
    if (dim === 0 && out!.size > 0)
      throw new RangeError(`${op}: axis ${axis} of x (shape ${formatShape(x!.shape)}) is empty`);
    dispatchIndexMap(ctx, {
      key: 'gather',
      sources: [x!],
      extras: [{ tensor: indices!, name: 'ids', type: 'i32' }],
      out: out!,
      paramsWgsl: gatherParams.wgsl('Params'),
      uniforms: gatherParams.pack({
        size: out!.size,
        fill: 0,
        dim,
        inner: x!.shape.slice(axis + 1).reduce((n, d) => n * d, 1),
        count: indices!.size,
      }),
      // An out-of-range index is flagged (the next read throws) and clamped for the copy.
      deviceErrors: true,
      locate: `fn locate(o: u32) -> vec2<i32> {
  let r = o % p.inner;
  let j = (o / p.inner) % p.count;
  let b = o / (p.inner * p.count);
  let raw = ids[j];
  if (raw < 0 || raw >= i32(p.dim)) { flagError(${DEVICE_ERROR_BITS.gather}u); }
  let k = u32(clamp(raw, 0, i32(p.dim) - 1));
  return vec2<i32>(0, i32((b * p.dim + k) * p.inner + r));
}`,
    });
  },
  tfjs(tf, [x, indices], { axis, op }) {
    // tfjs's own check names neither the op nor the position: check here as the CPU does, where
    // the indices are on the host (on tfjs's GPU backends reading them would stall every call).
    if (tfjsOnHost(tf))
      checkIndices(
        indices.dataSync(),
        x.shape[axis]!,
        op,
        `axis ${axis} of x (shape ${formatShape(x.shape)})`,
      );
    return [tf.gather(x, indices, axis)];
  },
  grad({ dy: [dy], inputs: [x, indices], attrs: { axis } }) {
    return [dy && scatterAdd(x!.shape, indices!, dy, axis), undefined];
  },
};

/**
 * Picks slices of `x` along `axis` (negative counts from the end) at `indices` (i32): the result
 * has shape `x.shape[:axis] + indices.shape + x.shape[axis+1:]`. An index outside
 * `[0, x.shape[axis])` is an error: the CPU backends throw naming it; WebGPU's kernel flags it and
 * the next read throws (as CUDA reports device-side asserts), the copy having clamped it.
 *
 * @example
 * ```ts
 * const rows = gather(x, ids, 0); // x [V, C], ids [B, T] -> [B, T, C]
 * ```
 */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  checkTensor(x, 'gather', 'x');
  checkTensor(indices, 'gather', 'indices');
  return run1(gatherKernel, [x, indices], { axis: normAxis(axis, x.rank, 'gather'), op: 'gather' });
}

/**
 * Looks up rows of an embedding table: `gather(table, ids, 0)`, `[V, C]` and `[...]` -> `[..., C]`.
 *
 * @example
 * ```ts
 * const tokens = embedding(params['token_embedding.weight'], inputIds); // [B, T] -> [B, T, C]
 * ```
 */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  checkTensor(table, 'embedding', 'table');
  if (table.rank !== 2)
    throw new RangeError(`embedding: table must be [V, C], got shape ${formatShape(table.shape)}`);
  checkTensor(ids, 'embedding', 'ids');
  return run1(gatherKernel, [table, ids], { axis: 0, op: 'embedding' });
}
