// The optimizer state a stopped `vl train` run leaves beside its weights, so that `--resume` can
// continue the run exactly (the same steps, schedules and noise as a run that did not stop).
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError } from '../io.js';
import { writeWhole } from '../writeWhole.js';

/** The file a stopped run's optimizer state goes to, in its `--out` folder. */
export const OPTIMIZER_STATE_FILE = 'optimizer.safetensors';

/** The stopped run's optimizer state in `folder` (`shown` as the user gave it), or a CliError. */
export async function readOptimizerState(folder: string, shown: string): Promise<Uint8Array> {
  try {
    return await readFile(join(folder, OPTIMIZER_STATE_FILE));
  } catch (e) {
    throw new CliError(
      `--resume ${shown}: cannot read its ${OPTIMIZER_STATE_FILE} (${(e as Error).message}); a run stopped with Ctrl-C writes it`,
      2,
    );
  }
}

/** Removes the optimizer state an earlier stop left in `out`: it goes with weights about to be replaced. */
export async function removeOptimizerState(out: string): Promise<void> {
  await rm(join(out, OPTIMIZER_STATE_FILE), { force: true });
}

/**
 * Writes a stopped run's optimizer state into `out`, last of the folder's files (after its weights
 * and training.json) and whole or not at all (a temporary file renamed into place): a state file
 * in a folder always belongs to the weights and record beside it.
 */
export async function writeOptimizerState(out: string, state: Uint8Array): Promise<void> {
  await writeWhole(join(out, OPTIMIZER_STATE_FILE), state);
}
