// JPEG decoding with libjpeg-turbo compiled to WebAssembly (@cornerstonejs/codec-libjpeg-turbo-8bit),
// the library Pillow decodes with: the same accurate integer IDCT, "fancy" chroma upsampling and
// colour conversion, so decoded photos equal Pillow's byte for byte (jpeg-js's replicated chroma
// put 4:2:0 photos up to 18 levels off). Node only, like the rest of this folder.
//
// The module is instantiated synchronously (the loader's instantiateWasm hook), so decoding stays
// synchronous. A throw out of the WebAssembly leaks its stack (hundreds of failed decodes in one
// instance run it out of memory), and memory grown for a huge image is never returned: after an
// error or such an image the instance is dropped and the next decode starts a fresh one (~6 ms).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const PACKAGE = '@cornerstonejs/codec-libjpeg-turbo-8bit';
/** Pixels past which an instance is dropped after decoding, to give its grown memory back. */
const KEEP_MEMORY_UP_TO = 16e6;

interface DecoderInstance {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; componentCount: number };
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}

interface Codec {
  JPEGDecoder: new () => DecoderInstance;
  HEAPU8: Uint8Array;
  HEAPU32: Uint32Array;
}

let compiled: WebAssembly.Module | undefined;
let codec: Codec | undefined;

function instantiate(): Codec {
  compiled ??= new WebAssembly.Module(readFileSync(require.resolve(`${PACKAGE}/decodewasm`)));
  const module = compiled;
  const factory = require(`${PACKAGE}/decodewasmjs`) as (m: object) => Promise<unknown>;
  const m: Record<string, unknown> = {
    instantiateWasm(
      imports: WebAssembly.Imports,
      receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void,
    ) {
      const instance = new WebAssembly.Instance(module, imports);
      receive(instance, module);
      return instance.exports;
    },
    print() {},
    printErr() {},
  };
  factory(m).catch(() => {}); // its start-up completes synchronously with the hook above
  if (typeof m.JPEGDecoder !== 'function') throw new Error(`${PACKAGE} did not start synchronously`);
  return m as unknown as Codec;
}

/** The C message behind a thrown pointer (the library throws `const char *`). */
function messageOf(c: Codec, e: unknown): string {
  if (typeof e !== 'number') return String(e);
  const at = c.HEAPU32[e >> 2]!;
  const end = c.HEAPU8.indexOf(0, at);
  const text = new TextDecoder().decode(c.HEAPU8.subarray(at, end > at ? Math.min(end, at + 200) : at));
  return text.replace(/^~+|\s+$/g, '');
}

/**
 * Decodes a 1- or 3-component JPEG to 8-bit RGB as Pillow's `convert('RGB')` does. Throws on
 * anything libjpeg reports, warnings about corrupt data included (the caller may try another
 * decoder); 4-component (CMYK) files are refused here.
 */
export function decodeJpegTurbo(bytes: Uint8Array): { data: Uint8Array; width: number; height: number } {
  const c = (codec ??= instantiate());
  const decoder = new c.JPEGDecoder();
  let drop = false;
  try {
    decoder.getEncodedBuffer(bytes.length).set(bytes);
    decoder.decode();
    const { width, height, componentCount } = decoder.getFrameInfo();
    const out = decoder.getDecodedBuffer(); // a view of the module's memory
    if (width * height > KEEP_MEMORY_UP_TO) drop = true;
    if (componentCount === 3) return { data: out.slice(), width, height };
    if (componentCount !== 1) throw new Error(`${componentCount} components`);
    const data = new Uint8Array(width * height * 3); // gray, as convert('RGB') spreads it
    for (let i = 0; i < width * height; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = out[i]!;
    return { data, width, height };
  } catch (e) {
    drop = true;
    throw new Error(`libjpeg-turbo: ${messageOf(c, e)}`, { cause: e });
  } finally {
    decoder.delete();
    if (drop) codec = undefined;
  }
}
