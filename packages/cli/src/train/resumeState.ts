// The optimizer state a stopped `vl train` run leaves beside its weights, so that `--resume` can
// continue the run exactly (the same steps, schedules and noise as a run that did not stop).
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError } from '../io.js';

/** The file a stopped run's optimizer state goes to, in its `--out` folder. */
export const OPTIMIZER_STATE_FILE = 'optimizer.safetensors';

/** The stopped run's optimizer state in `folder`, or a CliError saying it has none. */
export async function readOptimizerState(folder: string): Promise<Uint8Array> {
  try {
    return await readFile(join(folder, OPTIMIZER_STATE_FILE));
  } catch (e) {
    throw new CliError(
      `--resume ${folder}: cannot read its ${OPTIMIZER_STATE_FILE} (${(e as Error).message}); a run stopped with Ctrl-C writes it`,
      2,
    );
  }
}

/**
 * Writes a stopped run's optimizer state into `out`, or, for a run that finished (`state`
 * undefined), removes one an earlier stop left there: it belongs to weights that are gone.
 */
export async function writeOptimizerState(out: string, state: Uint8Array | undefined): Promise<void> {
  const file = join(out, OPTIMIZER_STATE_FILE);
  if (state) await writeFile(file, state);
  else await rm(file, { force: true });
}
