// The Node entry: the browser entry's API plus PNG/JPEG coding and caption folders (pngjs, jpeg-js
// and node:fs). Unlike @vl/tensor, whose two entries have the same API, this one is a superset, so
// api-extractor reports this entry (api-extractor.json) and the report covers both.
export * from './index.js';
export type { CaptionPair, WriteShapesFolderOptions } from './node/captionFolder.js';
export { readCaptionFolder, writeShapesFolder } from './node/captionFolder.js';
export { decodeImage } from './node/decodeImage.js';
export type { RgbaImage } from './node/encodePng.js';
export { encodePng } from './node/encodePng.js';
