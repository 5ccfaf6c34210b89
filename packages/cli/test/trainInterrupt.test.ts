// Ctrl-C during `vl train`: training stops after its current step, the weights trained so far are
// written as a checkpoint that --init continues (and, for clip and dvae, the optimizer state that
// --resume continues exactly), training.json says where it stopped, and the command exits 130. The interrupt is Node's SIGINT event, emitted once a few steps are done.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import { runCli } from '../src/index.js';

const work = mkdtempSync(join(tmpdir(), 'vl-interrupt-'));

/** Runs `vl train ...` and sends SIGINT once the progress bar shows `after` steps done. */
async function trainAndInterrupt(after: number, ...argv: string[]) {
  let err = '';
  let sent = false;
  const listeners = process.listenerCount('SIGINT');
  const code = await runCli(['train', ...argv, '--backend', 'cpu'], {
    stdout: { write: () => true },
    stderr: {
      isTTY: true, // a line per step
      write: (s: string) => {
        err += s;
        const done = [...s.matchAll(/ (\d+)\/\d+/g)].map((m) => Number(m[1]));
        if (!sent && done.some((d) => d >= after)) {
          sent = true;
          process.emit('SIGINT');
        }
        return true;
      },
    },
    cwd: work,
  });
  // The handler is gone once the command ends: Ctrl-C means the usual thing again.
  expect(process.listenerCount('SIGINT')).toBe(listeners);
  return { code, err };
}

test.each([
  ['clip', ['--size', '32', '--batch', '2']],
  ['dvae', ['--size', '32', '--batch', '2']],
  ['vlm', ['--batch', '2']],
])(
  'vl train %s stopped by Ctrl-C writes the weights so far and exits 130',
  async (kind, extra) => {
    const out = `${kind}-stopped`;
    const { code, err } = await trainAndInterrupt(
      2,
      kind,
      '--data',
      'shapes',
      '--out',
      out,
      '--steps',
      '500',
      ...extra,
    );
    expect(code, err).toBe(130);
    expect(err).toContain('vl: stopping after this step; the weights trained so far will be written');
    const stoppedAt = Number(
      /interrupted after (\d+) of 500 steps: wrote the weights trained so far (and the optimizer state )?to /.exec(
        err,
      )?.[1],
    );
    expect(stoppedAt).toBeGreaterThanOrEqual(2);
    expect(stoppedAt).toBeLessThan(500);
    // The optimizer is saved too, and the message says how to go on exactly.
    expect(err).toContain(`vl train ${kind} --resume ${join(work, out)} continues the run exactly`);
    expect(existsSync(join(work, out, 'optimizer.safetensors'))).toBe(true);
    expect(existsSync(join(work, out, 'config.json'))).toBe(true);
    const record = JSON.parse(readFileSync(join(work, out, 'training.json'), 'utf8')) as {
      stoppedAfter: number;
    };
    expect(record.stoppedAfter).toBe(stoppedAt);
    // The folder is a checkpoint that training continues from.
    const more = await runCli(
      [
        'train',
        kind,
        '--data',
        'shapes',
        '--out',
        out,
        '--init',
        out,
        '--steps',
        '1',
        '--backend',
        'cpu',
        ...extra,
      ],
      { stdout: { write: () => true }, stderr: { write: () => true }, cwd: work },
    );
    expect(more).toBe(0);
  },
  240_000,
);

test.each([
  ['clip', ['model.safetensors'], []],
  ['dvae', ['encoder.safetensors', 'decoder.safetensors'], []],
  // Stopped in the alignment stage: the word stage is done, the alignment one goes on, the main one runs.
  ['vlm', ['model.safetensors'], ['--text-steps', '2', '--align-steps', '2']],
])(
  'vl train %s stopped by Ctrl-C and resumed with --resume ends with the weights of the run that did not stop',
  async (kind, files, stages) => {
    const size = kind === 'vlm' ? [] : ['--size', '32']; // the VLM's is its CLIP's
    const settings = ['--data', 'shapes', '--steps', '6', ...size, '--batch', '2', ...stages];
    const total = kind === 'vlm' ? 10 : 6; // the VLM's word and alignment steps come first
    const quiet = { stdout: { write: () => true }, stderr: { write: () => true }, cwd: work };
    const straight = `${kind}-straight`;
    expect(await runCli(['train', kind, '--out', straight, ...settings, '--backend', 'cpu'], quiet)).toBe(0);
    const out = `${kind}-resumed`;
    const stopped = await trainAndInterrupt(2, kind, '--out', out, ...settings);
    expect(stopped.code, stopped.err).toBe(130);
    const at = (
      JSON.parse(readFileSync(join(work, out, 'training.json'), 'utf8')) as { stoppedAfter: number }
    ).stoppedAfter;
    expect(at).toBeLessThan(total);
    let err = '';
    // No --backend: the recorded one (cpu), on which the run goes on exactly.
    expect(JSON.parse(readFileSync(join(work, out, 'training.json'), 'utf8')).backendKind).toBe('cpu');
    const resumed = await runCli(['train', kind, '--resume', out], {
      ...quiet,
      stderr: { write: (s: string) => (err += s) },
    });
    expect(resumed, err).toBe(0);
    expect(err).toContain(`vl: train: resuming ${out} at step ${at} of ${total}`);
    for (const file of files) {
      expect(readFileSync(join(work, out, file)).equals(readFileSync(join(work, straight, file))), file).toBe(
        true,
      );
    }
    // Finished: the state is gone with the weights it belonged to, and the record says where it resumed.
    expect(existsSync(join(work, out, 'optimizer.safetensors'))).toBe(false);
    const record = JSON.parse(readFileSync(join(work, out, 'training.json'), 'utf8'));
    expect([record.resumedAt, record.stoppedAfter]).toEqual([at, undefined]);
    // A finished run, other options, and a VLM are refused before any work (exit 2).
    const again = async (...argv: string[]) => {
      let e = '';
      const code = await runCli(['train', ...argv, '--backend', 'cpu'], {
        ...quiet,
        stderr: { write: (s: string) => (e += s) },
      });
      return { code, e };
    };
    const finished = await again(kind, '--resume', out);
    expect([finished.code, finished.e]).toEqual([
      2,
      expect.stringContaining('the run was not stopped (it did all its 6 steps)'),
    ]);
    const extra = await again(kind, '--resume', out, '--steps', '9');
    expect([extra.code, extra.e]).toEqual([2, expect.stringContaining('leave out --steps')]);
    const other = await again(kind === 'clip' ? 'dvae' : 'clip', '--resume', out);
    expect([other.code, other.e]).toEqual([
      2,
      expect.stringContaining(`--resume ${out} holds a ${kind} run`),
    ]);
    // A damaged state file is named before any work (exit 2), with the way on.
    writeFileSync(join(work, out, 'optimizer.safetensors'), 'not a state');
    writeFileSync(join(work, out, 'training.json'), JSON.stringify({ ...record, stoppedAfter: at }));
    const damaged = await again(kind, '--resume', out);
    expect([damaged.code, damaged.e]).toEqual([
      2,
      expect.stringContaining(`--resume ${out}: its optimizer.safetensors cannot be read (`),
    ]);
    expect(damaged.e).toContain(`--init ${out} continues its weights with a fresh optimizer`);
  },
  240_000,
);

test('a run of --stage stages stopped by Ctrl-C keeps no optimizer state and points to --init', async () => {
  const out = 'dvae-staged-stopped';
  const { code, err } = await trainAndInterrupt(
    2,
    'dvae',
    '--data',
    'shapes',
    '--out',
    out,
    '--steps',
    '500',
    '--size',
    '32',
    '--batch',
    '2',
    '--stage',
    'steps=5',
  );
  expect(code, err).toBe(130);
  expect(err).toContain(`continue them with --init ${join(work, out)}`);
  expect(existsSync(join(work, out, 'optimizer.safetensors'))).toBe(false);
}, 240_000);

test('vl train vlm stopped by Ctrl-C while grounding its vision tower writes that tower, as promised', async () => {
  const out = 'vlm-stopped-grounding';
  const { code, err } = await trainAndInterrupt(
    2,
    'vlm',
    '--data',
    'shapes',
    '--out',
    out,
    '--ground-steps',
    '500',
    '--steps',
    '5',
    '--batch',
    '2',
  );
  expect(code, err).toBe(130);
  expect(err).toContain('vl: stopping after this step; the weights trained so far will be written');
  expect(err).toMatch(/interrupted after 0 of 5 steps: wrote the weights trained so far to /);
  expect(existsSync(join(work, out, 'model.safetensors'))).toBe(true);
}, 240_000);

test('a real SIGINT to a `vl train` process is handled between steps, not after the last one', async () => {
  // The CPU backend resolves reads as microtasks: without a turn of the event loop between steps,
  // the signal would wait for the whole run (it did: 2,000 steps, then "stopping").
  const { spawn } = await import('node:child_process');
  const { createRequire } = await import('node:module');
  const entry = new URL('../src/index.ts', import.meta.url).href;
  // tsx by path: the child runs in a temporary folder, where the package cannot be found by name.
  const tsx = pathToFileURL(
    join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs'),
  ).href;
  const script = `const { runCli } = await import(${JSON.stringify(entry)}); process.exitCode = await runCli(process.argv.slice(1));`;
  const out = 'clip-signal';
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      tsx,
      '--input-type=module',
      '-e',
      script,
      'train',
      'clip',
      '--data',
      'shapes',
      '--out',
      out,
      '--steps',
      '100000',
      '--size',
      '32',
      '--batch',
      '2',
      '--backend',
      'cpu',
    ],
    { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  let sent = false;
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    // The bar prints a line at 0%, then every tenth: the first line means training has begun.
    if (!sent && / 1\/100000/.test(err)) {
      sent = true;
      setTimeout(() => child.kill('SIGINT'), 500);
    }
  });
  // A run that ignores the signal must not outlive the test: killed (and failed) after 90 s.
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(killer);
  expect(code, err).toBe(130);
  expect(err).toMatch(/interrupted after \d+ of 100000 steps: wrote the weights trained so far/);
  expect(existsSync(join(work, out, 'model.safetensors'))).toBe(true);
}, 120_000);
