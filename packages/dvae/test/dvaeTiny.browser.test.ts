// The dVAE in a browser page (Chromium), on the CPU backend and on WebGPU where the page has an
// adapter: the dvae-tiny fixture loaded over HTTP, its tokens equal to dall_e's and its
// reconstruction within the fixture's tolerance, as in Node.
import { createBackend, loadSafetensors } from '@vl/tensor';
import { fixtureBackends, maxAbs } from '@vl/vitest-config/fixture-backends';
import { expect, test } from 'vitest';
import { loadDvae } from '../src/index.js';

const all = await fixtureBackends(createBackend, 'dvae-tiny in the page');

// Served from the package root (Vite's root in the browser project).
const dir = new URL('/test/fixtures/dvae-tiny/', location.origin);

test.each(all.map((b) => [b.kind, b] as const))(
  'dvae-tiny on %s in the page matches the reference',
  async (_, backend) => {
    const dvae = await loadDvae(dir, { backend });
    const { tensors: ref } = await loadSafetensors(new URL('reference.safetensors', dir), {
      backend,
      cache: false,
    });
    const x = ref.get('x')!; // [2, 3, 32, 32]
    const z = dvae.encode(x); // i32 [2, 4, 4]
    expect(Array.from(await z.read())).toEqual(Array.from(await ref.get('z')!.read()));
    z.dispose();
    const rec = await dvae.reconstruct(x); // [2, 3, 32, 32]
    expect(maxAbs(await rec.read(), await ref.get('x_rec')!.read())).toBeLessThanOrEqual(1e-4);
    rec.dispose();
    for (const t of ref.values()) t.dispose();
    dvae.dispose();
  },
  120_000,
);
