import { describe, expect, test } from 'vitest';
import type { Backend, Tensor } from '../src/index.node.js';
import {
  gumbelNoise,
  philox4x32,
  Rng,
  randomBits,
  randomExponential,
  randomNormal,
  randomUniform,
} from '../src/kernels/random.js';
import { suiteBackends } from './util/backends.js';
import { checkKernelCase, type KernelCase } from './util/checkKernel.js';
import { freshSeed } from './util/random.js';

const { reference, others } = await suiteBackends();

const hex = (w: ArrayLike<number>) => Array.from(w, (x) => x.toString(16).padStart(8, '0'));

async function values(t: Tensor): Promise<Float32Array> {
  const v = (await t.read()) as Float32Array;
  t.dispose();
  return v;
}

function range(v: ArrayLike<number>): { min: number; max: number } {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < v.length; i++) {
    min = Math.min(min, v[i]!);
    max = Math.max(max, v[i]!);
  }
  return { min, max };
}

function moments(v: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i]! - mean) ** 2;
  return { mean, variance: q / v.length };
}

describe('Philox4x32-10', () => {
  test('matches the Random123 known-answer vectors', () => {
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    const ones = 0xffffffff;
    expect(hex(philox4x32([ones, ones, ones, ones], [ones, ones]))).toEqual([
      '408f276d',
      '41c83b0e',
      'a20bc7c6',
      '6d5451fd',
    ]);
    expect(
      hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])),
    ).toEqual(['d16cfe09', '94fdcceb', '5001e420', '24126ea1']);
  });

  test('randomBits with seed 0 is the counter-0 block on every backend', async () => {
    for (const backend of [reference, ...others.map((o) => o.backend)]) {
      const bits = randomBits([5], { backend, seed: 0 });
      const got = await bits.read();
      bits.dispose();
      expect(hex(got).slice(0, 4), backend.name).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    }
  });
});

// The harness needs one input (it only picks the backend); the seed is fresh per run.
const seedInput = { shape: [1], dtype: 'i32' as const, range: [0, 2 ** 30] as [number, number] };

function streamCase(
  name: string,
  shape: number[],
  make: (backend: Backend, seed: number) => Tensor,
  tol = 0,
): KernelCase {
  // The seed must be known on the host; each case bakes one in, fresh per run.
  const seed = freshSeed() + 7 * shape.length;
  return {
    name: `${name} ${JSON.stringify(shape)} seed ${seed}`,
    inputs: [seedInput],
    run: (x) => make(x!.backend, seed),
    atol: tol,
    rtol: tol,
  };
}

const cases: KernelCase[] = [];
for (const shape of [[1], [3], [17, 33], [2, 3, 65], [130, 7]]) {
  cases.push(streamCase('randomBits', shape, (backend, seed) => randomBits(shape, { backend, seed })));
  cases.push(streamCase('randomUniform', shape, (backend, seed) => randomUniform(shape, { backend, seed })));
  cases.push(
    streamCase(
      'randomUniform [-3, 5)',
      shape,
      (backend, seed) => randomUniform(shape, { backend, seed, low: -3, high: 5 }),
      1e-6,
    ),
  );
  cases.push(
    streamCase('randomNormal', shape, (backend, seed) => randomNormal(shape, { backend, seed }), 5e-6),
  );
  cases.push(
    streamCase(
      'randomNormal mean 2 std 0.5',
      shape,
      (backend, seed) => randomNormal(shape, { backend, seed, mean: 2, std: 0.5 }),
      5e-6,
    ),
  );
  cases.push(
    streamCase('gumbelNoise', shape, (backend, seed) => gumbelNoise(shape, { backend, seed }), 5e-6),
  );
  cases.push(
    streamCase(
      'randomExponential',
      shape,
      (backend, seed) => randomExponential(shape, { backend, seed }),
      5e-6,
    ),
  );
}
cases.push(
  streamCase('randomBits (empty)', [0, 3], (backend, seed) => randomBits([0, 3], { backend, seed })),
);
cases.push(
  streamCase(
    'randomNormal large seed',
    [9],
    (backend) => randomNormal([9], { backend, seed: 2 ** 53 - 1 }),
    5e-6,
  ),
);
cases.push(
  streamCase(
    'randomUniform [-3e38, 3e38)',
    [257],
    (backend, seed) => randomUniform([257], { backend, seed, low: -3e38, high: 3e38 }),
    1e-6,
  ),
  streamCase(
    'randomUniform [1e6, 1e6 + 1)',
    [257],
    (backend, seed) => randomUniform([257], { backend, seed, low: 1e6, high: 1e6 + 1 }),
    1e-6,
  ),
);
cases.push(
  streamCase('randomUniform negative seed', [9], (backend) => randomUniform([9], { backend, seed: -12345 })),
);

describe('random streams agree across backends', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await checkKernelCase(c, reference, others, freshSeed());
  });
});

describe('distributions', () => {
  const n = 1 << 17;
  // With n = 131072 draws the standard error of a mean is at most ~0.004 here; the bounds are
  // about 5 standard errors, and fixed seeds keep the test deterministic.
  test('uniform: range and moments', async () => {
    const v = await values(randomUniform([n], { backend: reference, seed: 1 }));
    expect(range(v).min).toBeGreaterThanOrEqual(0);
    expect(range(v).max).toBeLessThan(1);
    const { mean, variance } = moments(v);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.002);
    const w = await values(randomUniform([n], { backend: reference, seed: 2, low: -3, high: 5 }));
    expect(range(w).min).toBeGreaterThanOrEqual(-3);
    expect(range(w).max).toBeLessThan(5);
    expect(Math.abs(moments(w).mean - 1)).toBeLessThan(0.04);
  });

  test('normal: moments and tails', async () => {
    const v = await values(randomNormal([n], { backend: reference, seed: 3 }));
    const { mean, variance } = moments(v);
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    let beyond2 = 0;
    for (const x of v) if (Math.abs(x) > 2) beyond2++;
    expect(Math.abs(beyond2 / n - 0.0455)).toBeLessThan(0.003);
    const w = await values(randomNormal([n], { backend: reference, seed: 4, mean: -1, std: 3 }));
    const m = moments(w);
    expect(Math.abs(m.mean + 1)).toBeLessThan(0.05);
    expect(Math.abs(Math.sqrt(m.variance) - 3)).toBeLessThan(0.03);
  });

  test('exponential: positive, mean 1, variance 1', async () => {
    const v = await values(randomExponential([n], { backend: reference, seed: 6 }));
    expect(range(v).min).toBeGreaterThan(0);
    const { mean, variance } = moments(v);
    expect(Math.abs(mean - 1)).toBeLessThan(0.015);
    expect(Math.abs(variance - 1)).toBeLessThan(0.04);
  });

  test('gumbel: finite, mean is Euler-Mascheroni, variance pi^2/6', async () => {
    const v = await values(gumbelNoise([n], { backend: reference, seed: 5 }));
    expect(v.every(Number.isFinite)).toBe(true);
    const { mean, variance } = moments(v);
    expect(Math.abs(mean - 0.5772156649)).toBeLessThan(0.02);
    expect(Math.abs(variance - Math.PI ** 2 / 6)).toBeLessThan(0.05);
  });

  test('a GPU stream long enough to split the dispatch grid matches Philox at its far end', async () => {
    const gpu = others.find((o) => o.label === 'webgpu');
    if (!gpu) return;
    // 4 * 64 * 65,536 + 5 elements: 65,537 workgroups of 64 invocations (4 elements each) in x.
    const size = 4 * 64 * 65536 + 5;
    const t = randomBits([size], { backend: gpu.backend, seed: 9 });
    const v = await t.read();
    t.dispose();
    for (const i of [0, 5, size >> 1, size - 6, size - 1]) {
      expect(v[i], `element ${i}`).toBe(philox4x32([Math.floor(i / 4), 0, 0, 0], [9, 0])[i % 4]);
    }
  });
});

describe('randomUniform bounds', () => {
  const all = [{ label: 'reference', backend: reference }, ...others];

  // high - low overflows f32 here: the range is drawn at half scale and doubled.
  test('a range wider than the f32 maximum gives finite values in [low, high)', async () => {
    for (const { label, backend } of all) {
      const v = await values(randomUniform([4096], { backend, seed: 3, low: -3e38, high: 3e38 }));
      expect(range(v).min, label).toBeGreaterThanOrEqual(-3e38);
      expect(range(v).max, label).toBeLessThan(3e38);
      expect(Math.abs(moments(v).mean) / 3e38, label).toBeLessThan(0.05);
    }
  });

  // Around 1e6 f32 steps are 1/16, so low + (high - low) u rounds up to high for about 3% of draws;
  // those step down to the float below high.
  test('high stays exclusive when low + (high - low) u rounds up to it', async () => {
    for (const { label, backend } of all) {
      const v = await values(randomUniform([4096], { backend, seed: 3, low: 1e6, high: 1e6 + 1 }));
      expect(range(v).min, label).toBe(1e6);
      expect(range(v).max, label).toBe(1e6 + 1 - 1 / 16);
    }
    const top = await values(randomUniform([64], { backend: reference, seed: 3, low: 1, high: 1 }));
    expect(range(top)).toEqual({ min: 1, max: 1 }); // an empty range gives low, as before
  });

  test('bounds outside the f32 range are refused by name (they gave NaN or a constant)', () => {
    expect(() => randomUniform([4], { backend: reference, seed: 1, low: -1e39, high: 1 })).toThrow(
      'randomUniform: low -1e+39 is outside the f32 range (±3.4028235e38)',
    );
    expect(() => randomUniform([4], { backend: reference, seed: 1, low: 0, high: 1e39 })).toThrow(
      'randomUniform: high 1e+39 is outside the f32 range',
    );
  });
});

describe('seeds', () => {
  test('different seeds give different streams; the same seed the same one', async () => {
    const a = await randomBits([8], { backend: reference, seed: 10 }).read();
    const b = await randomBits([8], { backend: reference, seed: 11 }).read();
    const c = await randomBits([8], { backend: reference, seed: 10 }).read();
    expect(Array.from(a)).not.toEqual(Array.from(b));
    expect(Array.from(a)).toEqual(Array.from(c));
  });

  test('Rng draws distinct, reproducible seeds and splits', async () => {
    const r1 = new Rng(42);
    const r2 = new Rng(42);
    const seeds = Array.from({ length: 100 }, () => r1.next());
    expect(seeds).toEqual(Array.from({ length: 100 }, () => r2.next()));
    expect(new Set(seeds).size).toBe(100);
    expect(seeds.every((s) => Number.isSafeInteger(s) && s >= 0)).toBe(true);
    const child = new Rng(42).split();
    expect(child.next()).toBe(new Rng(new Rng(42).next()).next());
    const x = await randomUniform([4], { backend: reference, seed: new Rng(3) }).read();
    const y = await randomUniform([4], { backend: reference, seed: new Rng(3).next() }).read();
    expect(Array.from(x)).toEqual(Array.from(y));
  });

  test('bad arguments are named', () => {
    expect(() => randomUniform([2], { backend: reference, seed: 1.5 })).toThrow(
      'randomUniform: seed must be a safe integer',
    );
    expect(() => randomNormal([2], { backend: reference, seed: 1, std: -1 })).toThrow(
      'randomNormal: std must not be negative',
    );
    expect(() => randomUniform([2], { backend: reference, seed: 1, low: 2, high: 1 })).toThrow(
      'randomUniform: high (1) must not be below low (2)',
    );
    expect(() => randomBits([2, -1], { backend: reference, seed: 1 })).toThrow(
      'randomBits: shape [2,-1] has an invalid dimension -1',
    );
    expect(() => new Rng(Number.NaN)).toThrow('Rng: seed must be a safe integer');
  });
});
