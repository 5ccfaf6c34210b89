// runCli's own arguments, checked before anything runs: it prints every failure of a command as a
// `vl: ...` line on io.stderr, which needs an io to print on and an argv of strings to parse.

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  if (typeof value !== 'object') return `the ${typeof value} ${String(value)}`;
  return Array.isArray(value) ? 'an array' : `a ${value.constructor?.name ?? 'null-prototype object'}`;
}

const writable = (stream: unknown): boolean =>
  typeof stream === 'object' &&
  stream !== null &&
  typeof (stream as { write?: unknown }).write === 'function';

/** Throws a TypeError naming runCli unless `argv` is an array of strings and `io` a CliIo. */
export function checkRunCliArguments(argv: unknown, io: unknown): void {
  if (!Array.isArray(argv)) {
    throw new TypeError(
      `runCli: argv must be an array of strings (the arguments after "vl", e.g. ['classify', 'cat.png']), got ${describe(argv)}`,
    );
  }
  const at = argv.findIndex((a) => typeof a !== 'string');
  if (at >= 0) throw new TypeError(`runCli: argv[${at}] must be a string, got ${describe(argv[at])}`);
  if (typeof io !== 'object' || io === null) {
    throw new TypeError(
      `runCli: io must be { stdout, stderr, cwd? } (omit it for the process's own), got ${describe(io)}`,
    );
  }
  const { stdout, stderr, cwd } = io as Record<string, unknown>;
  for (const [key, stream] of [
    ['stdout', stdout],
    ['stderr', stderr],
  ] as const) {
    if (!writable(stream))
      throw new TypeError(`runCli: io.${key} must have a write(text) method, got ${describe(stream)}`);
  }
  if (cwd !== undefined && typeof cwd !== 'string') {
    throw new TypeError(`runCli: io.cwd must be a folder path (a string), got ${describe(cwd)}`);
  }
}
