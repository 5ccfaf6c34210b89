// WebGPU buffers at the device's edges, both first seen on an H200 with a dVAE at batch 16:
// - the pool past its cap: buffers freed while their commands are still being encoded must outlive
//   the submit (destroying them first makes Dawn reject the whole command buffer), and trim() must
//   not destroy what unsubmitted commands use;
// - a tensor over maxStorageBufferBindingSize: a clear error naming the op and the shape, instead of
//   Dawn's validation errors at the next read.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { add, createBackend, mul, relu, tensor, tidy, type WebGpuBackend } from '../src/index.node.js';
import { BufferPool } from '../src/backends/webgpu/bufferPool.js';
import { maybeWebGpu } from './util/backends.js';

let gpu: WebGpuBackend | undefined;
beforeAll(async () => {
  const probe = await maybeWebGpu(); // warns, or fails with VL_REQUIRE_WEBGPU, when there is none
  if (!probe) return;
  probe.dispose();
  // A pool that keeps nothing: every freed buffer goes past the cap.
  gpu = (await createBackend('webgpu', { webgpu: { maxPooledBytes: 0 } })) as WebGpuBackend;
});
afterAll(() => gpu?.dispose());

/** relu(x * x + x) with its intermediates freed before anything is submitted; [n] */
function chain(backend: WebGpuBackend, n: number) {
  const x = tensor(
    Float32Array.from({ length: n }, (_, i) => (i % 7) - 3),
    [n],
    { backend },
  );
  const y = tidy(() => relu(add(mul(x, x), x))); // mul's output is freed inside the tidy
  return { x, y };
}

test('intermediates freed past the pool cap before the submit still compute', async () => {
  if (!gpu) return; // maybeWebGpu warned (or failed, with VL_REQUIRE_WEBGPU)
  const { x, y } = chain(gpu, 1000);
  const got = await y.read();
  for (let i = 0; i < 1000; i++) {
    const v = (i % 7) - 3;
    expect(got[i]).toBe(Math.max(0, v * v + v));
  }
  x.dispose();
  y.dispose();
  expect(gpu.stats().pooledBytes).toBe(0);
});

test('trim() with commands not yet submitted keeps them valid', async () => {
  if (!gpu) return;
  const { x, y } = chain(gpu, 300);
  gpu.trim();
  expect((await y.read())[5]).toBe(Math.max(0, 4 + 2)); // x[5] = 2
  x.dispose();
  y.dispose();
});

test('a kernel output over maxStorageBufferBindingSize fails naming the kernel and the shape', () => {
  if (!gpu) return;
  const limit = gpu.maxTensorBytes;
  expect(limit).toBe(gpu.limits.maxStorageBufferBindingSize);
  const rows = Math.floor(limit / (8192 * 4)) + 1; // [rows, 8192] f32 is just over the limit
  const a = tensor(new Float32Array(8192), [1, 8192], { backend: gpu });
  const b = tensor(new Float32Array(rows), [rows, 1], { backend: gpu });
  const before = gpu.stats().liveTensors;
  expect(() => add(a, b)).toThrow(
    new RegExp(`binary.*\\[${rows}, 8192\\].*maxStorageBufferBindingSize of ${limit}`),
  );
  expect(gpu.stats().liveTensors).toBe(before); // nothing left behind
  a.dispose();
  b.dispose();
});

test('by default the pool keeps as many bytes as were in use at once; a given cap bounds it', async () => {
  if (!gpu) return;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const MIB = 2 ** 20;
  /** Bytes the pool keeps after 3 MiB in use at once are freed. */
  const keptAfterPeak = (pool: BufferPool) => {
    const held = [0, 1, 2].map(() => pool.acquire(MIB));
    for (const b of held) pool.release(b);
    pool.destroyReleased();
    return pool.pooledBytes;
  };
  const adaptive = new BufferPool(gpu.device, usage, undefined, MIB); // floor 1 MiB
  expect(keptAfterPeak(adaptive)).toBe(3 * MIB);
  adaptive.trim(); // frees them, and the peak starts again from what is in use (nothing)
  expect(adaptive.pooledBytes).toBe(0);
  expect(adaptive.capBytes).toBe(MIB);
  const capped = new BufferPool(gpu.device, usage, MIB);
  expect(keptAfterPeak(capped)).toBe(MIB);
  capped.trim();
});

test('the pool reports each buffer it destroys (the backend drops their bind groups)', () => {
  if (!gpu) return;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const pool = new BufferPool(gpu.device, usage, 1024);
  const destroyed: GPUBuffer[] = [];
  pool.onDestroy = (b) => destroyed.push(b);
  const [a, b] = [pool.acquire(1024), pool.acquire(1024)];
  pool.release(a!); // kept: within the cap
  pool.release(b!); // past the cap: destroyed at destroyReleased
  expect(destroyed).toEqual([]);
  pool.destroyReleased();
  expect(destroyed).toEqual([b]);
  pool.trim();
  expect(destroyed).toEqual([b, a]);
});

test('stats().otherBytes counts the read staging buffers and the uniform chunks; trim() frees the staging', async () => {
  if (!gpu) return;
  const { x, y } = chain(gpu, 5000);
  await y.read(); // 20,000 bytes through a staging buffer, kept for the next read
  const kept = gpu.stats().otherBytes!;
  gpu.trim();
  const trimmed = gpu.stats().otherBytes!;
  expect(kept - trimmed).toBeGreaterThanOrEqual(20_000);
  expect(trimmed > 0 && trimmed % (64 * 1024) === 0).toBe(true); // the kernels' uniform chunks, reused
  await y.read();
  const steady = gpu.stats().otherBytes;
  for (let i = 0; i < 3; i++) await y.read(); // reads reuse what is there: no growth per read
  expect(gpu.stats().otherBytes).toBe(steady);
  x.dispose();
  y.dispose();
});
