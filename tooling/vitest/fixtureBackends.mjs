// Backends a model package's fixture tests run on: the CPU always, WebGPU when an adapter exists.
// A missing adapter fails when VL_REQUIRE_WEBGPU is set (CI sets it) and warns loudly otherwise.

/** True when VL_REQUIRE_WEBGPU asks for WebGPU tests to fail instead of skipping. */
export function webgpuRequired(env = process.env) {
  const v = env.VL_REQUIRE_WEBGPU;
  return v !== undefined && v !== '' && v !== '0';
}

/**
 * @param {(kind: 'cpu' | 'webgpu') => Promise<T>} createBackend  `@vl/tensor`'s createBackend
 * @param {string} what  named in the warning, e.g. `clip-tiny`
 * @template T
 */
export async function fixtureBackends(createBackend, what) {
  const list = [await createBackend('cpu')];
  try {
    list.push(await createBackend('webgpu'));
  } catch (e) {
    if (webgpuRequired()) throw e;
    console.warn(`*** WebGPU UNAVAILABLE: ${what} runs on the CPU only (${e.message}) ***`);
  }
  return list;
}
