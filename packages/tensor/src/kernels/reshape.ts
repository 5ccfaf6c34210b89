// reshape and its helpers (flatten, squeeze, unsqueeze/expandDims): views that share the input's
// buffer (the engine reference-counts it), so they cost no backend work on any backend.
import type { TensorInfo } from '../backend.js';
import { checkTensor } from '../checkTensor.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { formatShape, normAxis, type Shape, showValue, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';

interface ReshapeAttrs {
  /** The target shape, with any -1 already resolved. */
  readonly shape: Shape;
}

/**
 * @internal Throws a TypeError naming `op` and the argument `what` unless `value` is an array of
 * integers (a shape, perm, begin or size); ranges are left to the op.
 */
export function assertIntegers(value: unknown, op: string, what: string): asserts value is readonly number[] {
  if (!Array.isArray(value))
    throw new TypeError(`${op}: ${what} must be an array of integers, got ${showValue(value)}`);
  const bad = value.findIndex((d) => !Number.isInteger(d));
  if (bad >= 0) {
    throw new TypeError(
      `${op}: ${what} must be an array of integers, got ${showValue(value)} (entry ${bad} is ${showValue(value[bad])})`,
    );
  }
}

/** Resolves one -1 in `shape` against `size` elements; throws naming both shapes. */
function resolveShape(from: Shape, shape: readonly number[], op: string): number[] {
  const unknown = shape.filter((d) => d === -1).length;
  const bad = shape.find((d) => !Number.isInteger(d) || d < -1);
  if (unknown > 1 || bad !== undefined) {
    throw new RangeError(
      `${op}: target shape ${formatShape(shape)} is invalid (${bad !== undefined ? `dimension ${bad}` : 'more than one -1'})`,
    );
  }
  const size = sizeOf(from);
  const known = shape.reduce((n, d) => (d === -1 ? n : n * d), 1);
  if (unknown === 1) {
    if (known === 0 || size % known !== 0) {
      throw new RangeError(
        `${op}: cannot reshape x of shape ${formatShape(from)} (${size} elements) to ${formatShape(shape)}`,
      );
    }
    return shape.map((d) => (d === -1 ? size / known : d));
  }
  if (known !== size) {
    throw new RangeError(
      `${op}: cannot reshape x of shape ${formatShape(from)} (${size} elements) to ${formatShape(shape)} (${known} elements)`,
    );
  }
  return [...shape];
}

export const reshapeKernel: Kernel<ReshapeAttrs> = {
  name: 'reshape',
  aliasInput: 0,
  infer([x], { shape }): TensorInfo[] {
    return [{ shape: resolveShape(x!.shape, shape, 'reshape'), dtype: x!.dtype }];
  },
  // Never called by the engine for an alias kernel; kept as the obviously-correct reference.
  cpu([x]) {
    return [x!.data.slice()];
  },
  grad({ dy: [dy], inputs: [x] }) {
    return [dy && reshape(dy, x!.shape)];
  },
};

/**
 * A view of `x` with another shape and the same elements in the same order; one dimension may be
 * -1 (inferred). No data is copied.
 *
 * @example
 * ```ts
 * const q = reshape(x, [B, T, H, -1]); // [B, T, C] -> [B, T, H, D]
 * ```
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor(x, 'reshape', 'x');
  assertIntegers(shape, 'reshape', 'shape');
  return run1(reshapeKernel, [x], { shape: resolveShape(x.shape, shape, 'reshape') });
}

/**
 * Merges axes `startAxis..endAxis` (inclusive, default all) into one; a view.
 *
 * @example
 * ```ts
 * const tokens = flatten(patches, 2); // [N, C, H, W] -> [N, C, H*W]
 * ```
 */
export function flatten(x: Tensor, startAxis = 0, endAxis = -1): Tensor {
  checkTensor(x, 'flatten', 'x');
  if (x.rank === 0) return reshape(x, [1]);
  const s = normAxis(startAxis, x.rank, 'flatten');
  const e = normAxis(endAxis, x.rank, 'flatten');
  if (e < s)
    throw new RangeError(
      `flatten: endAxis ${endAxis} comes before startAxis ${startAxis} (x has shape ${formatShape(x.shape)})`,
    );
  const merged = x.shape.slice(s, e + 1).reduce((n, d) => n * d, 1);
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/**
 * Removes the given size-1 axes (default: every size-1 axis); a view.
 *
 * @example
 * ```ts
 * const logits = squeeze(scores, [1]); // [B, 1, V] -> [B, V]
 * ```
 */
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  checkTensor(x, 'squeeze', 'x');
  if (axes !== undefined && typeof axes !== 'number' && !Array.isArray(axes)) {
    throw new TypeError(
      `squeeze: axes must be an integer or an array of integers (or undefined for every size-1 axis), got ${showValue(axes)}`,
    );
  }
  const list =
    axes === undefined
      ? undefined
      : (typeof axes === 'number' ? [axes] : axes).map((a) => normAxis(a, x.rank, 'squeeze'));
  for (const a of list ?? []) {
    if (x.shape[a] !== 1)
      throw new RangeError(
        `squeeze: axis ${a} of x (shape ${formatShape(x.shape)}) has size ${x.shape[a]}, not 1`,
      );
  }
  return reshape(
    x,
    x.shape.filter((d, i) => (list ? !list.includes(i) : d !== 1)),
  );
}

/**
 * Inserts a size-1 axis at `axis` (negative counts from the end of the result); a view.
 *
 * @example
 * ```ts
 * const column = unsqueeze(bias, 1); // [O] -> [O, 1]
 * ```
 */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  return insertAxis(x, axis, 'unsqueeze');
}

/**
 * Same as {@link unsqueeze} (the TensorFlow name).
 *
 * @example
 * ```ts
 * const batch = expandDims(image, 0); // [C, H, W] -> [1, C, H, W]
 * ```
 */
export function expandDims(x: Tensor, axis: number): Tensor {
  return insertAxis(x, axis, 'expandDims');
}

/** unsqueeze under either of its names (`op`, for errors). */
function insertAxis(x: Tensor, axis: number, op: string): Tensor {
  checkTensor(x, op, 'x');
  const a = normAxis(axis, x.rank + 1, op);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}
