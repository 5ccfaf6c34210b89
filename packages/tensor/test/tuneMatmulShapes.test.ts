// tuneMatmulShapesWebGpu records the GEMM shapes a piece of work runs (not its GEMV products) and
// times tile x K-split candidates on each: results name each shape by its config key, candidates
// come fastest first with the reasons for those skipped, kept choices are installed and products
// stay right with them, a choice given by hand (split K included) computes the same as the CPU,
// bad choices are refused naming the field, and apply: false leaves the configuration as it was.
// Small tiles and small products: shaders compile slowly on a software adapter.
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type Backend,
  createBackend,
  linear,
  matmul,
  setMatmulWebGpuConfig,
  type Tensor,
  tensor,
  tuneMatmulShapesWebGpu,
  type WebGpuBackend,
} from '../src/index.node.js';
import { DEFAULT_SOFTWARE, matmulConfigFor } from '../src/kernels/matmul/config.js';
import { maybeWebGpu } from './util/backends.js';

let gpu: WebGpuBackend | undefined;
let cpu: Backend;
beforeAll(async () => {
  gpu = (await maybeWebGpu()) as WebGpuBackend | undefined;
  cpu = await createBackend('cpu');
});
afterAll(() => {
  gpu?.dispose();
  cpu.dispose();
});

const small = DEFAULT_SOFTWARE; // 32x32, quick to compile on a software adapter
const values = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => (((i * 7 + seed) % 13) - 6) / 8);

/** x [2, 20, 40] through a [24, 40] weight, a batched [3, 17, 16] x [3, 16, 33], and a GEMV. */
function inputs(backend: Backend) {
  return {
    x: tensor(values(2 * 20 * 40, 1), [2, 20, 40], { backend }),
    w: tensor(values(24 * 40, 2), [24, 40], { backend }),
    p: tensor(values(3 * 17 * 16, 3), [3, 17, 16], { backend }),
    q: tensor(values(3 * 16 * 33, 4), [3, 16, 33], { backend }),
    v: tensor(values(40, 5), [1, 40], { backend }),
  };
}

function work(t: ReturnType<typeof inputs>): Tensor[] {
  return [linear(t.x, t.w), matmul(t.p, t.q), linear(t.v, t.w)];
}

async function readAll(ts: Tensor[]): Promise<number[][]> {
  const out = await Promise.all(ts.map(async (t) => [...(await t.read())]));
  for (const t of ts) t.dispose();
  return out;
}

function expectClose(got: number[][], want: number[][]): void {
  expect(got.map((g) => g.length)).toEqual(want.map((w) => w.length));
  got.forEach((g, i) => {
    for (let j = 0; j < g.length; j++) expect(Math.abs(g[j]! - want[i]![j]!)).toBeLessThan(1e-4);
  });
}

test('shapes recorded, candidates timed and skipped with reasons, choices installed, products right', async () => {
  if (!gpu) return; // maybeWebGpu warned (or failed, with VL_REQUIRE_WEBGPU)
  const t = inputs(gpu);
  const want = await readAll(work(inputs(cpu)));
  const live = gpu.stats().liveTensors;
  try {
    const results = await tuneMatmulShapesWebGpu(gpu, () => work(t), {
      tiles: [small, { bm: 7 }],
      kSplits: [1, 2],
      targetMs: 3,
      minGain: 0,
    });
    expect(gpu.stats().liveTensors, 'the work and the candidates freed what they made').toBe(live);
    expect(results.map((r) => r.key)).toEqual(['1x40x24x40:nt:f32', '3x17x33x16:nn:f32']);
    const [lin, batched] = results;
    expect(lin!.call).toEqual({
      aShape: [2, 20, 40],
      bShape: [24, 40],
      bDtype: 'f32',
      transposeA: false,
      transposeB: true,
    });
    for (const r of results) {
      expect(r.candidates).toHaveLength(4);
      const ms = r.candidates.map((c) => c.ms);
      expect(ms).toEqual([...ms].sort((x, y) => x - y));
      const bad = r.candidates.filter((c) => c.choice.tile.bm === 7);
      expect(bad.map((c) => c.ms)).toEqual([Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]);
      expect(r.defaultMs > 0 && r.ms <= r.defaultMs && r.tflops > 0).toBe(true);
      expect(matmulConfigFor(gpu).shapes[r.key]).toEqual(r.choice);
    }
    // K = 40 takes 2 chunks of 8-deep slices; K = 16 does not.
    expect(lin!.candidates.filter((c) => Number.isFinite(c.ms))).toHaveLength(2);
    expect(lin!.candidates.find((c) => c.choice.tile.bm === 7)!.skipped).toContain(
      'bm=7 and bn=32 must be multiples of tm and tn',
    );
    expect(batched!.candidates.find((c) => c.choice.kSplit === 2 && c.choice.tile.bm === 32)!.skipped).toBe(
      'K = 16 is too short for 2 chunks of this tile',
    );
    expectClose(await readAll(work(t)), want);
  } finally {
    setMatmulWebGpuConfig(gpu, undefined);
    for (const x of Object.values(t)) x.dispose();
  }
});

test('a choice given by hand runs (split K included) and matches the CPU; bad ones are refused', async () => {
  if (!gpu) return;
  const t = inputs(gpu);
  const want = await readAll(work(inputs(cpu)));
  try {
    setMatmulWebGpuConfig(gpu, {
      shapes: {
        '1x40x24x40:nt:f32': { tile: small, kSplit: 3 },
        '3x17x33x16:nn:f32': { tile: small, kSplit: 1 },
      },
    });
    // The pipelines the products ask for: the split's sum kernel shows the choice was taken (the
    // size rules split only from K = 1024).
    const keys: string[] = [];
    const pipeline = gpu.pipeline.bind(gpu);
    gpu.pipeline = (key, code) => {
      keys.push(key);
      return pipeline(key, code);
    };
    try {
      expectClose(await readAll(work(t)), want);
    } finally {
      gpu.pipeline = pipeline;
    }
    expect(keys.filter((k) => k.startsWith('matmul-splitk-sum'))).toHaveLength(1);
    expect(() => setMatmulWebGpuConfig(gpu!, { shapes: { '40x24x40': { tile: small, kSplit: 1 } } })).toThrow(
      'setMatmulWebGpuConfig(): shapes["40x24x40"]: the key must read "<batches>x<M>x<N>x<K>:<ta><tb>:<b dtype>"',
    );
    expect(() =>
      setMatmulWebGpuConfig(gpu!, { shapes: { '1x40x24x40:nt:f32': { tile: small, kSplit: 0 } } }),
    ).toThrow('shapes["1x40x24x40:nt:f32"]: kSplit must be a positive integer, got 0');
    expect(() =>
      setMatmulWebGpuConfig(gpu!, { shapes: { '1x40x24x40:nt:f32': { kSplit: 2 } as never } }),
    ).toThrow('shapes["1x40x24x40:nt:f32"]: needs { tile, kSplit }, got {"kSplit":2}');
    expect(() =>
      setMatmulWebGpuConfig(gpu!, {
        shapes: { '1x40x24x40:nt:f32': { tile: { ...small, tm: 3 }, kSplit: 1 } },
      }),
    ).toThrow('shapes["1x40x24x40:nt:f32"].tile');
  } finally {
    setMatmulWebGpuConfig(gpu, undefined);
    for (const x of Object.values(t)) x.dispose();
  }
});

test('a partial tile is taken over the large one and copied; a re-tune times the choice in place', async () => {
  if (!gpu) return;
  const t = inputs(gpu);
  const key = '1x40x24x40:nt:f32';
  try {
    const mine = { tile: { bk: 16 }, kSplit: 2 };
    setMatmulWebGpuConfig(gpu, { shapes: { [key]: mine } });
    mine.kSplit = Number.NaN; // changing the caller's object afterwards changes nothing
    expect(matmulConfigFor(gpu).shapes[key]).toEqual({
      tile: { ...matmulConfigFor(gpu).large, bk: 16 },
      kSplit: 2,
    });
    const [lin] = await tuneMatmulShapesWebGpu(gpu, () => work(t), {
      tiles: [small],
      kSplits: [1],
      targetMs: 2,
    });
    expect(lin!.key).toBe(key);
    // The choice in place was a candidate: here skipped, K = 40 being short for 2 chunks of 16.
    const previous = lin!.candidates.find((c) => c.choice.kSplit === 2 && c.choice.tile.bk === 16);
    expect(previous?.skipped).toBe('K = 40 is too short for 2 chunks of this tile');
    // Kept only if it or a new candidate beat the size rules; else the shape falls back to them.
    expect(matmulConfigFor(gpu).shapes[key]).toEqual(lin!.choice);
  } finally {
    setMatmulWebGpuConfig(gpu, undefined);
    for (const x of Object.values(t)) x.dispose();
  }
});

test('apply: false leaves the configuration as it was; bad arguments are named', async () => {
  if (!gpu) return;
  const t = inputs(gpu);
  const dryRun = { tiles: [small], kSplits: [1], targetMs: 2, minGain: 0, apply: false };
  try {
    const before = matmulConfigFor(gpu);
    await tuneMatmulShapesWebGpu(gpu, () => work(t), dryRun);
    expect(matmulConfigFor(gpu)).toBe(before);
    setMatmulWebGpuConfig(gpu, { splitK: { minK: 4096 } });
    const override = matmulConfigFor(gpu);
    await tuneMatmulShapesWebGpu(gpu, () => work(t), dryRun);
    expect(matmulConfigFor(gpu)).toEqual(override);
  } finally {
    setMatmulWebGpuConfig(gpu, undefined);
    for (const x of Object.values(t)) x.dispose();
  }
  await expect(tuneMatmulShapesWebGpu(cpu, () => undefined)).rejects.toThrow(
    'tuneMatmulShapesWebGpu(): needs a webgpu backend, got cpu',
  );
  await expect(tuneMatmulShapesWebGpu(gpu, () => undefined, { kSplits: [0] })).rejects.toThrow(
    'tuneMatmulShapesWebGpu(): kSplits must be positive integers, got [0]',
  );
});
