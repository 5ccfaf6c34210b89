// WebGPU failures a user can meet: a lost device (a driver reset, a GPU taken away) is reported as
// an error that says what to do, and a new backend works; a shader that fails to compile is
// reported at the read that waits on it, and the backend keeps working for other kernels.
import { expect, test } from 'vitest';
import { add, createBackend, mul, tensor, tidy, type WebGpuBackend } from '../src/index.node.js';
import { maybeWebGpu } from './util/backends.js';

// The backend's own calls say "WebGPU device lost (...)", ops "its WebGPU device was lost (...)".
const LOST =
  /WebGPU device (was )?lost \(destroyed: .*\); create a new backend with createBackend\('webgpu'\)/;

test('a lost device fails reads, uploads and ops with a clear error; a new backend works', async () => {
  const gpu = (await maybeWebGpu()) as WebGpuBackend | undefined;
  if (!gpu) return; // maybeWebGpu warned (or failed, with VL_REQUIRE_WEBGPU)
  const x = tensor([1, 2, 3, 4], [4], { backend: gpu });
  const y = tidy(() => add(mul(x, x), x)); // queued, not yet submitted
  gpu.device.destroy(); // what a driver reset looks like to the page: device.lost resolves
  await gpu.device.lost;
  await expect(y.read()).rejects.toThrow(LOST);
  expect(() => tensor([1], [1], { backend: gpu })).toThrow(LOST);
  expect(() => add(x, x)).toThrow(LOST);
  expect(gpu.disposed).toBe(true);
  gpu.dispose(); // still allowed, and quiet

  const again = await createBackend('webgpu');
  try {
    const z = tensor([1, 2, 3, 4], [4], { backend: again });
    expect(Array.from(await add(mul(z, z), z).read())).toEqual([2, 6, 12, 20]);
  } finally {
    again.dispose();
  }
});

test('a read in flight when the device is lost rejects instead of hanging', async () => {
  const gpu = (await maybeWebGpu()) as WebGpuBackend | undefined;
  if (!gpu) return;
  const x = tensor(new Float32Array(4096).fill(1), [4096], { backend: gpu });
  const pending = tidy(() => add(mul(x, x), x)).read();
  gpu.device.destroy();
  await expect(pending).rejects.toThrow(/WebGPU device lost|destroyed/);
  gpu.dispose();
});

test('a shader error is reported at the read, and the next reads work', async () => {
  for (const submitEvery of [Number.POSITIVE_INFINITY, 1]) {
    const gpu = (await maybeWebGpu({ submitEvery })) as WebGpuBackend | undefined;
    if (!gpu) return;
    try {
      const x = tensor([1, 2, 3, 4], [4], { backend: gpu });
      const bad = gpu.pipeline(
        'test-bad-kernel',
        () => '@compute @workgroup_size(1) fn main() { let v: f32 = nope; }',
      );
      gpu.dispatch(bad, [gpu.scratch(16)], undefined, [1]);
      const y = tidy(() => add(mul(x, x), x));
      await expect(y.read()).rejects.toThrow(
        /WebGPU shader error: pipeline test-bad-kernel: .*unresolved value 'nope'/s,
      );
      // Dawn's follow-up errors about the invalid pipeline must not fail unrelated later reads.
      await new Promise((r) => setTimeout(r, 50));
      expect(Array.from(await add(x, x).read())).toEqual([2, 4, 6, 8]);
      expect(Array.from(await tidy(() => add(mul(x, x), x)).read())).toEqual([2, 6, 12, 20]);
    } finally {
      gpu.dispose();
    }
  }
});
