/**
 * Where the CLI writes and where it resolves relative paths; tests pass their own.
 *
 * @example
 * ```ts
 * let out = '';
 * const io: CliIo = { stdout: { write: (s: string) => (out += s) }, stderr: process.stderr, cwd: '/data' };
 * await runCli(['classify', 'cat.png', '--labels', 'cat,dog'], io);
 * ```
 */
export interface CliIo {
  /** Results: one line per answer, or JSON with `--json`. */
  stdout: { write(text: string): unknown };
  /** Progress bars, the backend line and errors. */
  stderr: { write(text: string): unknown; isTTY?: boolean };
  /** Base for relative paths (default `process.cwd()`). */
  cwd?: string;
}

/**
 * A failure the user can act on: printed as `vl: <message>` with the exit code.
 *
 * @example
 * ```ts
 * throw new CliError('--top must be a positive integer; got "x"', 2);
 * ```
 */
export class CliError extends Error {
  constructor(
    message: string,
    /** 2 for bad usage, 1 for everything else. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * An error's message without the library function that opens it (`loadImage(): `,
 * `loadSafetensors(): `, `loadClip: `): the user of the command line did not call it. Only a
 * lower-camel-case name is taken for a caller, so `ENOENT: ...` or `cat.png: ...` stay whole.
 *
 * @example
 * ```ts
 * withoutCaller(new Error('loadImage(): cat.png: not a PNG or JPEG file')); // 'cat.png: not a PNG or JPEG file'
 * ```
 */
export function withoutCaller(error: unknown): string {
  return (error as Error).message.replace(/^[a-z][A-Za-z0-9]*(?:\(\))?: /, '');
}
