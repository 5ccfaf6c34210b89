// The Node entry: the browser entry's API; `export *` keeps the two entries' APIs identical by
// construction.
export * from './index.js';
