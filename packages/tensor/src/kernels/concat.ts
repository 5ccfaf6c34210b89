// concat(xs, axis): joins tensors along an axis, any number of inputs, any dtype, rank up to 8.
import type { TensorInfo } from '../backend.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { allocArray, type TypedArray } from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { formatShape, normAxis, showValue, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { slice } from './slice.js';
import { assertMaxRank, dispatchIndexMap, pad8 } from './transpose.js';

interface ConcatAttrs {
  /** Non-negative. */
  readonly axis: number;
}

/** Inputs bound per dispatch: 7 plus the output fit WebGPU's default 8 storage buffers per stage. */
const GROUP = 7;

const concatParams = uniformLayout({
  size: 'u32',
  fill: 'u32',
  axisDim: 'u32',
  inner: 'u32',
  groupBegin: 'u32',
  groupEnd: 'u32',
  count: 'u32',
  starts: 'shape',
  dims: 'shape',
});

export const concatKernel: Kernel<ConcatAttrs> = {
  name: 'concat',
  infer(xs, { axis }): TensorInfo[] {
    const first = xs[0]!;
    assertMaxRank(first, 'concat', 'input 0');
    const rank = first.shape.length;
    if (rank === 0) throw new RangeError('concat: input 0 is a scalar (shape []); concat needs rank >= 1');
    xs.forEach((x, i) => {
      if (x.shape.length !== rank) {
        throw new RangeError(
          `concat: input ${i} has rank ${x.shape.length} (shape ${formatShape(x.shape)}) but input 0 has rank ${rank} (shape ${formatShape(first.shape)})`,
        );
      }
      if (x.dtype !== first.dtype)
        throw new TypeError(`concat: input ${i} is ${x.dtype} but input 0 is ${first.dtype}`);
      x.shape.forEach((d, a) => {
        if (a !== axis && d !== first.shape[a]) {
          throw new RangeError(
            `concat: input ${i} has shape ${formatShape(x.shape)} but input 0 has shape ${formatShape(first.shape)}; they may differ only on axis ${axis}`,
          );
        }
      });
    });
    const shape = [...first.shape];
    shape[axis] = xs.reduce((n, x) => n + x.shape[axis]!, 0);
    return [{ shape, dtype: first.dtype }];
  },
  cpu(xs, { axis }, [out]) {
    const result: TypedArray = allocArray(out!.dtype, sizeOf(out!.shape));
    const outer = out!.shape.slice(0, axis).reduce((n, d) => n * d, 1);
    const inner = out!.shape.slice(axis + 1).reduce((n, d) => n * d, 1);
    const rowOut = out!.shape[axis]! * inner;
    let start = 0;
    for (const x of xs) {
      const row = x.shape[axis]! * inner;
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < row; j++) result[o * rowOut + start + j] = x.data[o * row + j]!;
      }
      start += row;
    }
    return [result];
  },
  webgpu(ctx, xs, [out], { axis }) {
    const inner = out!.shape.slice(axis + 1).reduce((n, d) => n * d, 1);
    const axisDim = out!.shape[axis]!;
    // Every dispatch walks the whole output and writes the elements of its group of inputs; the
    // others are left alone (-2), so groups may share a packed f16 word.
    let begin = 0;
    for (let g = 0; g < xs.length; g += GROUP) {
      const group = xs.slice(g, g + GROUP);
      const starts: number[] = [];
      let end = begin;
      for (const x of group) {
        starts.push(end);
        end += x.shape[axis]!;
      }
      dispatchIndexMap(ctx, {
        key: 'concat',
        sources: group,
        out: out!,
        paramsWgsl: concatParams.wgsl('Params'),
        uniforms: concatParams.pack({
          size: out!.size,
          fill: 0,
          axisDim,
          inner,
          groupBegin: begin,
          groupEnd: end,
          count: group.length,
          starts: pad8(starts),
          dims: pad8(group.map((x) => x.shape[axis]!)),
        }),
        locate: `fn locate(o: u32) -> vec2<i32> {
  let r = o % p.inner;
  let a = (o / p.inner) % p.axisDim;
  let outer = o / (p.inner * p.axisDim);
  if (a < p.groupBegin || a >= p.groupEnd) { return vec2<i32>(-2, 0); }
  var k = 0u;
  for (var j = 1u; j < p.count; j++) { if (a >= shapeAt(p.starts, j)) { k = j; } }
  let dim = shapeAt(p.dims, k);
  let e = (outer * dim + a - shapeAt(p.starts, k)) * p.inner + r;
  return vec2<i32>(i32(k), i32(e));
}`,
      });
      begin = end;
    }
  },
  tfjs(tf, xs, { axis }) {
    return [
      tf.concat(
        xs.map((x: { dtype: string }) => (x.dtype === 'bool' ? tf.cast(x, 'int32') : x)),
        axis,
      ),
    ];
  },
  grad({ dy: [dy], inputs, attrs: { axis } }) {
    if (!dy) return inputs.map(() => undefined);
    let start = 0;
    return inputs.map((x) => {
      const begin = dy.shape.map((_, i) => (i === axis ? start : 0));
      start += x.shape[axis]!;
      return slice(dy, begin, x.shape);
    });
  },
};

/**
 * Joins tensors of the same dtype and rank along `axis` (negative counts from the end); the other
 * dimensions must match. Any number of inputs.
 *
 * @example
 * ```ts
 * const tokens = concat([cls, patches], 1); // [B, 1, C] + [B, P, C] -> [B, 1 + P, C]
 * ```
 */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (!Array.isArray(xs)) {
    throw new TypeError(
      `concat: xs must be an array of tensors, e.g. concat([a, b], axis), got ${showValue(xs)}`,
    );
  }
  if (xs.length === 0) throw new RangeError('concat: needs at least one input tensor');
  xs.forEach((x, i) => {
    if (!(x instanceof Tensor)) throw new TypeError(`concat: xs[${i}] must be a Tensor, got ${showValue(x)}`);
  });
  return run1(concatKernel, xs, { axis: normAxis(axis, Math.max(xs[0]!.rank, 1), 'concat') });
}
