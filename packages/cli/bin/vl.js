#!/usr/bin/env node
// The `vl` command. Runs the built package (`npm run demo` or `pnpm build` builds it).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/index.js', import.meta.url);
const build = '`npm run demo` or `npx --yes pnpm@12.4.2 build` at the repository root';
if (!existsSync(entry)) {
  console.error(`vl: the CLI is not built yet; run ${build} first`);
  process.exit(1);
}
warnIfStale();

/**
 * In a checkout of the repository, the packages whose sources changed after their build: `vl`
 * runs the built code, so it would run the old code without a word. An installed package ships its
 * src folder too, with whatever times the installer gave the files, so only a checkout (the
 * workspace file beside `packages`) is checked.
 */
function warnIfStale() {
  const packages = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  if (basename(packages) !== 'packages' || !existsSync(join(packages, '..', 'pnpm-workspace.yaml'))) return;
  const newest = (dir) => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  const stale = [];
  for (const name of readdirSync(packages)) {
    const src = join(packages, name, 'src');
    const built = join(packages, name, 'dist');
    // The newest output, not index.js: an incremental build writes only what changed.
    if (existsSync(src) && existsSync(built) && newest(src) > newest(built)) stale.push(name);
  }
  if (stale.length > 0) {
    console.error(
      `vl: warning: the sources of ${stale.map((n) => `@vl/${n}`).join(', ')} changed after their build, and vl runs the build; run ${build} to use the changes`,
    );
  }
}
// A reader that stops early (`vl embed ... --json | head`) closes the pipe: stop quietly, not with
// an EPIPE stack trace.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));
