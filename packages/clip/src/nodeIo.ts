// The Node-only pieces of @vl/clip (decoding image files with pngjs / libjpeg-turbo, reading and
// gunzipping the vocabulary file). The Node entry (index.node.ts) hands them over at import; code
// that reaches the browser entry in Node (a test, say) loads them through a specifier held in a
// variable. Either way no bundler follows a path from the browser entry to node: modules.
import type { decodeImageBytes, decodeImageFile } from './image/node/decodeImageFile.js';
import type { gunzipBytes, readFileBytes } from './tokenizer/node/readFileBytes.js';

/** What the Node entry provides. */
export interface NodeIo {
  decodeImageFile: typeof decodeImageFile;
  decodeImageBytes: typeof decodeImageBytes;
  readFileBytes: typeof readFileBytes;
  gunzipBytes: typeof gunzipBytes;
}

let provided: NodeIo | undefined;

/** Called by the Node entry. */
export function provideNodeIo(io: NodeIo): void {
  provided = io;
}

/** The Node-only pieces (call only where Node's file system is reachable). */
export async function nodeIo(): Promise<NodeIo> {
  if (provided) return provided;
  const hidden = (specifier: string) => import(/* @vite-ignore */ specifier);
  const [images, files] = await Promise.all([
    hidden('./image/node/decodeImageFile.js'),
    hidden('./tokenizer/node/readFileBytes.js'),
  ]);
  provided = {
    decodeImageFile: images.decodeImageFile,
    decodeImageBytes: images.decodeImageBytes,
    readFileBytes: files.readFileBytes,
    gunzipBytes: files.gunzipBytes,
  };
  return provided;
}
