// Backends a model package's fixture tests run on: the CPU always, WebGPU when an adapter exists.
// A missing adapter fails when VL_REQUIRE_WEBGPU is set (CI sets it) and warns loudly otherwise.
// Also what those tests compare their outputs with the reference fixtures by.
import { afterAll, expect } from 'vitest';

/* global __VL_REQUIRE_WEBGPU__ */
/**
 * True when VL_REQUIRE_WEBGPU asks for WebGPU tests to fail instead of skipping. In a browser page,
 * which has no process.env, the value the browser project's config defined as
 * `__VL_REQUIRE_WEBGPU__` (Vite replaces the name in served modules).
 */
export function webgpuRequired(env = globalThis.process?.env ?? browserEnv()) {
  const v = env.VL_REQUIRE_WEBGPU;
  return v !== undefined && v !== '' && v !== '0';
}

function browserEnv() {
  return { VL_REQUIRE_WEBGPU: typeof __VL_REQUIRE_WEBGPU__ === 'string' ? __VL_REQUIRE_WEBGPU__ : undefined };
}

/**
 * Call it at a test file's top level: the backends are disposed after the file's tests.
 *
 * @param {(kind: 'cpu' | 'webgpu') => Promise<T>} createBackend  `@vl/tensor`'s createBackend
 * @param {string} what  named in the warning, e.g. `clip-tiny`
 * @param {boolean} [required]  whether a missing adapter fails (default: VL_REQUIRE_WEBGPU, in Node
 *   and in the browser project's pages)
 * @template {{ dispose(): void }} T
 */
export async function fixtureBackends(createBackend, what, required) {
  const list = [await createBackend('cpu')];
  afterAll(() => {
    for (const b of list) b.dispose();
  });
  try {
    list.push(await createBackend('webgpu'));
  } catch (e) {
    if (required ?? webgpuRequired()) throw e;
    console.warn(`*** WebGPU UNAVAILABLE: ${what} runs on the CPU only (${e.message}) ***`);
  }
  return list;
}

/**
 * The largest absolute difference between two arrays, which must have the same length.
 *
 * @param {ArrayLike<number>} a
 * @param {ArrayLike<number>} b
 */
export function maxAbs(a, b) {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
