// The Node entry: the same API as the browser entry (loading from a path works through @vl/tensor's
// own Node entry); `export *` keeps the two entries' APIs identical by construction.
export * from './index.js';
