#!/usr/bin/env node
// The `vl` command. Runs the built package (`npm run demo` or `pnpm build` builds it).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/index.js', import.meta.url);
if (!existsSync(entry)) {
  console.error(
    'vl: the CLI is not built yet; run `npm run demo` or `npx pnpm@12.4.2 build` at the repository root first',
  );
  process.exit(1);
}
// A reader that stops early (`vl embed ... --json | head`) closes the pipe: stop quietly, not with
// an EPIPE stack trace.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));
