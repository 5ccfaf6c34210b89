// Node only: imported by the Node entry alone (index.node.ts hands it to the loaders, io/nodeIo.ts).
import { open } from 'node:fs/promises';
import { abortError } from '../abortError.js';
import type { ReadContext } from '../SafetensorsProgress.js';
import { localPath } from './localPath.js';

// Large enough that the per-read overhead vanishes, small enough for smooth progress and prompt aborts.
const CHUNK_BYTES = 16 * 1024 * 1024;

/** Reads a whole file (a path or a `file:` URL) in chunks, with progress and abort between chunks. */
export async function readLocalFile(path: string | URL, context: ReadContext): Promise<Uint8Array> {
  const { signal, onProgress, file } = context;
  const filePath = localPath(path);
  if (signal?.aborted) throw abortError(`loadSafetensors(): reading ${filePath} was aborted`, signal);
  const handle = await open(filePath, 'r');
  try {
    const stat = await handle.stat();
    if (stat.isDirectory())
      throw new Error(
        `loadSafetensors(): ${filePath} is a folder; give the .safetensors file in it (or its index.json)`,
      );
    const { size } = stat;
    const out = new Uint8Array(size);
    let loaded = 0;
    while (loaded < size) {
      if (signal?.aborted) {
        throw abortError(
          `loadSafetensors(): reading ${filePath} was aborted after ${loaded} of ${size} bytes`,
          signal,
        );
      }
      const { bytesRead } = await handle.read(out, loaded, Math.min(CHUNK_BYTES, size - loaded), loaded);
      if (bytesRead === 0)
        throw new Error(
          `loadSafetensors(): ${filePath} shrank while it was read (${loaded} of ${size} bytes)`,
        );
      loaded += bytesRead;
      onProgress?.({ file, loaded, total: size });
    }
    if (size === 0) onProgress?.({ file, loaded: 0, total: 0 });
    return out;
  } finally {
    await handle.close();
  }
}
