// Node only: imported by the Node entry alone (index.node.ts hands it to the loaders, io/nodeIo.ts).
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A file-system path from a path or a `file:` URL. */
export function localPath(path: string | URL): string {
  return typeof path === 'string' ? path : fileURLToPath(path);
}

/** `name` resolved against the folder that holds `file` (how shards sit next to their index). */
export function resolveSibling(file: string | URL, name: string): string {
  return resolve(dirname(localPath(file)), name);
}
