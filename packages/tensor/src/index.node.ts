// The Node entry: the browser entry's API with Dawn (the `webgpu` package) wired into
// createBackend. `export *` keeps the two entries' APIs identical by construction; the explicit
// export below takes precedence over the star export's createBackend.
export * from './index.js';
export { createBackend } from './node/createBackend.js';
