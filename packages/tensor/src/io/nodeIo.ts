// The Node file-system pieces of the loaders (reading and writing files, the download cache folder).
// The Node entry (index.node.ts) hands them over at import; the browser entry never references
// them, so no bundler follows a path to node:fs / node:path into a browser bundle.
import type { fileCache } from './node/fileCache.js';
import type { localPath, resolveSibling } from './node/localPath.js';
import type { openLocalFile } from './node/openLocalFile.js';
import type { writeFileAtomic } from './node/writeFileAtomic.js';
import type { writeFileSet } from './node/writeFileSet.js';

/** What the Node entry provides. */
export interface NodeIo {
  openLocalFile: typeof openLocalFile;
  fileCache: typeof fileCache;
  localPath: typeof localPath;
  resolveSibling: typeof resolveSibling;
  writeFileAtomic: typeof writeFileAtomic;
  writeFileSet: typeof writeFileSet;
}

let provided: NodeIo | undefined;

/** Called by the Node entry. */
export function provideNodeIo(io: NodeIo): void {
  provided = io;
}

/** The Node file system when the Node entry provided it. */
export function optionalNodeIo(): NodeIo | undefined {
  return provided;
}

/** The Node file system, or an error naming `what` needed it. */
export function nodeIo(what: string): NodeIo {
  if (!provided) {
    throw new Error(
      `${what} needs Node's file system, which this build of @vl/tensor does not include: in Node, import the package by name (its "node" export)`,
    );
  }
  return provided;
}
