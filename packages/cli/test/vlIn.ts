// The `vl` of the CLI tests: runCli in this process on the CPU backend, in a working folder, with
// its stdout and stderr collected.
import { runCli } from '../src/index.js';

/** What one `vl` run printed, and its exit code. */
export interface VlRun {
  code: number;
  out: string;
  err: string;
}

/**
 * A `vl(...argv)` that runs in `cwd` with `appended` after its arguments (`--backend cpu` unless
 * given; `[]` runs argv as it is).
 *
 * @example
 * ```ts
 * const vl = vlIn(work);
 * const { code, err } = await vl('classify', 'pics/s0.png');
 * ```
 */
export function vlIn(
  cwd: string,
  appended: readonly string[] = ['--backend', 'cpu'],
): (...argv: string[]) => Promise<VlRun> {
  return async (...argv) => {
    let out = '';
    let err = '';
    const code = await runCli([...argv, ...appended], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      cwd,
    });
    return { code, out, err };
  };
}
