// tuneMatmulWebGpu times tile candidates on the adapter at hand and keeps the fastest: the result
// is sorted, the kept tile is the fastest one's, products stay correct with it, a tile that does not
// fit is skipped with the reason, and apply: false leaves the configuration as it was. Small tiles
// and a small product: shaders compile slowly on a software adapter.
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  matmul,
  setMatmulWebGpuConfig,
  tensor,
  tuneMatmulWebGpu,
  type WebGpuBackend,
} from '../src/index.node.js';
import { matmulConfigFor } from '../src/kernels/matmul/config.js';
import { maybeWebGpu } from './util/backends.js';

let gpu: WebGpuBackend | undefined;
beforeAll(async () => {
  gpu = (await maybeWebGpu()) as WebGpuBackend | undefined;
});
afterAll(() => gpu?.dispose());

const small = { bm: 32, bn: 32, bk: 8, tm: 4, tn: 4, doubleBuffer: false };
const candidates = [small, { ...small, warpLanes: true }, { ...small, bm: 7 }];

test('the fastest candidate is kept, products stay right, a tile that does not fit is skipped', async () => {
  if (!gpu) return; // maybeWebGpu warned (or failed, with VL_REQUIRE_WEBGPU)
  const defaults = matmulConfigFor(gpu);
  try {
    const results = await tuneMatmulWebGpu(gpu, { m: 70, n: 66, k: 40, candidates, targetMs: 5 });
    expect(results).toHaveLength(3);
    expect(results.map((r) => r.ms)).toEqual([...results.map((r) => r.ms)].sort((x, y) => x - y));
    const [best, , last] = results;
    expect(Number.isFinite(best!.ms) && best!.tflops > 0).toBe(true);
    expect(last!.skipped).toMatch(/bm=7 and bn=32 must be multiples of tm and tn/);
    expect(matmulConfigFor(gpu).large).toEqual(best!.config);
    expect({ ...matmulConfigFor(gpu), large: defaults.large }).toEqual(defaults); // the rest kept
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend: gpu });
    const b = tensor([1, 0, 0, 1, 1, 1], [3, 2], { backend: gpu });
    expect([...(await matmul(a, b).read())]).toEqual([4, 5, 10, 11]);
  } finally {
    setMatmulWebGpuConfig(gpu, undefined);
  }
});

test('apply: false leaves the configuration as it was, an override included', async () => {
  if (!gpu) return;
  const dryRun = { m: 40, n: 40, k: 8, candidates: candidates.slice(0, 1), targetMs: 2, apply: false };
  const before = matmulConfigFor(gpu);
  await tuneMatmulWebGpu(gpu, dryRun);
  expect(matmulConfigFor(gpu)).toBe(before);
  setMatmulWebGpuConfig(gpu, { splitK: { minK: 4096 } });
  const override = matmulConfigFor(gpu);
  await tuneMatmulWebGpu(gpu, dryRun);
  expect(matmulConfigFor(gpu)).toEqual(override);
  setMatmulWebGpuConfig(gpu, undefined);
  await expect(tuneMatmulWebGpu(gpu, { m: 0 })).rejects.toThrow(
    'tuneMatmulWebGpu(): m must be a positive integer, got 0',
  );
});
