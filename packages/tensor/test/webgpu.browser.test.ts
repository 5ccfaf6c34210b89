// WebGPU in a real browser (Chromium, navigator.gpu): the browser entry's backend against the CPU
// reference. Without an adapter this fails when VL_REQUIRE_WEBGPU is set (CI), else warns loudly.
import { webgpuRequired } from '@vl/vitest-config/fixture-backends';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  add,
  type Backend,
  CpuBackend,
  createBackend,
  isSoftwareWebGpu,
  mul,
  tensor,
  tidy,
} from '../src/index.js';

const required = webgpuRequired();

let gpu: Backend | undefined;
const cpu = new CpuBackend();

beforeAll(async () => {
  try {
    gpu = await createBackend('webgpu');
  } catch (e) {
    if (required)
      throw new Error(`VL_REQUIRE_WEBGPU is set but the browser has no WebGPU: ${(e as Error).message}`);
    console.warn(
      `*** WebGPU UNAVAILABLE in the browser: WebGPU checks are NOT running (${(e as Error).message}) ***`,
    );
  }
});

afterAll(() => {
  gpu?.dispose();
  cpu.dispose();
});

test('createBackend("auto") in the browser picks WebGPU on a GPU, the CPU over a software adapter', async () => {
  const auto = await createBackend('auto');
  expect(auto.kind).toBe(gpu && !isSoftwareWebGpu(gpu) ? 'webgpu' : 'cpu');
  auto.dispose();
  const allowed = await createBackend('auto', { allowSoftwareWebGpu: true });
  expect(allowed.kind).toBe(gpu ? 'webgpu' : 'cpu');
  allowed.dispose();
});

test('a broadcast elementwise chain on navigator.gpu matches the CPU reference', async (ctx) => {
  if (!gpu) return ctx.skip();
  console.log(`browser WebGPU adapter: ${gpu.name}`);
  const n = 1000;
  const a = Float32Array.from({ length: 3 * n }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
  const run = async (backend: Backend) => {
    const y = tidy(() =>
      mul(add(tensor(a, [3, n], { backend }), tensor(b, [n], { backend })), tensor(b, [1, n], { backend })),
    );
    const values = await y.read();
    y.dispose();
    return values;
  };
  const expected = await run(cpu);
  const actual = await run(gpu);
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst).toBeLessThan(1e-6);
  expect(gpu.stats().liveTensors).toBe(0);
});
