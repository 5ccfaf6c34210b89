// The public API of @vl/cli: the `vl` command as a function, for scripts and tests.
export type { CliIo } from './io.js';
export { CliError } from './io.js';
export { runCli } from './runCli.js';
