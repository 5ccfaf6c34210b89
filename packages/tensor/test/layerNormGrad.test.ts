// layerNorm's backward uses the forward's corrected two-pass statistics on every backend: for a
// constant row the forward gives x̂ = 0 exactly, and the backward must see the same x̂ = 0 (a mean
// off by an ulp of the row's magnitude would give x̂ = ulps / sqrt(eps), not 0). Random rows still
// match finite differences.
//
// The analytic gradient of L = sum(layerNorm(x, γ, β) ⊙ w) for one row of n elements:
//   y = x̂ ⊙ γ + β,  x̂ = (x − μ)·r,  r = 1/√(var + eps),  g = ∂L/∂x̂ = w ⊙ γ
//   dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂)),  dγ = Σ_rows w ⊙ x̂,  dβ = Σ_rows w.
// A constant row has μ = x, var = 0, so x̂ = 0 and r = 1/√eps:
//   dx = (g − mean(g)) / √eps = (w ⊙ γ − mean(w ⊙ γ)) / √eps,  dγ = 0,  dβ = w.

import { describe, expect, test } from 'vitest';
import {
  type Backend,
  full,
  gradCheck,
  layerNorm,
  mul,
  sum,
  type Tensor,
  tensor,
  valueAndGrad,
} from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { freshSeed, randomArray, rng } from './util/random.js';

const { reference, others } = await suiteBackends({ withoutSubgroups: true });
const backends: { label: string; backend: Backend }[] = [
  { label: 'reference', backend: reference },
  ...others,
];

const EPS = 1e-5;

/** The gradients of sum(layerNorm(x, gamma, beta) * w) with respect to x (and gamma, beta). */
async function grads(x: Tensor, w: Tensor, gamma?: Tensor, beta?: Tensor): Promise<Float32Array[]> {
  const params = [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
  const { value, grads: g } = valueAndGrad(() => sum(mul(layerNorm(x, gamma, beta, EPS), w)), params);
  value.dispose();
  const out = await Promise.all(g.map((t) => t.read() as Promise<Float32Array>));
  for (const t of g) t.dispose();
  return out;
}

/** The largest |a - b| over the elements, with the index where it occurs. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; at: number } {
  let diff = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= diff)) [diff, at] = [d, i];
  }
  return { diff, at };
}

describe('layerNorm gradient of constant rows', () => {
  const cases = [5, 768, 4096].flatMap((n) =>
    [100.1, 1000.3].flatMap((v) => [true, false].map((affine) => [n, v, affine] as const)),
  );
  test.each(cases)(
    'width %i, value %f, gamma and beta %s: x̂ = 0, dx = (g − mean(g)) / √eps',
    async (n, v, affine) => {
      const seed = freshSeed();
      const next = rng(seed);
      const wData = randomArray(n, 'f32', next, [-2, 2]) as Float32Array;
      const gammaData = randomArray(n, 'f32', next, [0.5, 1.5]) as Float32Array;
      const betaData = randomArray(n, 'f32', next, [-1, 1]) as Float32Array;
      // The expected gradients in float64 from the f32 inputs.
      const g = Float64Array.from(wData, (w, j) => w * (affine ? gammaData[j]! : 1));
      const meanG = g.reduce((a, b) => a + b, 0) / n;
      const expectedDx = g.map((gj) => (gj - meanG) / Math.sqrt(EPS));
      const scale = Math.max(...expectedDx.map(Math.abs));
      for (const { label, backend } of backends) {
        const at = `${label}, seed ${seed}`;
        const x = full([1, n], v, { backend });
        const w = tensor(wData, [1, n], { backend });
        const gamma = affine ? tensor(gammaData, [n], { backend }) : undefined;
        const beta = affine ? tensor(betaData, [n], { backend }) : undefined;
        // The forward is exactly beta (0 without it): x̂ = 0.
        const y = await layerNorm(x, gamma, beta, EPS).read();
        expect.soft(maxDiff(y, affine ? betaData : new Float32Array(n)).diff, `forward, ${at}`).toBe(0);
        const [dx, dGamma, dBeta] = await grads(x, w, gamma, beta);
        // f32 rounding of g - mean(g) (sums over up to 4096 terms) magnified by 1/√eps ≈ 316.
        const dxErr = maxDiff(dx!, expectedDx);
        expect.soft(dxErr.diff, `dx at ${dxErr.at}, ${at}`).toBeLessThanOrEqual(2e-6 * scale);
        if (affine) {
          expect.soft(maxDiff(dGamma!, new Float32Array(n)).diff, `dgamma, ${at}`).toBe(0);
          expect.soft(maxDiff(dBeta!, wData).diff, `dbeta, ${at}`).toBe(0);
        }
        for (const t of [x, w, gamma, beta]) t?.dispose();
      }
    },
  );

  test('rows of different constants in one tensor, with gamma', async () => {
    const n = 768;
    const values = [100.1, 1000.3, -3.7, 0];
    const seed = freshSeed();
    const next = rng(seed);
    const wData = randomArray(values.length * n, 'f32', next) as Float32Array;
    const gammaData = randomArray(n, 'f32', next, [0.5, 1.5]) as Float32Array;
    const xData = Float32Array.from({ length: values.length * n }, (_, k) => values[Math.floor(k / n)]!);
    const expectedDx = new Float64Array(xData.length);
    for (let r = 0; r < values.length; r++) {
      let meanG = 0;
      for (let j = 0; j < n; j++) meanG += wData[r * n + j]! * gammaData[j]!;
      meanG /= n;
      for (let j = 0; j < n; j++)
        expectedDx[r * n + j] = (wData[r * n + j]! * gammaData[j]! - meanG) / Math.sqrt(EPS);
    }
    const scale = Math.max(...expectedDx.map(Math.abs));
    for (const { label, backend } of backends) {
      const x = tensor(xData, [values.length, n], { backend });
      const w = tensor(wData, [values.length, n], { backend });
      const gamma = tensor(gammaData, [n], { backend });
      const [dx, dGamma] = await grads(x, w, gamma);
      const at = `${label}, seed ${seed}`;
      expect.soft(maxDiff(dx!, expectedDx).diff, `dx, ${at}`).toBeLessThanOrEqual(2e-6 * scale);
      expect.soft(maxDiff(dGamma!, new Float32Array(n)).diff, `dgamma, ${at}`).toBe(0);
      for (const t of [x, w, gamma]) t.dispose();
    }
  });
});

describe('layerNorm gradient of random rows', () => {
  const shapes: { shape: number[]; range: [number, number] }[] = [
    { shape: [3, 5], range: [-2, 2] },
    { shape: [2, 40], range: [-2, 2] },
    { shape: [2, 3, 7], range: [99, 101] },
  ];
  for (const { shape, range } of shapes) {
    test.each(backends.map((b) => [b.label, b] as const))(
      `${JSON.stringify(shape)} in [${range}], x, gamma, beta on %s match finite differences`,
      async (_, { backend }) => {
        const seed = freshSeed();
        const next = rng(seed);
        const c = shape[shape.length - 1]!;
        const size = shape.reduce((a, b) => a * b, 1);
        const x = tensor(randomArray(size, 'f32', next, range), shape, { backend });
        const gamma = tensor(randomArray(c, 'f32', next), [c], { backend });
        const beta = tensor(randomArray(c, 'f32', next), [c], { backend });
        // Finite differences on the reference (float64 sums): an f32 forward at a mean of 100 is
        // noisy at the 1e-3 level once divided by the step.
        const r = await gradCheck((a, g, b) => layerNorm(a!, g, b, EPS), [x, gamma, beta], {
          seed,
          numericBackend: reference,
        });
        expect(r.ok, `${r.message} (seed ${seed})`).toBe(true);
        for (const t of [x, gamma, beta]) t.dispose();
      },
    );
  }
});
