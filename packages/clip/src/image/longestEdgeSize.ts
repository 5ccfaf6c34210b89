import { roundHalfEven } from './roundHalfEven.js';

/**
 * The size an image is resized to when its longer side becomes `size` and the aspect ratio is kept,
 * by open_clip's rule (`ResizeKeepRatio(size, longest=1)`, its `resize_mode: 'longest'`): each side
 * divided by `max(height, width) / size`, rounded half to even as Python's `round` does.
 *
 * @example
 * ```ts
 * longestEdgeSize(640, 427, 224); // { width: 224, height: 149 }
 * ```
 */
export function longestEdgeSize(
  width: number,
  height: number,
  size: number,
): { width: number; height: number } {
  if (!Number.isInteger(size) || size <= 0) {
    throw new RangeError(`longestEdgeSize(): size must be a positive integer, got ${size}`);
  }
  const ratio = Math.max(height / size, width / size);
  return {
    width: Math.max(1, roundHalfEven(width / ratio)),
    height: Math.max(1, roundHalfEven(height / ratio)),
  };
}
