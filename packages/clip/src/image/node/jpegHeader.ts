// What a JPEG file's markers say before its first scan (the frame, JFIF, Adobe's transform), and
// what is wrong with it before any decoding: a frame type the decoder does not read, a size past
// Pillow's limit, or far too few bytes for the blocks the frame declares.

import { sizeProblem } from '../limits.js';

/** Whether `bytes` begins with `prefix`. */
export function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

/**
 * JPEG frame types by SOF marker (0xffc0 + n) that are not decoded (libjpeg-turbo reads the
 * arithmetic-coded ones, SOF9-11, as Pillow does; these it was not tested on, and jpeg-js reads none).
 */
const UNSUPPORTED_SOF: Record<number, string> = {
  3: 'lossless',
  5: 'hierarchical',
  6: 'hierarchical',
  7: 'hierarchical',
  13: 'hierarchical',
  14: 'hierarchical',
  15: 'hierarchical',
};

/** What the markers before a JPEG's first scan say, as far as the file goes. */
export interface JpegHeader {
  /** The frame header (SOFn); `truncated` when the file ends inside it. */
  frame?: {
    type: number;
    width: number;
    height: number;
    components: { id: number; h: number; v: number }[];
    truncated: boolean;
    /** Where the segment ends: the tables and the image data follow. */
    end: number;
  };
  jfif: boolean;
  adobeTransform?: number;
  /** Whether the markers ran to the end of the file, not to the first scan or to unreadable bytes. */
  ended: boolean;
}

export function readJpegHeader(bytes: Uint8Array): JpegHeader {
  const header: JpegHeader = { jfif: false, ended: false };
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return header; // not a marker where one should be: the decoder will say
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xda) return header; // the first scan
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const data = bytes.subarray(at + 4, at + 2 + length);
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof && !header.frame) {
      const count = data[5] ?? 0;
      const components = [];
      for (let i = 6; i + 3 <= data.length && components.length < count; i += 3)
        components.push({ id: data[i]!, h: data[i + 1]! >> 4, v: data[i + 1]! & 15 });
      header.frame = {
        type: marker - 0xc0,
        height: (data[1]! << 8) | data[2]!,
        width: (data[3]! << 8) | data[4]!,
        components,
        truncated: data.length < 6 || components.length < count,
        end: at + 2 + length,
      };
    } else if (marker === 0xe0 && startsWith(data, [0x4a, 0x46, 0x49, 0x46, 0])) header.jfif = true;
    else if (marker === 0xee && data.length >= 12 && startsWith(data, [0x41, 0x64, 0x6f, 0x62, 0x65]))
      header.adobeTransform = data[11]; // "Adobe", as libjpeg recognizes it
    at += 2 + length;
  }
  header.ended = true;
  return header;
}

/**
 * The fewest bytes of entropy-coded data a frame can take: Huffman coding spends at least one bit
 * on each 8x8 block's DC value (a progressive file's first scan) and, in a sequential file, one
 * more on its end of block (or its last coefficient). Counting blocks per component as libjpeg
 * does keeps this a lower bound for any sampling.
 */
function minScanBytes(frame: NonNullable<JpegHeader['frame']>): number {
  const maxH = Math.max(1, ...frame.components.map((c) => c.h));
  const maxV = Math.max(1, ...frame.components.map((c) => c.v));
  let blocks = 0;
  for (const { h, v } of frame.components)
    blocks += Math.ceil((frame.width * h) / (8 * maxH)) * Math.ceil((frame.height * v) / (8 * maxV));
  return Math.floor((blocks * (frame.type === 2 ? 1 : 2)) / 8);
}

/** What is wrong with a JPEG's frame header (its SOF segment), if anything. */
export function jpegHeaderProblem(bytes: Uint8Array, { frame, ended }: JpegHeader): string | undefined {
  if (!frame) return ended ? 'a truncated JPEG file (it ends before its frame header)' : undefined;
  const kind = UNSUPPORTED_SOF[frame.type];
  if (kind)
    return `${kind.startsWith('a') ? 'an' : 'a'} ${kind} JPEG (frame type SOF${frame.type}), which the decoder does not read; save it as a baseline or progressive JPEG, or as PNG`;
  if (frame.truncated) return 'a truncated JPEG file (it ends inside its frame header)';
  const count = frame.components.length;
  // CMYK goes to jpeg-js (the WebAssembly build gives no RGB of it), which reads no arithmetic coding.
  if (count === 4 && frame.type >= 9 && frame.type <= 11)
    return `an arithmetic-coded CMYK JPEG (frame type SOF${frame.type}), which the decoder does not read; save it with Huffman coding or as RGB`;
  if (count !== 1 && count !== 3 && count !== 4)
    return `a JPEG with ${count} color components, which neither this decoder nor Pillow reads (1, 3 or 4 are read)`;
  if (frame.height === 0) return undefined; // the height comes later (DNL): the decoder will check
  const problem = sizeProblem(frame.width, frame.height);
  if (problem) return problem;
  // A few KB declaring millions of pixels would have the decoder allocate and walk every block
  // (seconds and gigabytes) before failing; no valid file is that small.
  // Arithmetic coding can spend under a bit on a block, so no size follows from the frame: such a
  // file is decoded up to the pixel limit (as Pillow does).
  if (frame.type >= 9) return undefined;
  const needed = minScanBytes(frame);
  const found = bytes.length - frame.end;
  if (found < needed)
    return `a truncated JPEG file (its frame header declares ${frame.width}x${frame.height}, which takes at least ${needed} bytes of image data, but only ${found} bytes follow it)`;
  return undefined;
}
