// The Node entry: the browser entry's API plus Node-only image decoding; `export *` keeps the two
// entries' APIs identical by construction.
import { decodeImageBytes, decodeImageFile } from './image/node/decodeImageFile.js';
import { provideNodeIo } from './nodeIo.js';
import { gunzipBytes, readFileBytes } from './tokenizer/node/readFileBytes.js';

export * from './index.js';

// Statically here (a Node bundle includes them), never from the browser entry (see nodeIo.ts).
provideNodeIo({ decodeImageBytes, decodeImageFile, gunzipBytes, readFileBytes });
