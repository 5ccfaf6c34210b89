import { expect } from 'vitest';
import type { TypedArray } from '../../src/index.node.js';

/** Max absolute difference; NaN and infinities must match exactly. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return Number.POSITIVE_INFINITY;
      continue;
    }
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (x !== y) return Number.POSITIVE_INFINITY;
      continue;
    }
    m = Math.max(m, Math.abs(x - y));
  }
  return m;
}

/** Asserts `actual` is within `atol + rtol * |expected|` of `expected`, elementwise, with a useful message. */
export function expectClose(
  actual: TypedArray,
  expected: TypedArray,
  atol: number,
  what: string,
  rtol = 0,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const x = actual[i]!;
    const y = expected[i]!;
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (x === y) continue;
    const tol = atol + rtol * Math.abs(y);
    if (!(Math.abs(x - y) <= tol)) {
      expect.fail(
        `${what}: element ${i} is ${x}, expected ${y} (tolerance ${tol}; max abs diff ${maxAbsDiff(actual, expected)})`,
      );
    }
  }
}
