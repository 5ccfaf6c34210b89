#!/usr/bin/env node
// The README's two commands land here: `npm test` and `npm run demo`. On a machine with only
// Node 20 and npm, this bootstraps the pinned pnpm through npx (nothing installed globally),
// installs the workspace from the lockfile, builds what is needed and runs the job.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { packageManager } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  console.error(`vl needs Node 20 or newer; this is Node ${process.versions.node}`);
  process.exit(1);
}

function run(cmd, args, env = {}) {
  console.log(`\n$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// `npx --yes pnpm@X` fetches that exact pnpm into npm's cache once, then reuses it.
const pnpm = (...args) => run('npx', ['--yes', packageManager, ...args], { COREPACK_ENABLE_STRICT: '0' });

const job = process.argv[2];
pnpm('install', '--frozen-lockfile');
if (job === 'test') {
  pnpm('run', 'lint');
  pnpm('exec', 'turbo', 'run', 'build', 'typecheck', 'api', 'test');
  pnpm('--filter', '@vl/tensor', 'run', 'api:prove-fails');
} else if (job === 'demo') {
  pnpm('exec', 'turbo', 'run', 'build');
  run(process.execPath, [join(root, 'scripts', 'demo.mjs'), ...process.argv.slice(3)]);
} else {
  console.error('usage: node scripts/dev.mjs test|demo');
  process.exit(2);
}
