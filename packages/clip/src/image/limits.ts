/**
 * The most pixels an image may have on the way in (decoded) or out (resized or cropped): Pillow's
 * decompression-bomb limit, which refuses images over twice its MAX_IMAGE_PIXELS (89,478,485).
 */
export const MAX_PIXELS = 2 * 89_478_485;
