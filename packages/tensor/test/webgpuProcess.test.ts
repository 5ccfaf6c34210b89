// The WebGPU backend in a Node process: `auto` picks it when an adapter exists, and a script that
// disposes its backend exits by itself (dispose() must not throw, hang, or leave work that keeps
// the process alive; with Dawn on a software adapter a script also exits without it, so this
// guards dispose() itself).
import { expect, test } from 'vitest';
import { createBackend, isSoftwareWebGpu } from '../src/index.node.js';
import { maybeWebGpu } from './util/backends.js';

test("createBackend('auto') gives WebGPU on a GPU, and the CPU over a software adapter unless allowed", async () => {
  const gpu = await maybeWebGpu();
  if (!gpu) return; // maybeWebGpu warned (or failed, with VL_REQUIRE_WEBGPU)
  const software = isSoftwareWebGpu(gpu);
  gpu.dispose();
  const auto = await createBackend('auto');
  const allowed = await createBackend('auto', { allowSoftwareWebGpu: true });
  try {
    expect(auto.kind).toBe(software ? 'cpu' : 'webgpu');
    expect(allowed.kind).toBe('webgpu');
  } finally {
    auto.dispose();
    allowed.dispose();
  }
});

test('a Node script that disposes its WebGPU backend exits by itself', async () => {
  const gpu = await maybeWebGpu();
  if (!gpu) return;
  gpu.dispose();
  const index = new URL('../src/index.node.ts', import.meta.url).href;
  const script = `
    const { add, createBackend, tensor } = await import(${JSON.stringify(index)});
    const backend = await createBackend('webgpu');
    const x = tensor([1, 2, 3], [3], { backend });
    console.log(JSON.stringify({ kind: backend.kind, sum: Array.from(await add(x, x).read()) }));
    backend.dispose();
  `;
  const { execFile } = await import('node:child_process');
  const started = Date.now();
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 60_000 }, // a process kept alive by the device is killed here, and fails the test
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
  expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ kind: 'webgpu', sum: [2, 4, 6] });
  expect(Date.now() - started).toBeLessThan(60_000);
}, 70_000);

test("without the optional `webgpu` package, 'auto' takes the CPU and 'webgpu' says what to install", async () => {
  // A resolve hook makes `webgpu` missing, as in an app that did not install it (or a platform
  // Dawn ships no binary for).
  const hook = `export async function resolve(specifier, context, next) {
    if (specifier === 'webgpu') throw Object.assign(new Error("Cannot find package 'webgpu'"), { code: 'ERR_MODULE_NOT_FOUND' });
    return next(specifier, context);
  }`;
  const index = new URL('../src/index.node.ts', import.meta.url).href;
  const script = `
    const { register } = await import('node:module');
    register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});
    const { createBackend, WebGpuUnavailableError } = await import(${JSON.stringify(index)});
    const auto = await createBackend('auto');
    const out = { auto: auto.kind };
    auto.dispose();
    try {
      await createBackend('webgpu');
    } catch (e) {
      out.error = [e instanceof WebGpuUnavailableError, e.message];
    }
    console.log(JSON.stringify(out));
  `;
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 60_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
  expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({
    auto: 'cpu',
    error: [
      true,
      "WebGPU in Node runs on Dawn, from the `webgpu` package, which could not be loaded (Cannot find package 'webgpu'): install it (npm install webgpu@0.6.2) or use the 'cpu' backend",
    ],
  });
}, 70_000);
