// Reading a browser image's pixels as they are in the file. A 2D canvas stores premultiplied alpha,
// so drawing an image on one and reading it back loses the colour of transparent pixels (a
// logo's transparent white becomes black) and shifts semi-transparent ones, where Pillow and the
// Node decoders keep them. A WebGL2 texture uploaded without premultiplication or colour
// conversion, read back through a framebuffer, returns the decoded bytes unchanged.
import { sizeProblem } from './limits.js';
import type { DrawableImage } from './toRgbImage.js';

/** Throws for an image of no pixels or over the decompression-bomb limit, before any buffer. */
export function checkImageSize(width: number, height: number, what: string): void {
  const problem = sizeProblem(width, height);
  if (problem) throw new RangeError(`${what}: ${problem}`);
}

function readWithWebGl(source: DrawableImage, width: number, height: number): Uint8Array | undefined {
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2', { premultipliedAlpha: false });
  if (!gl) return undefined;
  try {
    const limit = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    if (width > limit || height > limit) return undefined;
    const texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, source);
    gl.bindFramebuffer(gl.FRAMEBUFFER, gl.createFramebuffer());
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return undefined;
    const out = new Uint8Array(width * height * 4);
    // Row 0 of the framebuffer is the texture's first row, the image's top one (no flip on upload).
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, out);
    return gl.getError() === gl.NO_ERROR ? out : undefined;
  } finally {
    gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

/**
 * The RGBA bytes of a browser image of `width` x `height`: through WebGL2 where the browser has
 * it (unpremultiplied, exact), else through a 2D canvas (premultiplied: transparent pixels lose
 * their colour).
 */
export function readPixels(
  source: DrawableImage,
  width: number,
  height: number,
  what: string,
): Uint8Array | Uint8ClampedArray {
  checkImageSize(width, height, what);
  if (typeof OffscreenCanvas === 'undefined') {
    throw new TypeError(`${what}: reading a browser image needs OffscreenCanvas (a browser or a worker)`);
  }
  const exact = readWithWebGl(source, width, height);
  if (exact) return exact;
  const context = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error(`${what}: could not get a 2d context to read the image`);
  context.drawImage(source, 0, 0);
  return context.getImageData(0, 0, width, height).data;
}
