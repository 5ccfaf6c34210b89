import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CommandContext, OptionValues } from '../context.js';
import { CliError } from '../io.js';

/** What `vl train` writes to `training.json`: the options, the seconds taken, the held-out quality. */
export type TrainingRecord = {
  kind: string;
  data: string;
  seconds: number;
  heldOut?: object;
  [option: string]: unknown;
};

/** Writes `record` as the folder's `training.json`. */
export async function writeTrainingRecord(folder: string, record: TrainingRecord): Promise<void> {
  await writeFile(join(folder, 'training.json'), `${JSON.stringify(record, null, 2)}\n`);
}

/** The record of a run in stages: each stage's own record, the total time, and the last quality. */
export function stagedRecord(stages: TrainingRecord[]): TrainingRecord {
  const last = stages.at(-1)!;
  return {
    kind: last.kind,
    data: last.data,
    stages,
    seconds: stages.reduce((sum, s) => sum + s.seconds, 0),
    ...(last.heldOut ? { heldOut: last.heldOut } : {}),
  };
}

/** What a `--stage` may set; everything else is the run's own (or, like --init, is the stage). */
const STAGE_OPTIONS = {
  steps: { type: 'string' },
  lr: { type: 'string' },
  seed: { type: 'string' },
  batch: { type: 'string' },
  'tune-tower': { type: 'boolean' },
  'balance-answers': { type: 'boolean' },
  'kind-weights': { type: 'string' },
  questions: { type: 'string' },
  'no-caption': { type: 'boolean' },
} as const;

/** The run's options that every stage keeps. */
const INHERITED = ['data', 'size', 'batch', 'clip', 'backend'] as const;

/**
 * Each `--stage "steps=300 lr=5e-4"` in order, with the options it runs with: words of name=value, or a name alone
 * for a switch such as `balance-answers`. A stage continues the folder the run writes, exactly as
 * `vl train <kind> --init <out> --out <out> <options>` would afterwards (a fresh optimizer and
 * schedule), keeping the run's --data, --size, --batch, --clip and --backend and nothing else: its
 * steps, lr, tower and question picks are the defaults unless it names them (each stage prints
 * what it runs with). Its --seed defaults to the run's plus its number (1, 2, ...), so each stage
 * sees new scenes.
 */
export function stageOptions(
  ctx: CommandContext,
  out: string,
  seed: number,
): { text: string; options: OptionValues }[] {
  return ctx.strings('stage').map((text, i) => {
    // Each word without leading dashes: `steps=300`, `--lr=1e-3` and `balance-answers` alike.
    const words = text
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((w) => w.replace(/^-+/, ''));
    if (words.length === 0)
      throw new CliError(
        `--stage "${text}" names nothing; give at least its steps, as in --stage "steps=300 lr=5e-4"`,
        2,
      );
    const names = words.map((w) => w.split('=')[0]!);
    const twice = names.find((n, j) => names.indexOf(n) !== j);
    if (twice !== undefined) throw new CliError(`--stage "${text}" names ${twice} twice`, 2);
    let values: OptionValues;
    try {
      const parsed = parseArgs({
        // `steps=300 lr=1e-3 balance-answers` is read as `--steps=300 --lr=1e-3 --balance-answers`.
        args: words.map((word) => `--${word}`),
        options: STAGE_OPTIONS,
        allowPositionals: false,
        strict: true,
      });
      values = parsed.values as OptionValues;
    } catch (e) {
      throw new CliError(
        `--stage "${text}": ${(e as Error).message}; a stage is words such as "steps=300 lr=5e-4" naming only ${Object.keys(STAGE_OPTIONS).join(', ')} (it continues --out with the run's --data, --size, --clip and --backend)`,
        2,
      );
    }
    const kept: OptionValues = {};
    for (const name of INHERITED) if (ctx.options[name] !== undefined) kept[name] = ctx.options[name];
    return { text, options: { ...kept, seed: `${seed + i + 1}`, ...values, init: out, out } };
  });
}
