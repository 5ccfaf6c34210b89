// Browsers apply a JPEG's (or PNG's) EXIF orientation when they decode it, and this Chromium does
// so even when createImageBitmap is asked not to; Pillow and the Node decoders do not, and neither
// does CLIP's preprocessing in Python. So the browser's rotation is undone: the tag is read from the
// file's first bytes and its inverse applied to the decoded pixels.

/** Reads a TIFF IFD0's Orientation (tag 0x0112) from `tiff`, the bytes after "Exif\0\0". */
function tiffOrientation(tiff: DataView): number {
  if (tiff.byteLength < 8) return 1;
  const order = tiff.getUint16(0);
  if (order !== 0x4949 && order !== 0x4d4d) return 1;
  const little = order === 0x4949;
  const ifd = tiff.getUint32(4, little);
  if (ifd + 2 > tiff.byteLength) return 1;
  const count = tiff.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const at = ifd + 2 + i * 12;
    if (at + 12 > tiff.byteLength) return 1;
    if (tiff.getUint16(at, little) === 0x0112) {
      const value = tiff.getUint16(at + 8, little);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

const EXIF = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"

/** The EXIF orientation (1-8, 1 = as stored) of a JPEG or PNG from its first bytes; 1 if none. */
export function readExifOrientation(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    // JPEG: the markers before the first scan; APP1 "Exif\0\0" holds a TIFF.
    let at = 2;
    while (at + 4 <= bytes.length && bytes[at] === 0xff) {
      const marker = bytes[at + 1]!;
      if (marker === 0xda || marker === 0xd9) break; // start of scan, end of image
      const length = view.getUint16(at + 2);
      if (marker === 0xe1 && EXIF.every((b, i) => bytes[at + 4 + i] === b)) {
        const start = at + 10;
        const end = Math.min(at + 2 + length, bytes.length);
        return tiffOrientation(
          new DataView(bytes.buffer, bytes.byteOffset + start, Math.max(0, end - start)),
        );
      }
      at += 2 + length;
    }
    return 1;
  }
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    // PNG: an eXIf chunk holds a TIFF.
    let at = 8;
    while (at + 8 <= bytes.length) {
      const length = view.getUint32(at);
      const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
      if (type === 'eXIf') {
        const end = Math.min(at + 8 + length, bytes.length);
        return tiffOrientation(
          new DataView(bytes.buffer, bytes.byteOffset + at + 8, Math.max(0, end - at - 8)),
        );
      }
      if (type === 'IDAT' || type === 'IEND') break;
      at += 12 + length;
    }
  }
  return 1;
}

/**
 * RGBA pixels as the file stores them, from pixels a browser displayed with EXIF `orientation`
 * applied (`width` x `height` are the displayed size).
 */
export function undoOrientation(
  data: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  orientation: number,
): { data: Uint8Array | Uint8ClampedArray; width: number; height: number } {
  if (orientation <= 1 || orientation > 8) return { data, width, height };
  const swapped = orientation >= 5; // 5-8 turn the image a quarter
  const W = swapped ? height : width; // the stored size
  const H = swapped ? width : height;
  const out = new Uint8Array(W * H * 4);
  // For each stored pixel (x, y), where the displayed image holds it.
  const from: (x: number, y: number) => number = {
    2: (x: number, y: number) => y * width + (W - 1 - x),
    3: (x: number, y: number) => (H - 1 - y) * width + (W - 1 - x),
    4: (x: number, y: number) => (H - 1 - y) * width + x,
    5: (x: number, y: number) => x * width + y,
    6: (x: number, y: number) => x * width + (H - 1 - y),
    7: (x: number, y: number) => (W - 1 - x) * width + (H - 1 - y),
    8: (x: number, y: number) => (W - 1 - x) * width + y,
  }[orientation]!;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const s = from(x, y) * 4;
      const d = (y * W + x) * 4;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
      out[d + 3] = data[s + 3]!;
    }
  }
  return { data: out, width: W, height: H };
}
