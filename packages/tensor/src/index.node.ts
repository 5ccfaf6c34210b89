// The Node entry: the browser entry's API with Dawn (the `webgpu` package) wired into
// createBackend and the file system into the loaders. `export *` keeps the two entries' APIs identical by construction; the explicit
// export below takes precedence over the star export's createBackend.
import { fileCache } from './io/node/fileCache.js';
import { localPath, resolveSibling } from './io/node/localPath.js';
import { openLocalFile } from './io/node/openLocalFile.js';
import { writeFileAtomic } from './io/node/writeFileAtomic.js';
import { writeFileSet } from './io/node/writeFileSet.js';
import { provideNodeIo } from './io/nodeIo.js';

export * from './index.js';
export { createBackend } from './node/createBackend.js';

// The loaders' file-system pieces: only this entry imports them (see io/nodeIo.ts).
provideNodeIo({ fileCache, localPath, openLocalFile, resolveSibling, writeFileAtomic, writeFileSet });
