// Reads and errors on the WebGPU backend as a user meets them: a read captures the tensor's value
// when it is called (the tensor may be disposed, or its buffer reused, right after), work a shader
// error dropped is never read as if it had run, a failing WGSL builder leaves validation errors
// reported, a device lost during sync() fails it, and 'auto' survives an adapter that fails.
import { expect, test } from 'vitest';
import {
  add,
  createBackend,
  exp,
  mul,
  runKernel,
  tensor,
  tidy,
  type WebGpuBackend,
} from '../src/index.node.js';
import type { Kernel } from '../src/kernel.js';
import { maybeWebGpu } from './util/backends.js';

const WRITE4 = `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < 4u) { out[id.x] = 1.0; }
}`;

test('a read captures the value when called: disposing the tensor right after cannot change it', async () => {
  const gpu = (await maybeWebGpu()) as WebGpuBackend | undefined;
  if (!gpu) return;
  try {
    const x = tensor([1, 2, 3, 4], [4], { backend: gpu });
    const y = exp(x);
    const pending = y.read();
    y.dispose();
    // The freed buffer goes to the next tensor of that size, and is written before the read maps.
    const other = tensor([100, 200, 300, 400], [4], { backend: gpu });
    const got = Array.from(await pending);
    expect(got.map((v) => Math.round(v * 1000) / 1000)).toEqual(
      [1, 2, 3, 4].map((v) => Math.round(Math.exp(v) * 1000) / 1000),
    );
    expect(Array.from(await other.read())).toEqual([100, 200, 300, 400]);
    gpu.trim(); // the staging copy of the disposed tensor was submitted: nothing to fail here
  } finally {
    gpu.dispose();
  }
});

test('work a shader error dropped is never read as if it ran; computed again, it is right', async () => {
  const gpu = (await maybeWebGpu()) as WebGpuBackend | undefined;
  if (!gpu) return;
  try {
    const x = tensor([1, 2, 3, 4], [4], { backend: gpu });
    const before = tidy(() => mul(x, x)); // queued in the same batch as the bad shader
    const bad = gpu.pipeline(
      'test-dropped',
      () => '@compute @workgroup_size(1) fn main() { let v: f32 = nope; }',
    );
    gpu.dispatch(bad, [gpu.scratch(16)], undefined, [1]);
    await expect(add(x, x).read()).rejects.toThrow(/WebGPU shader error: pipeline test-dropped/);
    const never = /this f32\[4\] tensor was never computed: a shader error dropped the work queued with it/;
    await expect(before.read()).rejects.toThrow(never);
    expect(() => add(before, x)).toThrow(never);
    expect(Array.from(await tidy(() => mul(x, x)).read())).toEqual([1, 4, 9, 16]);
  } finally {
    gpu.dispose();
  }
});

test('a WGSL builder that throws leaves later validation errors reported', async () => {
  const gpu = (await maybeWebGpu()) as WebGpuBackend | undefined;
  if (!gpu) return;
  try {
    expect(() =>
      gpu.pipeline('test-throwing-builder', () => {
        throw new Error('no WGSL for this case');
      }),
    ).toThrow('no WGSL for this case');
    // More workgroups than a dimension allows: a validation error, which must reach the next read.
    const p = gpu.pipeline('test-write4', () => WRITE4);
    gpu.dispatch(p, [gpu.scratch(16)], undefined, [gpu.limits.maxComputeWorkgroupsPerDimension + 1]);
    const x = tensor([1, 2], [2], { backend: gpu });
    await expect(add(x, x).read()).rejects.toThrow(/WebGPU error/);
    expect(Array.from(await add(x, x).read())).toEqual([2, 4]);
  } finally {
    gpu.dispose();
  }
});

test('a device lost while sync() waits fails it', async () => {
  const gpu = (await maybeWebGpu()) as WebGpuBackend | undefined;
  if (!gpu) return;
  const x = tensor(new Float32Array(1 << 16).fill(1), [1 << 16], { backend: gpu });
  tidy(() => add(mul(x, x), x));
  const done = gpu.sync();
  gpu.device.destroy();
  await expect(done).rejects.toThrow(/WebGPU device lost/);
  gpu.dispose();
});

test("'auto' takes the CPU when requestAdapter or requestDevice fails; 'webgpu' says which", async () => {
  const failing = (at: 'adapter' | 'device') =>
    ({
      requestAdapter: async () => {
        if (at === 'adapter') throw new DOMException('Failed to create adapter', 'OperationError');
        return {
          features: new Set(),
          limits: {},
          info: { description: 'Test GPU' },
          requestDevice: async () => {
            throw new DOMException('Failed to create device', 'OperationError');
          },
        };
      },
    }) as unknown as GPU;
  for (const at of ['adapter', 'device'] as const) {
    const auto = await createBackend('auto', { webgpu: { gpu: failing(at) } });
    expect(auto.kind).toBe('cpu');
    auto.dispose();
  }
  await expect(createBackend('webgpu', { webgpu: { gpu: failing('adapter') } })).rejects.toThrow(
    'WebGPU is not available: requestAdapter() failed (Failed to create adapter)',
  );
  await expect(createBackend('webgpu', { webgpu: { gpu: failing('device') } })).rejects.toThrow(
    'WebGPU is not available: Test GPU could not create a device (Failed to create device)',
  );
});

test('misspelt or bad backend options are named before any device is made', async () => {
  await expect(createBackend('auto', { allowSoftwareWebgpu: true } as never)).rejects.toThrow(
    'createBackend(): unknown option "allowSoftwareWebgpu"',
  );
  await expect(createBackend('webgpu', { webgpu: { submitevery: 8 } as never })).rejects.toThrow(
    'webgpu backend: unknown option "submitevery"',
  );
  await expect(createBackend('webgpu', { webgpu: { maxPooledBytes: Number.NaN } })).rejects.toThrow(
    'webgpu backend: maxPooledBytes must be 0 or more (or Infinity), got NaN',
  );
});

test("a kernel's working buffer over maxStorageBufferBindingSize fails naming the kernel", async () => {
  const gpu = (await maybeWebGpu()) as WebGpuBackend | undefined;
  if (!gpu) return;
  try {
    const greedy: Kernel = {
      name: 'greedyScratch',
      infer: ([x]) => [x!],
      cpu: ([x]) => [x!.data],
      webgpu: (ctx) => {
        ctx.scratch(gpu.maxTensorBytes + 4);
      },
    };
    const x = tensor([1, 2], [2], { backend: gpu });
    const before = gpu.stats().liveTensors;
    expect(() => runKernel(greedy, [x], undefined)).toThrow(
      `greedyScratch: its working buffer of ${gpu.maxTensorBytes + 4} bytes is over this device's maxStorageBufferBindingSize of ${gpu.maxTensorBytes}`,
    );
    expect(gpu.stats().liveTensors).toBe(before);
  } finally {
    gpu.dispose();
  }
});
