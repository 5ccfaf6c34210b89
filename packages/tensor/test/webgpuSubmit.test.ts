// The WebGPU backend submits its queued dispatches every `submitEvery` of them, so the GPU starts
// on a forward pass while the rest is encoded: the submits must happen where they should, leave
// the results unchanged (buffers freed mid-chain, uniforms reused across submits), and a bad
// setting must be refused by name.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { add, createBackend, mul, relu, tensor, tidy, type WebGpuBackend } from '../src/index.node.js';
import { maybeWebGpu } from './util/backends.js';

let gpu: WebGpuBackend | undefined;
beforeAll(async () => {
  // warns, or fails with VL_REQUIRE_WEBGPU, when there is no adapter
  gpu = (await maybeWebGpu({ submitEvery: 4 })) as WebGpuBackend | undefined;
});
afterAll(() => gpu?.dispose());

/** Counts the backend's queue submits from now on; returns a getter. */
function countSubmits(backend: WebGpuBackend): () => number {
  const queue = backend.device.queue;
  const submit = queue.submit.bind(queue);
  let count = 0;
  queue.submit = (buffers) => {
    count++;
    submit(buffers);
  };
  return () => count;
}

/** The expected values of `steps` rounds of y = relu(y * x + x) from y = x, computed on the host. */
function expected(xs: Float32Array, steps: number): Float32Array {
  const y = Float32Array.from(xs);
  for (let s = 0; s < steps; s++)
    for (let i = 0; i < y.length; i++) y[i] = Math.max(0, Math.fround(Math.fround(y[i]! * xs[i]!) + xs[i]!));
  return y;
}

test('a chain of 30 dispatches is submitted every 4 and reads back the same values', async () => {
  if (!gpu) return; // maybeWebGpu warned (or failed, with VL_REQUIRE_WEBGPU)
  const n = 1000;
  const xs = Float32Array.from({ length: n }, (_, i) => ((i % 11) - 5) / 8);
  const x = tensor(xs, [n], { backend: gpu });
  const submits = countSubmits(gpu);
  // 10 rounds of 3 kernels, intermediates freed inside the tidy while their commands are queued.
  const y = tidy(() => {
    let t = x;
    for (let s = 0; s < 10; s++) t = relu(add(mul(t, x), x));
    return t;
  });
  expect(submits()).toBe(7); // after dispatches 4, 8, ..., 28; the last 2 wait for the read
  const got = await y.read();
  expect(submits()).toBeGreaterThanOrEqual(8);
  expect(Array.from(got)).toEqual(Array.from(expected(xs, 10)));
  x.dispose();
  y.dispose();
});

test('submitEvery 32 submits within a long chain; the default only at the read', async () => {
  if (!gpu) return;
  for (const [options, before] of [
    [{ submitEvery: 32 }, 3], // 120 dispatches
    [{}, 0],
  ] as const) {
    const backend = (await createBackend('webgpu', { webgpu: options })) as WebGpuBackend;
    try {
      const xs = Float32Array.from({ length: 64 }, (_, i) => ((i % 5) - 2) / 4);
      const x = tensor(xs, [64], { backend });
      const submits = countSubmits(backend);
      const y = tidy(() => {
        let t = x;
        for (let s = 0; s < 40; s++) t = relu(add(mul(t, x), x));
        return t;
      });
      expect(submits()).toBe(before);
      expect(Array.from(await y.read())).toEqual(Array.from(expected(xs, 40)));
    } finally {
      backend.dispose();
    }
  }
});

test('submitEvery below 1 or not a number is refused by name', async () => {
  if (!gpu) return;
  for (const bad of [0, -3, Number.NaN]) {
    await expect(createBackend('webgpu', { webgpu: { submitEvery: bad } })).rejects.toThrow(
      `webgpu backend: submitEvery must be at least 1 (or Infinity), got ${bad}`,
    );
  }
});
