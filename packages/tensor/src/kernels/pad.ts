// pad(x, paddings, value, mode): grows every axis by [before, after] elements filled with a
// constant ('constant'), a mirror image without the edge ('reflect', as NumPy/PyTorch) or copies
// of the edge ('edge', PyTorch's 'replicate'). Any dtype, rank up to 8.
import type { TensorInfo } from '../backend.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { tensor } from '../create.js';
import { allocArray, type DType, holdsValue, INTEGER_RANGE, type TypedArray } from '../dtype.js';
import { run1, tidy } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { formatShape, showValue, sizeOf, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { scatterAdd } from './scatter.js';
import { slice } from './slice.js';
import { assertMaxRank, dispatchIndexMap, fillBits, forEachIndex, pad8 } from './transpose.js';

/** How {@link pad} fills the new elements. */
export type PadMode = 'constant' | 'reflect' | 'edge';

interface PadAttrs {
  readonly paddings: readonly (readonly [number, number])[];
  readonly value: number;
  readonly mode: PadMode;
}

/** The source coordinate of output coordinate `c` on an axis of size `dim` (-1: the fill value). */
function sourceCoord(c: number, before: number, dim: number, mode: PadMode): number {
  const s = c - before;
  if (s >= 0 && s < dim) return s;
  if (mode === 'constant') return -1;
  if (mode === 'edge') return s < 0 ? 0 : dim - 1;
  return s < 0 ? -s : 2 * (dim - 1) - s;
}

const padParams = uniformLayout({
  size: 'u32',
  fill: 'u32',
  rank: 'u32',
  mode: 'u32',
  outShape: 'shape',
  inShape: 'shape',
  before: 'shape',
});

const MODES: Record<PadMode, number> = { constant: 0, reflect: 1, edge: 2 };

/** Throws unless `value` is a number that x's dtype holds (an integer for i32/u32, 0 or 1 for bool). */
function checkFill(value: unknown, dtype: DType): void {
  if (typeof value !== 'number') throw new TypeError(`pad: value must be a number, got ${showValue(value)}`);
  if (!holdsValue(dtype, value)) {
    const r = INTEGER_RANGE[dtype]!;
    const what = dtype === 'bool' ? '0 or 1' : `an integer in [${r[0]}, ${r[1]}]`;
    throw new RangeError(`pad: value ${value} is not representable in x's dtype ${dtype} (must be ${what})`);
  }
}

export const padKernel: Kernel<PadAttrs> = {
  name: 'pad',
  infer([x], { paddings, value, mode }): TensorInfo[] {
    assertMaxRank(x!, 'pad');
    checkFill(value, x!.dtype);
    const shape = x!.shape;
    const what = `paddings ${JSON.stringify(paddings)} for x of shape ${formatShape(shape)}`;
    if (paddings.length !== shape.length)
      throw new RangeError(`pad: ${what}: need one [before, after] pair per axis`);
    paddings.forEach(([b, a], i) => {
      if (!Number.isInteger(b) || !Number.isInteger(a) || b < 0 || a < 0) {
        throw new RangeError(`pad: ${what}: axis ${i} has a negative or non-integer padding`);
      }
      if (mode === 'reflect' && (b >= shape[i]! || a >= shape[i]!) && (b > 0 || a > 0)) {
        throw new RangeError(
          `pad: ${what}: 'reflect' padding must be smaller than the dimension on axis ${i}`,
        );
      }
      if (mode === 'edge' && shape[i] === 0 && (b > 0 || a > 0)) {
        throw new RangeError(`pad: ${what}: 'edge' padding of an empty axis (${i})`);
      }
    });
    if (typeof mode !== 'string' || !Object.hasOwn(MODES, mode))
      throw new RangeError(`pad: unknown mode ${JSON.stringify(mode)} (expected constant, reflect or edge)`);
    return [{ shape: shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]), dtype: x!.dtype }];
  },
  cpu([x], { paddings, value, mode }, [out]) {
    const result: TypedArray = allocArray(out!.dtype, sizeOf(out!.shape));
    const strides = stridesOf(x!.shape);
    // f16/bf16 hold bits, bool holds 0/1, i32 wraps the u32 bits back to the signed value.
    const fill = out!.dtype === 'f32' ? value : fillBits(value, out!.dtype);
    const data = x!.data;
    forEachIndex(out!.shape, (i, c) => {
      let e = 0;
      for (let d = 0; d < c.length; d++) {
        const s = sourceCoord(c[d]!, paddings[d]![0], x!.shape[d]!, mode);
        if (s < 0) {
          result[i] = fill;
          return;
        }
        e += s * strides[d]!;
      }
      result[i] = data[e]!;
    });
    return [result];
  },
  webgpu(ctx, [x], [out], { paddings, value, mode }) {
    const rank = x!.shape.length;
    dispatchIndexMap(ctx, {
      key: 'pad',
      sources: [x!],
      out: out!,
      paramsWgsl: padParams.wgsl('Params'),
      uniforms: padParams.pack({
        size: out!.size,
        fill: fillBits(value, out!.dtype),
        rank: Math.max(rank, 1),
        mode: MODES[mode],
        outShape: pad8(rank === 0 ? [1] : out!.shape),
        inShape: pad8(rank === 0 ? [1] : x!.shape),
        before: pad8(paddings.map(([b]) => b)),
      }),
      locate: `fn locate(o: u32) -> vec2<i32> {
  var r = o;
  var e = 0;
  var stride = 1;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let dim = shapeAt(p.outShape, u32(d));
    let n = i32(shapeAt(p.inShape, u32(d)));
    var s = i32(r % dim) - i32(shapeAt(p.before, u32(d)));
    r = r / dim;
    if (s < 0 || s >= n) {
      if (p.mode == 0u) { return vec2<i32>(-1, 0); }
      if (p.mode == 2u) { s = clamp(s, 0, n - 1); } else if (s < 0) { s = -s; } else { s = 2 * (n - 1) - s; }
    }
    e += s * stride;
    stride *= n;
  }
  return vec2<i32>(0, e);
}`,
    });
  },
  tfjs(tf, [x], { paddings, value, mode }) {
    if (mode === 'constant') {
      const v = x.dtype === 'bool' ? tf.cast(x, 'int32') : x;
      return [
        tf.pad(
          v,
          paddings.map(([b, a]) => [b, a]),
          value,
        ),
      ];
    }
    // reflect and edge as one gather of source coordinates per padded axis.
    let y = x;
    paddings.forEach(([b, a], axis) => {
      if (b === 0 && a === 0) return;
      const dim = y.shape[axis];
      const idx = Int32Array.from({ length: dim + b + a }, (_, c) => sourceCoord(c, b, dim, mode));
      y = tf.gather(y, tf.tensor1d(idx, 'int32'), axis);
    });
    return [y];
  },
  grad({ dy: [dy], inputs: [x], attrs: { paddings, mode } }) {
    if (!dy) return [undefined];
    if (mode === 'constant') {
      return [
        slice(
          dy,
          paddings.map(([b]) => b),
          x!.shape,
        ),
      ];
    }
    // Each padded axis of a reflect/edge pad is a gather of source coordinates; its adjoint is a
    // scatter-add of the same coordinates (last axis first, mirroring the forward order).
    return [
      tidy(() => {
        let g = dy;
        for (let axis = x!.shape.length - 1; axis >= 0; axis--) {
          const [b, a] = paddings[axis]!;
          if (b === 0 && a === 0) continue;
          const dim = x!.shape[axis]!;
          const idx = Int32Array.from({ length: dim + b + a }, (_, c) => sourceCoord(c, b, dim, mode));
          const ids = tensor(idx, [idx.length], { backend: dy.backend });
          g = scatterAdd(
            g.shape.map((d, i) => (i === axis ? dim : d)),
            ids,
            g,
            axis,
          );
        }
        return g;
      }),
    ];
  },
};

/**
 * Pads each axis of `x` with `paddings[axis] = [before, after]` elements. `mode` 'constant' fills
 * with `value` (a number x's dtype holds: an integer for i32 and u32, 0 or 1 for bool); 'reflect'
 * mirrors without repeating the edge (`[1, 2, 3]` padded by 2 on the left is `[3, 2, 1, 2, 3]`,
 * padding must be smaller than the axis); 'edge' repeats the edge element.
 *
 * @example
 * ```ts
 * const padded = pad(image, [[0, 0], [0, 0], [1, 1], [1, 1]]); // [N, C, H, W] -> [N, C, H+2, W+2]
 * ```
 */
export function pad(
  x: Tensor,
  paddings: readonly (readonly [number, number])[],
  value = 0,
  mode: PadMode = 'constant',
): Tensor {
  const isPair = (p: unknown) => Array.isArray(p) && p.length === 2;
  if (!Array.isArray(paddings) || !paddings.every(isPair)) {
    const rank = Array.isArray(x?.shape) ? x.shape.length : undefined;
    const example =
      rank === undefined
        ? ''
        : ` (x ${x.describe()} needs ${rank}, e.g. ${JSON.stringify(x.shape.map(() => [0, 1]))})`;
    throw new TypeError(
      `pad: paddings must be an array of one [before, after] pair per axis${example}, got ${showValue(paddings)}`,
    );
  }
  return run1(padKernel, [x], { paddings: paddings.map(([b, a]) => [b, a] as const), value, mode });
}
