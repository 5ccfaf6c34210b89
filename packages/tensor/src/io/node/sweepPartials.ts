// Node only: imported by the Node entry alone (index.node.ts hands it to the loaders, io/nodeIo.ts).
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

// `<entry>.<pid>-<8 hex>.partial`, the names partialPath gives.
const PARTIAL = /\.(\d+)-[0-9a-f]{8}\.partial$/;
const WEEK_MS = 7 * 24 * 3600 * 1000;
const swept = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/**
 * Deletes the temporary files of downloads that died with their process (an interrupt, a crash):
 * each one's process is gone, or it is a week old. Once per folder per process; best effort.
 */
export async function sweepPartials(dir: string): Promise<void> {
  if (swept.has(dir)) return;
  swept.add(dir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const now = Date.now();
  await Promise.all(
    names.map(async (name) => {
      const match = PARTIAL.exec(name);
      if (!match) return;
      const path = join(dir, name);
      try {
        const pid = Number(match[1]);
        if (pid !== process.pid && (!alive(pid) || now - (await stat(path)).mtimeMs > WEEK_MS))
          await rm(path, { force: true });
      } catch {
        // Gone already, or not ours to delete.
      }
    }),
  );
}
