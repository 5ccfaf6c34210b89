/**
 * The size an image is resized to when its shorter side becomes `size` and the aspect ratio is kept,
 * by Hugging Face's rule (`get_resize_output_image_size(..., default_to_square=False)`, as
 * `CLIPImageProcessor` uses it): the long side is `int(size * long / short)`, truncated.
 *
 * @example
 * ```ts
 * shortestEdgeSize(640, 427, 224); // { width: 335, height: 224 }
 * ```
 */
export function shortestEdgeSize(
  width: number,
  height: number,
  size: number,
): { width: number; height: number } {
  if (!Number.isInteger(size) || size <= 0) {
    throw new RangeError(`shortestEdgeSize(): size must be a positive integer, got ${size}`);
  }
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}
