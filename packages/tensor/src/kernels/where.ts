// where(cond, a, b): picks from `a` where `cond` is true and from `b` elsewhere, broadcasting all
// three together.
import type { TensorInfo } from '../backend.js';
import { checkTensor } from '../checkTensor.js';
import { full } from '../create.js';
import { allocArray } from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel, TfjsTensor } from '../kernel.js';
import { broadcastShapes, formatShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { assertRank, broadcastOffsets, dispatchElementwise } from './elementwise.js';
import { sumToShape } from './sumToShape.js';

/** @internal The kernel behind {@link where}. */
export const whereKernel: Kernel<Record<string, never>> = {
  name: 'where',
  infer([cond, a, b]): TensorInfo[] {
    if (cond!.dtype !== 'bool') {
      throw new TypeError(
        `where: cond must be bool, got ${cond!.dtype}${formatShape(cond!.shape)}; compare() makes one`,
      );
    }
    if (a!.dtype !== b!.dtype) {
      throw new TypeError(
        `where: a and b must have the same dtype, got ${a!.dtype}${formatShape(a!.shape)} and ${b!.dtype}${formatShape(b!.shape)}`,
      );
    }
    if (a!.dtype === 'f16' || a!.dtype === 'bf16')
      throw new TypeError(`where: ${a!.dtype} is a storage dtype; cast to f32 first`);
    for (const t of [cond!, a!, b!]) assertRank(t, 'where');
    const ab = broadcastShapes(a!.shape, b!.shape, 'where (a and b)');
    let shape: number[];
    try {
      shape = broadcastShapes(cond!.shape, ab, 'where');
    } catch {
      throw new RangeError(
        `where: cond ${formatShape(cond!.shape)}, a ${formatShape(a!.shape)} and b ${formatShape(b!.shape)} cannot be broadcast together`,
      );
    }
    return [{ shape, dtype: a!.dtype }];
  },
  cpu([cond, a, b], _attrs, [out]) {
    const size = out!.shape.reduce((x, y) => x * y, 1);
    const result = allocArray(out!.dtype, size);
    const co = broadcastOffsets(cond!.shape, out!.shape);
    const ao = broadcastOffsets(a!.shape, out!.shape);
    const bo = broadcastOffsets(b!.shape, out!.shape);
    for (let i = 0; i < size; i++) {
      result[i] = cond!.data[co ? co[i]! : i] ? a!.data[ao ? ao[i]! : i]! : b!.data[bo ? bo[i]! : i]!;
    }
    return [result];
  },
  webgpu(ctx, [cond, a, b], [out]) {
    // dispatchElementwise names its inputs a, b, c: here cond, a, b.
    dispatchElementwise(ctx, 'where', [cond!, a!, b!], out!, 'select(c, b, a != 0u)');
  },
  tfjs(tf, [cond, a, b], _attrs, [out]) {
    const shape = [...out!.shape];
    // tfjs-wasm's select misreads bool operands: pick between int32 copies and test `!= 0` after
    // (its cast to bool keeps the low byte rather than testing).
    const bool = out!.dtype === 'bool';
    const operand = (x: TfjsTensor) => tf.broadcastTo(bool ? tf.cast(x, 'int32') : x, shape);
    const r = tf.where(tf.broadcastTo(cond, shape), operand(a), operand(b));
    return [bool ? tf.notEqual(r, 0) : r];
  },
  grad({ dy: [dy], inputs: [cond, a, b] }) {
    if (!dy || a!.dtype !== 'f32') return [undefined, undefined, undefined];
    const zero = full([], 0, { backend: dy.backend });
    return [
      undefined,
      sumToShape(where(cond!, dy, zero), a!.shape),
      sumToShape(where(cond!, zero, dy), b!.shape),
    ];
  },
};

/**
 * `cond ? a : b` elementwise; `cond` is bool, `a` and `b` share a dtype, and all three broadcast
 * together. Gradients flow to `a` and `b`.
 *
 * @example
 * ```ts
 * const masked = where(causalMask, scores, negInf); // [B, H, T, T] from [T, T], [B, H, T, T], []
 * ```
 */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  checkTensor(cond, 'where', 'cond');
  checkTensor(a, 'where', 'a');
  checkTensor(b, 'where', 'b');
  return run1(whereKernel, [cond, a, b], {});
}
