// `pnpm bench`: every suite of @vl/tensor, each in its own process, each with its peer in the same
// run (tfjs backends on the CPU, tfjs-backend-webgpu on the same Dawn device). On a software WebGPU
// adapter the GPU suites run small sizes; tooling/device/gpu-all.sh is the full GPU run for a machine with a GPU.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend } from '../src/index.node.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function suite(file: string, args: string[] = []): void {
  console.log(`\n=== ${file} ${args.join(' ')}`);
  const r = spawnSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', path.join(here, file), ...args],
    {
      stdio: 'inherit',
    },
  );
  if (r.status !== 0) throw new Error(`${file} failed with exit code ${r.status}`);
}

suite('matmul-cpu.ts');
suite('gemv-cpu.ts');
suite('ops-cpu.ts');
suite('conv-cpu.ts');
let software = true;
try {
  const gpu = await createBackend('webgpu');
  software = /llvmpipe|swiftshader|software/i.test(gpu.name);
  gpu.dispose();
  suite('dispatch-webgpu.ts');
  suite('matmul-webgpu.ts', software ? ['--sizes', '256,512', '--gemv', '--gemv-sizes', '1024'] : ['--gemv']);
} catch (e) {
  console.log(`\n(no WebGPU adapter: GPU suites not run: ${(e as Error).message})`);
}
