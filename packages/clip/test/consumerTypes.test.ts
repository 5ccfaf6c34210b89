// The published declarations type-check in a consumer's project with nothing set up for them: no
// DOM lib, no @webgpu/types, no @types/node, and skipLibCheck off (TypeScript's default). They name
// WebGPU's and the DOM's types, which the entries' reference directives bring in. Checks dist/, so
// it runs after the build (as `npm test` does).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const packages = fileURLToPath(new URL('../../', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

test('a consumer with default settings type-checks against every package', () => {
  for (const name of ['tensor', 'clip', 'vlm', 'dvae'])
    expect(existsSync(join(packages, name, 'dist/index.d.ts')), `${name} is built`).toBe(true);
  const dir = mkdtempSync(join(tmpdir(), 'vl-consumer-'));
  mkdirSync(join(dir, 'node_modules/@vl'), { recursive: true });
  for (const name of ['tensor', 'clip', 'vlm', 'dvae'])
    symlinkSync(join(packages, name), join(dir, 'node_modules/@vl', name), 'dir');
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
  writeFileSync(
    join(dir, 'main.ts'),
    `import { createBackend, tensor } from '@vl/tensor';
import { loadClip, type DrawableImage } from '@vl/clip';
import { loadVlm } from '@vl/vlm';
import { loadDvae } from '@vl/dvae';
const backend = await createBackend('auto');
const image: DrawableImage | undefined = undefined;
console.log(tensor([1], [1], { backend }), loadClip, loadVlm, loadDvae, image);
`,
  );
  const options = {
    module: 'NodeNext',
    lib: ['ES2023'],
    types: [],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
  };
  for (const resolution of ['NodeNext', 'Bundler']) {
    const module = resolution === 'Bundler' ? 'ESNext' : 'NodeNext';
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { ...options, target: 'ES2022', module, moduleResolution: resolution },
        files: ['main.ts'],
      }),
    );
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    } catch (e) {
      output = (e as { stdout?: string }).stdout ?? String(e);
    }
    expect(output, `tsc with moduleResolution ${resolution}`).toBe('');
  }
}, 60_000);
