// Node only: imported by the Node entry alone (index.node.ts hands it to the loaders, io/nodeIo.ts).
import { randomBytes } from 'node:crypto';

/**
 * The temporary name a file is written under before it is renamed into place:
 * `<path>.<pid>-<8 hex>.partial` (sweepPartials reads the pid back).
 */
export function partialPath(path: string): string {
  return `${path}.${process.pid}-${randomBytes(4).toString('hex')}.partial`;
}
