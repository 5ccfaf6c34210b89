// Node only: imported by the Node entry alone (index.node.ts hands it to the loaders, io/nodeIo.ts).
import { open } from 'node:fs/promises';
import { allocateBytes, type ByteSource } from '../ByteSource.js';
import { localPath } from './localPath.js';

// One read call at most this long: large enough that per-call overhead vanishes.
const CHUNK_BYTES = 64 * 1024 * 1024;

/** Opens a file (a path or a `file:` URL) for reads at any offset. */
export async function openLocalFile(path: string | URL): Promise<ByteSource> {
  const filePath = localPath(path);
  const handle = await open(filePath, 'r');
  let size: number;
  try {
    const stat = await handle.stat();
    if (stat.isDirectory())
      throw new Error(
        `loadSafetensors(): ${filePath} is a folder; give the .safetensors file in it (or its index.json)`,
      );
    size = stat.size;
  } catch (e) {
    await handle.close();
    throw e;
  }
  let closed: Promise<void> | undefined;
  return {
    size,
    async read(offset, length) {
      const out = allocateBytes(length, `${filePath} (a piece of it)`);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(
          out,
          done,
          Math.min(CHUNK_BYTES, length - done),
          offset + done,
        );
        if (bytesRead === 0)
          throw new Error(
            `loadSafetensors(): ${filePath} shrank while it was read (ends before byte ${offset + length} of ${size})`,
          );
        done += bytesRead;
      }
      return out;
    },
    close: () => (closed ??= handle.close()),
  };
}
