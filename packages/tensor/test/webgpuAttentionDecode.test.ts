// The attention decode kernel (Tq = 1) on a device with WebGPU's default 16 KiB of workgroup
// memory: a head too large to stage q next to the reduction arrays (D = 4096 needs 17 KiB) reads
// q from its buffer instead of failing to compile.
import { expect, test } from 'vitest';
import { create } from 'webgpu';
import { attention, CpuBackend, tensor, WebGpuBackend } from '../src/index.node.js';
import { maybeWebGpu } from './util/backends.js';
import { maxAbsDiff } from './util/compare.js';
import { rng } from './util/random.js';

test('attention decode with a head larger than the workgroup memory holds', async () => {
  const probe = await maybeWebGpu();
  if (!probe) return;
  probe.dispose();
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  const device = await adapter!.requestDevice(); // default limits: 16384 bytes of workgroup memory
  const backend = new WebGpuBackend(device, 'default limits');
  backend.keepAlive = [gpu, adapter];
  const reference = new CpuBackend({ description: 'reference' });
  try {
    expect(backend.limits.maxComputeWorkgroupStorageSize).toBe(16384);
    const next = rng(5);
    const d = 4096;
    const data = (n: number) => Float32Array.from({ length: n }, () => (next() - 0.5) / 16);
    const [q, k, v] = [data(2 * d), data(2 * 3 * d), data(2 * 3 * d)];
    const run = (b: WebGpuBackend | CpuBackend) =>
      attention(
        tensor(q, [1, 2, 1, d], { backend: b }),
        tensor(k, [1, 2, 3, d], { backend: b }),
        tensor(v, [1, 2, 3, d], { backend: b }),
        {
          causal: true,
        },
      ).read();
    expect(maxAbsDiff(await run(backend), await run(reference))).toBeLessThan(1e-5);
  } finally {
    backend.dispose();
    reference.dispose();
  }
});
