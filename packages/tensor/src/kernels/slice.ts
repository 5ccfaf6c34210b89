// slice(x, begin, size): a contiguous box of x, any dtype, rank up to 8.
import type { TensorInfo } from '../backend.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { allocArray, type TypedArray } from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { formatShape, type Shape, sizeOf, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { pad } from './pad.js';
import { assertIntegers } from './reshape.js';
import { assertMaxRank, dispatchIndexMap, forEachIndex, pad8 } from './transpose.js';

interface SliceAttrs {
  /** Resolved: non-negative and within x. */
  readonly begin: readonly number[];
  readonly size: readonly number[];
}

/**
 * Resolves negative begins (from the end) and -1 sizes (to the end) against `shape`; throws naming
 * the axis and the shape when the box does not fit.
 */
function resolveBox(shape: Shape, begin: readonly number[], size: readonly number[]): SliceAttrs {
  const rank = shape.length;
  const where = `begin [${begin.join(', ')}], size [${size.join(', ')}] for x of shape ${formatShape(shape)}`;
  if (begin.length !== rank || size.length !== rank) {
    throw new RangeError(`slice: ${where}: begin and size need one entry per axis (${rank})`);
  }
  const b = begin.map((v, i) => (v < 0 ? v + shape[i]! : v));
  const s = size.map((v, i) => (v === -1 ? shape[i]! - b[i]! : v));
  for (let i = 0; i < rank; i++) {
    const bi = b[i]!;
    const si = s[i]!;
    if (!Number.isInteger(bi) || !Number.isInteger(si) || bi < 0 || si < 0 || bi + si > shape[i]!) {
      throw new RangeError(
        `slice: ${where} is out of range on axis ${i} (begin ${bi}, size ${si}, dimension ${shape[i]})`,
      );
    }
  }
  return { begin: b, size: s };
}

const sliceParams = uniformLayout({
  size: 'u32',
  fill: 'u32',
  rank: 'u32',
  outShape: 'shape',
  srcStrides: 'shape',
  offset: 'u32',
});

export const sliceKernel: Kernel<SliceAttrs> = {
  name: 'slice',
  infer([x], attrs): TensorInfo[] {
    assertMaxRank(x!, 'slice');
    const { size } = resolveBox(x!.shape, attrs.begin, attrs.size);
    return [{ shape: size, dtype: x!.dtype }];
  },
  cpu([x], { begin }, [out]) {
    const result: TypedArray = allocArray(out!.dtype, sizeOf(out!.shape));
    const strides = stridesOf(x!.shape);
    const offset = begin.reduce((n, b, i) => n + b * strides[i]!, 0);
    const data = x!.data;
    forEachIndex(out!.shape, (i, c) => {
      let e = offset;
      for (let d = 0; d < c.length; d++) e += c[d]! * strides[d]!;
      result[i] = data[e]!;
    });
    return [result];
  },
  webgpu(ctx, [x], [out], { begin }) {
    const strides = stridesOf(x!.shape);
    const rank = Math.max(1, out!.shape.length);
    dispatchIndexMap(ctx, {
      key: 'slice',
      sources: [x!],
      out: out!,
      paramsWgsl: sliceParams.wgsl('Params'),
      uniforms: sliceParams.pack({
        size: out!.size,
        fill: 0,
        rank,
        outShape: pad8(out!.shape.length === 0 ? [1] : out!.shape),
        srcStrides: pad8(x!.shape.length === 0 ? [1] : strides),
        offset: begin.reduce((n, b, i) => n + b * strides[i]!, 0),
      }),
      locate: `fn locate(o: u32) -> vec2<i32> {
  var r = o;
  var e = p.offset;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let dim = shapeAt(p.outShape, u32(d));
    e += (r % dim) * shapeAt(p.srcStrides, u32(d));
    r = r / dim;
  }
  return vec2<i32>(0, i32(e));
}`,
    });
  },
  tfjs(tf, [x], { begin, size }) {
    return [tf.slice(x, [...begin], [...size])];
  },
  grad({ dy: [dy], inputs: [x], attrs: { begin, size } }) {
    return [
      dy &&
        pad(
          dy,
          begin.map((b, i) => [b, x!.shape[i]! - b - size[i]!] as [number, number]),
        ),
    ];
  },
};

/**
 * The box of `x` starting at `begin` with extent `size` on each axis. A negative begin counts from
 * the end of its axis (-1 is the last element); a size of -1 runs to the end of the axis. A box
 * that does not fit inside `x` is an error (no clamping).
 *
 * @example
 * ```ts
 * const cls = slice(tokens, [0, 0, 0], [-1, 1, -1]); // [B, T, C] -> [B, 1, C]
 * const last = slice(logits, [0, -1, 0], [-1, 1, -1]); // the last position
 * ```
 */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  checkTensor(x, 'slice', 'x');
  assertIntegers(begin, 'slice', 'begin');
  assertIntegers(size, 'slice', 'size');
  return run1(sliceKernel, [x], resolveBox(x.shape, begin, size));
}
