// The dVAE in a browser page (Chromium), on the CPU backend and on WebGPU where the page has an
// adapter: the dvae-tiny fixture loaded over HTTP, its tokens equal to dall_e's and its
// reconstruction within the fixture's tolerance, as in Node.
import { type Backend, type Tensor, createBackend, loadSafetensors } from '@vl/tensor';
import { expect, test } from 'vitest';
import { loadDvae } from '../src/index.js';

declare const __VL_REQUIRE_WEBGPU__: string;
const required = __VL_REQUIRE_WEBGPU__ !== '' && __VL_REQUIRE_WEBGPU__ !== '0';

// Served from the package root (Vite's root in the browser project).
const dir = new URL('/test/fixtures/dvae-tiny/', location.origin);

async function values(t: Tensor): Promise<Float32Array | Int32Array> {
  try {
    return (await t.read()) as Float32Array | Int32Array;
  } finally {
    t.dispose();
  }
}

test.each(['cpu', 'webgpu'] as const)(
  'dvae-tiny on %s in the page matches the reference',
  async (kind) => {
    let backend: Backend;
    try {
      backend = await createBackend(kind);
    } catch (e) {
      if (kind === 'webgpu' && (e as Error).name === 'WebGpuUnavailableError' && !required) {
        console.warn(
          `*** WebGPU UNAVAILABLE in the browser: dvae-tiny on webgpu is NOT running (${(e as Error).message}) ***`,
        );
        return;
      }
      throw e;
    }
    try {
      const dvae = await loadDvae(dir, { backend });
      const { tensors: ref } = await loadSafetensors(new URL('reference.safetensors', dir), {
        backend,
        cache: false,
      });
      const x = ref.get('x')!; // [2, 3, 32, 32]
      expect(Array.from(await values(dvae.encode(x)))).toEqual(Array.from(await ref.get('z')!.read()));
      const rec = await values(await dvae.reconstruct(x)); // [2, 3, 32, 32]
      const want = (await ref.get('x_rec')!.read()) as Float32Array;
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(rec[i]! - want[i]!));
      expect(err).toBeLessThanOrEqual(1e-4);
      for (const t of ref.values()) t.dispose();
      dvae.dispose();
    } finally {
      backend.dispose();
    }
  },
  120_000,
);
