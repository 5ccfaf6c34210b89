#!/usr/bin/env node
// `npm run demo`: until the model packages land, a tour of @vl/tensor on this machine: picks
// WebGPU when an adapter exists (else the CPU) and says which, loads a real safetensors checkpoint,
// runs kernels on the chosen backend and checks them against the CPU reference.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vl = await import(join(root, 'packages/tensor/dist/index.node.js'));
const { createBackend, CpuBackend, loadSafetensors, tensor, tidy, add, mul } = vl;

const backend = await createBackend('auto');
console.log(
  `backend: ${backend.name}${backend.kind === 'webgpu' ? '' : ' (no WebGPU adapter found, using the CPU)'}`,
);
const reference = new CpuBackend();

const checkpoint = join(root, 'packages/tensor/test/fixtures/io/clip-tiny.safetensors');
const { tensors } = await loadSafetensors(checkpoint, { backend });
let params = 0;
for (const t of tensors.values()) params += t.size;
console.log(`loaded ${tensors.size} tensors (${params.toLocaleString()} parameters) from ${checkpoint}`);
const sample = [...tensors.keys()].slice(0, 3).map((k) => `  ${k}: ${tensors.get(k).describe()}`);
console.log(sample.join('\n'));

// y = (x + bias) * gate on the chosen backend and on the CPU reference.
const n = 1 << 16;
const x = Float32Array.from({ length: 4 * n }, (_, i) => Math.sin(i));
const bias = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
async function run(b) {
  const t0 = performance.now();
  const y = tidy(() =>
    mul(
      add(tensor(x, [4, n], { backend: b }), tensor(bias, [n], { backend: b })),
      tensor(bias, [n], { backend: b }),
    ),
  );
  const values = await y.read();
  y.dispose();
  return { values, ms: performance.now() - t0 };
}
const want = await run(reference);
const got = await run(backend);
let worst = 0;
for (let i = 0; i < want.values.length; i++)
  worst = Math.max(worst, Math.abs(want.values[i] - got.values[i]));
console.log(
  `(x + b) * g over ${(4 * n).toLocaleString()} values: ${got.ms.toFixed(1)} ms on ${backend.kind}, max |diff| vs CPU reference ${worst.toExponential(2)}`,
);

for (const t of tensors.values()) t.dispose();
backend.dispose();
reference.dispose();
