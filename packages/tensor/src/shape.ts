/** A tensor's shape: one non-negative integer per axis. */
export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function assertShape(shape: unknown, what: string): number[] {
  if (!Array.isArray(shape))
    throw new TypeError(`${what}: shape must be an array of integers, got ${String(shape)}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`${what}: shape ${JSON.stringify(shape)} has an invalid dimension ${String(d)}`);
    }
  }
  return [...shape];
}

/** Row-major strides of `shape`. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** A value for an error message: strings quoted, other values as written, with their type. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (a string)`;
  if (value === null || value === undefined || typeof value === 'number') return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) {
    try {
      return JSON.stringify(value);
    } catch {
      return 'an array';
    }
  }
  if (typeof value === 'object') {
    const describe = (value as { describe?: unknown }).describe;
    if (typeof describe === 'function') return `a tensor ${String(describe.call(value))}`;
    const name: string = value.constructor?.name ?? 'Object';
    if (name === 'Object') {
      try {
        return JSON.stringify(value);
      } catch {
        return 'an object';
      }
    }
    return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
  }
  return `${String(value)} (a ${typeof value})`;
}

/**
 * Normalizes a possibly negative axis; throws naming the op when it is not an integer, and the
 * rank when it is out of range.
 */
export function normAxis(axis: number, rank: number, op: string): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis)) {
    throw new TypeError(`${op}: axis must be an integer, got ${showValue(axis)}`);
  }
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    throw new RangeError(`${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}

/** NumPy broadcasting of two shapes; throws naming both shapes. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(
        `${op}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides for reading an input of shape `inShape` at the indexes of `outShape` under broadcasting:
 * 0 on broadcast axes. Length equals `outShape.length`.
 */
export function broadcastStrides(inShape: Shape, outShape: Shape): number[] {
  const strides = stridesOf(inShape);
  const out = new Array<number>(outShape.length).fill(0);
  const off = outShape.length - inShape.length;
  for (let i = 0; i < inShape.length; i++) out[off + i] = inShape[i] === 1 ? 0 : strides[i]!;
  return out;
}
