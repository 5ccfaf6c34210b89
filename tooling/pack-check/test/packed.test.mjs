// The packages as npm would publish them: each is packed with `pnpm pack` (its `files`, its
// `workspace:` versions rewritten), unpacked into node_modules of a project outside the workspace
// that sees only what the packed package.json files declare, and used there as a new user would:
// imported by name, its `vl` bin run, its types checked. What the packed copies print must equal
// what the workspace's own packages print for the same calls.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(here, '..', '..');
const packagesDir = join(root, 'packages');
const names = readdirSync(packagesDir).filter((n) => existsSync(join(packagesDir, n, 'package.json')));

/** Runs a command to the end; fails the test with its output when it exits non-zero. */
function run(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, COREPACK_ENABLE_STRICT: '0', ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

/** `pnpm` as `pnpm run` puts it on PATH, else the pinned one through npx. */
function pnpm(args, cwd) {
  const direct = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  if (!direct.error && direct.status === 0) return run('pnpm', args, cwd);
  const { packageManager } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return run('npx', ['--yes', packageManager, ...args], cwd);
}

/** Every path an exports map names, through its conditions. */
function exportTargets(entry) {
  if (typeof entry === 'string') return [entry];
  if (entry === null || typeof entry !== 'object') return [];
  return Object.values(entry).flatMap(exportTargets);
}

let work;
let app;
let ws;
const packed = new Map(); // name -> the packed package.json

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'vl-pack-check-'));
  app = join(work, 'app');
  ws = join(work, 'workspace-run');
  mkdirSync(ws);
  const tarballs = join(work, 'tarballs');
  mkdirSync(join(app, 'node_modules', '@vl'), { recursive: true });
  mkdirSync(tarballs);
  for (const name of names) {
    pnpm(['pack', '--pack-destination', tarballs], join(packagesDir, name));
  }
  for (const file of readdirSync(tarballs)) {
    const unpacked = join(work, 'unpacked', file);
    mkdirSync(unpacked, { recursive: true });
    // -m as npm does: every file gets the time it was unpacked, so src can look newer than dist.
    run('tar', ['-xzmf', join(tarballs, file), '-C', unpacked, '--strip-components=1'], work);
    if (existsSync(join(unpacked, 'src')))
      run('find', [join(unpacked, 'src'), '-exec', 'touch', '{}', '+'], work);
    const manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8'));
    const short = manifest.name.replace('@vl/', '');
    run('mv', [unpacked, join(app, 'node_modules', '@vl', short)], work);
    packed.set(short, manifest);
  }
  // Third-party dependencies: only those a packed package.json declares, each linked from where
  // pnpm installed it for that package (its own dependencies resolve from there).
  for (const [short, manifest] of packed) {
    for (const dep of Object.keys(manifest.dependencies ?? {})) {
      if (dep.startsWith('@vl/')) continue;
      const target = join(app, 'node_modules', dep);
      if (existsSync(target)) continue;
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(realpathSync(join(packagesDir, short, 'node_modules', dep)), target, 'dir');
    }
  }
  mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
  symlinkSync(
    realpathSync(join(here, 'node_modules', '@types', 'node')),
    join(app, 'node_modules', '@types', 'node'),
  );
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  copyFileSync(join(here, 'test', 'consumer.mjs'), join(app, 'consumer.mjs'));
  copyFileSync(join(here, 'test', 'consumer.ts'), join(app, 'consumer.ts'));
  copyFileSync(join(here, 'test', 'browserConsumer.mjs'), join(app, 'browserConsumer.mjs'));
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed packages', () => {
  it('pack every package, with no workspace versions and every exported file inside', () => {
    expect([...packed.keys()].sort()).toEqual([...names].sort());
    for (const [short, manifest] of packed) {
      const dir = join(app, 'node_modules', '@vl', short);
      for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
        for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
          expect(range, `${manifest.name} ${field}.${dep}`).not.toMatch(/^workspace:/);
        }
      }
      const files = [...exportTargets(manifest.exports), ...Object.values(manifest.bin ?? {})];
      expect(files.length, `${manifest.name} exports`).toBeGreaterThan(0);
      for (const file of files) expect(existsSync(join(dir, file)), `${manifest.name}: ${file}`).toBe(true);
      expect(existsSync(join(dir, 'LICENSE')), `${manifest.name}: LICENSE`).toBe(true);
    }
  });

  it('import by name and run as the workspace packages do', () => {
    // The workspace's run: the script where it is (its imports resolve to the workspace packages),
    // in a folder of its own for what it writes.
    const fromWorkspace = run(process.execPath, [join(here, 'test', 'consumer.mjs')], ws);
    const fromPacked = run(process.execPath, ['consumer.mjs'], app);
    const expected = JSON.parse(fromWorkspace.stdout);
    expect(JSON.parse(fromPacked.stdout)).toEqual(expected);
    expect(expected.ids.length).toBeGreaterThan(2);
    expect(fromPacked.stderr).toBe('');
  }, 120_000);

  it('run the vl bin without warnings, printing what the workspace bin prints', () => {
    // consumer.mjs wrote scene.png in both folders; a JPEG takes the libjpeg-turbo path.
    const jpeg = join(packagesDir, 'clip', 'test', 'fixtures', 'images', 'rocket.jpg');
    const commands = [
      ['--help'],
      ['classify', 'scene.png', '--json', '--backend', 'cpu'],
      ['embed', jpeg, '--text', 'a rocket', '--json', '--backend', 'cpu'],
      ['ask', 'scene.png', 'how many objects are there?', '--backend', 'cpu'],
      ['reconstruct', 'scene.png', '-o', 'rec.png', '--overwrite', '--backend', 'cpu'],
    ];
    const workspaceBin = join(packagesDir, 'cli', 'bin', 'vl.js');
    const packedBin = join(app, 'node_modules', '@vl', 'cli', packed.get('cli').bin.vl);
    for (const args of commands) {
      const mine = run(process.execPath, [workspaceBin, ...args], ws);
      const theirs = run(process.execPath, [packedBin, ...args], app);
      expect(theirs.stdout, `vl ${args.join(' ')}`).toBe(mine.stdout);
      expect(theirs.stderr, `vl ${args.join(' ')}`).not.toMatch(/warning|error/i);
    }
  }, 180_000);

  it('bundle for a browser page without a Node builtin or an unresolved import', async () => {
    const result = await build({
      absWorkingDir: app,
      entryPoints: ['browserConsumer.mjs'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => w.text)).toEqual([]);
    expect(result.outputFiles[0].contents.byteLength).toBeGreaterThan(0);
  }, 120_000);

  it.each([
    ['node16', 'node16'],
    ['esnext', 'bundler'],
  ])(
    'type-check a consumer under module %s, moduleResolution %s',
    (module, moduleResolution) => {
      const tsc = join(realpathSync(join(here, 'node_modules', 'typescript')), 'bin', 'tsc');
      const options = ['--strict', '--noEmit', '--target', 'es2022', '--lib', 'es2023', '--types', 'node'];
      const r = spawnSync(
        process.execPath,
        [tsc, ...options, '--module', module, '--moduleResolution', moduleResolution, 'consumer.ts'],
        { cwd: app, encoding: 'utf8' },
      );
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    },
    120_000,
  );
});
