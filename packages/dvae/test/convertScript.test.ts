// tooling/dvae-convert/convert_dvae.py (the converter for the official encoder.pkl / decoder.pkl)
// must produce exactly the tensor names and shapes loadDvae expects. Its torch part cannot run here;
// its pure-Python name and shape rules can, and are compared with encoderShapes / decoderShapes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend } from '@vl/tensor';
import { describe, expect, test } from 'vitest';
import {
  type DvaeConfig,
  decoderShapes,
  dvaeCheckpointFiles,
  encoderShapes,
  initDvaeParams,
  parseDvaeConfig,
} from '../src/index.js';

const script = fileURLToPath(new URL('../../../tooling/dvae-convert/convert_dvae.py', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/dvae-tiny/', import.meta.url));
const hasPython = spawnSync('python3', ['--version']).status === 0;
if (!hasPython) console.warn('convertScript.test: python3 is not on the PATH; skipping the converter checks');

function py(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('python3', [script, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CONFIGS: Record<string, unknown> = {
  official: {},
  fixture: {
    encoder: { n_hid: 64, n_blk_per_group: 1, vocab_size: 512 },
    decoder: { n_init: 32, n_hid: 64, n_blk_per_group: 1, vocab_size: 512 },
  },
  uneven: {
    encoder: { group_count: 3, n_hid: 16, n_blk_per_group: 2, input_channels: 1, vocab_size: 32 },
    decoder: { group_count: 2, n_init: 8, n_hid: 16, n_blk_per_group: 3, output_channels: 1, vocab_size: 32 },
  },
};

describe.skipIf(!hasPython)('convert_dvae.py', () => {
  test('its self-test passes', () => {
    const r = py('self-test');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/self-test ok/);
  });

  test.each(Object.keys(CONFIGS))('expects the names and shapes loadDvae checks (%s config)', (name) => {
    const dir = mkdtempSync(join(tmpdir(), 'dvae-convert-'));
    try {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify(CONFIGS[name]));
      const r = py('expected', '--config', file);
      expect(r.status, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout) as {
        encoder: Record<string, number[]>;
        decoder: Record<string, number[]>;
      };
      const config = parseDvaeConfig(CONFIGS[name]);
      // Same entries in the same order (the order dall_e's constructors create them in).
      expect(Object.entries(got.encoder)).toEqual([...encoderShapes(config.encoder)]);
      expect(Object.entries(got.decoder)).toEqual([...decoderShapes(config.decoder)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('accepts the dall_e fixture and a folder saved by dvaeCheckpointFiles, rejects a mismatch', async () => {
    expect(py('check', fixture).status).toBe(0);
    const backend = await createBackend('cpu');
    const dir = mkdtempSync(join(tmpdir(), 'dvae-convert-'));
    try {
      const config: DvaeConfig = parseDvaeConfig(CONFIGS.uneven);
      const params = initDvaeParams(config, { backend });
      const files = await dvaeCheckpointFiles(config, params);
      for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
      const ok = py('check', dir);
      expect(ok.status, ok.stdout + ok.stderr).toBe(0);
      // The same weights under a config with a different decoder width.
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({ ...config, decoder: { ...config.decoder, n_hid: 32 } }),
      );
      const bad = py('check', dir);
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(
        /decoder: tensor blocks\.output\.conv\.w has shape \[2, 16, 1, 1\] but the config expects \[2, 32, 1, 1\]/,
      );
      for (const t of Object.values(params).flatMap((m) => [...m.values()])) t.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      backend.dispose();
    }
  });
});
