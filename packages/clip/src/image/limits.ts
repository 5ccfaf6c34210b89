/**
 * The most pixels an image may have on the way in (decoded) or out (resized or cropped): Pillow's
 * decompression-bomb limit, which refuses images over twice its MAX_IMAGE_PIXELS (89,478,485).
 */
export const MAX_PIXELS = 2 * 89_478_485;

/** What is wrong with an image of this size (none, or over MAX_PIXELS), if anything. */
export function sizeProblem(width: number, height: number): string | undefined {
  if (width === 0 || height === 0) return `the image is ${width}x${height}: it has no pixels`;
  if (width * height > MAX_PIXELS)
    return `the image is ${width}x${height} (${Math.round((width * height) / 1e6)} megapixels), over the ${Math.round(MAX_PIXELS / 1e6)} megapixels decoded at most (Pillow's decompression-bomb limit)`;
  return undefined;
}
