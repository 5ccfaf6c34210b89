// The Node entry: the browser entry's API plus Node-only image decoding; `export *` keeps the two
// entries' APIs identical by construction.
export * from './index.js';
