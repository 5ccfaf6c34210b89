// The training objective's pieces against finite differences (gradCheck) and against direct
// evaluations of their formulas in float64, on the CPU backend.
import { type Tensor, createBackend, gradCheck, randomNormal, randomUniform, tensor } from '@vl/tensor';
import { afterAll, describe, expect, test } from 'vitest';
import {
  codebookUsage,
  codebookUsageFromCounts,
  cosineAnneal,
  dvaeLoss,
  gumbelSoftmax,
  initDvaeParams,
  klToUniform,
  logitLaplaceLogProb,
  parseDvaeConfig,
  splitDecoderStats,
} from '../src/index.js';

const backend = await createBackend('cpu');
afterAll(() => backend.dispose());

async function readAll(...ts: Tensor[]): Promise<Float32Array[]> {
  const out = await Promise.all(ts.map((t) => t.read() as Promise<Float32Array>));
  return out;
}

describe('logitLaplaceLogProb', () => {
  test('is the log of the density 1 / (2 b x (1 - x)) exp(-|logit x - mu| / b)', async () => {
    const x = randomUniform([2, 3, 4], { backend, seed: 1, low: 0.1, high: 0.9 }); // [2, 3, 4]
    const mu = randomNormal([2, 3, 4], { backend, seed: 2 }); // [2, 3, 4]
    const lnB = randomNormal([2, 3, 4], { backend, seed: 3, std: 0.5 }); // [2, 3, 4]
    const lp = logitLaplaceLogProb(x, mu, lnB); // [2, 3, 4]
    const [xs, ms, bs, got] = await readAll(x, mu, lnB, lp);
    for (let i = 0; i < xs!.length; i++) {
      const xi = xs![i]!;
      const b = Math.exp(bs![i]!);
      const density = Math.exp(-Math.abs(Math.log(xi / (1 - xi)) - ms![i]!) / b) / (2 * b * xi * (1 - xi));
      expect(got![i]).toBeCloseTo(Math.log(density), 4);
    }
    for (const t of [x, mu, lnB, lp]) t.dispose();
  });

  test('integrates to 1 over (0, 1)', async () => {
    // Midpoint rule in logit space (x = sigmoid(y), dx = x (1 - x) dy), where the density is smooth
    // apart from its peak at y = mu.
    const n = 4000;
    const ys = Float32Array.from({ length: n }, (_, i) => -12 + (24 * (i + 0.5)) / n);
    const xs = ys.map((y) => 1 / (1 + Math.exp(-y)));
    const x = tensor(xs, [n], { backend });
    const mu = tensor(new Float32Array(n).fill(0.7), [n], { backend });
    const lnB = tensor(new Float32Array(n).fill(Math.log(0.8)), [n], { backend });
    const lp = logitLaplaceLogProb(x, mu, lnB); // [n]
    const [v] = await readAll(lp);
    let total = 0;
    for (let i = 0; i < n; i++) total += Math.exp(v![i]!) * xs[i]! * (1 - xs[i]!) * (24 / n);
    expect(total).toBeCloseTo(1, 3);
    for (const t of [x, mu, lnB, lp]) t.dispose();
  });

  test('gradients in mu and the log-scale match finite differences', async () => {
    const x = tensor([0.15, 0.4, 0.62, 0.85, 0.3, 0.7], [2, 3], { backend });
    // Locations away from logit(x), where |.| has its kink.
    const mu = tensor([-2.5, 0.9, -0.8, 2.9, 0.4, -0.3], [2, 3], { backend });
    const lnB = tensor([0.2, -0.4, 0.1, -0.2, 0.5, 0.0], [2, 3], { backend });
    const r = await gradCheck((a, m, s) => logitLaplaceLogProb(a!, m!, s!), [x, mu, lnB], {
      wrt: [1, 2],
      eps: 1e-2,
    });
    expect(r.ok, r.message).toBe(true);
    for (const t of [x, mu, lnB]) t.dispose();
  });

  test('rejects mismatched shapes and odd stats channels', () => {
    const a = tensor([0.5, 0.5], [2], { backend });
    const b = tensor([0.5, 0.5, 0.5], [3], { backend });
    expect(() => logitLaplaceLogProb(a, b, a)).toThrow(/must have one shape/);
    const stats = tensor(new Float32Array(5 * 4), [1, 5, 2, 2], { backend });
    expect(() => splitDecoderStats(stats)).toThrow(/\[B, 2C, H, W\]/);
    for (const t of [a, b, stats]) t.dispose();
  });
});

describe('gumbelSoftmax and klToUniform', () => {
  test('gumbel-softmax rows sum to 1 and sharpen as tau falls', async () => {
    const logits = randomNormal([2, 8, 3, 3], { backend, seed: 4 }); // [B, V, h, w]
    const soft = gumbelSoftmax(logits, { tau: 1, seed: 9 }); // [2, 8, 3, 3]
    const sharp = gumbelSoftmax(logits, { tau: 1 / 16, seed: 9 }); // same noise
    const [s1, s2] = await readAll(soft, sharp);
    const maxOf = (v: Float32Array, n: number, cell: number) => {
      let m = 0;
      let total = 0;
      for (let k = 0; k < 8; k++) {
        const p = v[(n * 8 + k) * 9 + cell]!;
        m = Math.max(m, p);
        total += p;
      }
      return { m, total };
    };
    let meanSoft = 0;
    let meanSharp = 0;
    for (let n = 0; n < 2; n++) {
      for (let cell = 0; cell < 9; cell++) {
        const a = maxOf(s1!, n, cell);
        const b = maxOf(s2!, n, cell);
        expect(a.total).toBeCloseTo(1, 5);
        expect(b.total).toBeCloseTo(1, 5);
        meanSoft += a.m / 18;
        meanSharp += b.m / 18;
      }
    }
    expect(meanSharp).toBeGreaterThan(0.9);
    expect(meanSharp).toBeGreaterThan(meanSoft);
    expect(() => gumbelSoftmax(logits, { tau: 0, seed: 1 })).toThrow(/tau must be a finite number > 0/);
    for (const t of [logits, soft, sharp]) t.dispose();
  });

  test('gumbel-softmax gradient matches finite differences (fixed noise)', async () => {
    const logits = randomNormal([1, 5, 2, 2], { backend, seed: 5 }); // [1, V, 2, 2]
    const r = await gradCheck((l) => gumbelSoftmax(l!, { tau: 0.7, seed: 3 }), [logits]);
    expect(r.ok, r.message).toBe(true);
    logits.dispose();
  });

  test('KL to the uniform prior is sum q ln q + ln V: 0 for equal logits, its gradient checks', async () => {
    const logits = randomNormal([2, 6, 2, 3], { backend, seed: 6, std: 2 }); // [B, V, h, w]
    const kl = klToUniform(logits); // [2, 2, 3]
    expect(kl.shape).toEqual([2, 2, 3]);
    const [l, k] = await readAll(logits, kl);
    for (let n = 0; n < 2; n++) {
      for (let cell = 0; cell < 6; cell++) {
        const row = Array.from({ length: 6 }, (_, v) => l![(n * 6 + v) * 6 + cell]!);
        const m = Math.max(...row);
        const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
        const want = row.reduce((s, v) => {
          const q = Math.exp(v - m) / z;
          return s + q * Math.log(q);
        }, Math.log(6));
        expect(k![n * 6 + cell]).toBeCloseTo(want, 5);
      }
    }
    const flat = tensor(new Float32Array(2 * 6).fill(0.3), [2, 6], { backend });
    const zero = klToUniform(flat, -1); // [2]
    expect(Array.from(await zero.read()).every((v) => Math.abs(v) < 1e-6)).toBe(true);
    const r = await gradCheck((x) => klToUniform(x!), [logits]);
    expect(r.ok, r.message).toBe(true);
    for (const t of [logits, kl, flat, zero]) t.dispose();
  });
});

describe('dvaeLoss', () => {
  const config = parseDvaeConfig({
    encoder: { group_count: 2, n_hid: 8, n_blk_per_group: 1, vocab_size: 6 },
    decoder: { group_count: 2, n_init: 4, n_hid: 8, n_blk_per_group: 1, vocab_size: 6 },
  });

  test('its gradient through encoder, relaxation and decoder matches finite differences', async () => {
    const params = initDvaeParams(config, { backend, seed: 11 });
    const images = randomUniform([1, 3, 4, 4], { backend, seed: 12 }); // [1, 3, 4, 4]
    // A few parameters from each half, perturbed away from zero so no bias sits on a relu kink.
    const names = {
      encoder: ['blocks.output.conv.w', 'blocks.group_2.block_1.res_path.conv_4.b'],
      decoder: ['blocks.input.w', 'blocks.output.conv.b'],
    } as const;
    const picked: Tensor[] = [];
    for (const half of ['encoder', 'decoder'] as const) {
      for (const name of names[half]) {
        const t = params[half].get(name)!;
        const bump = randomNormal(t.shape, { backend, seed: picked.length + 20, std: 0.3 });
        const [base, noise] = await readAll(t, bump);
        picked.push(
          tensor(
            base!.map((x, i) => x + noise![i]!),
            t.shape,
            { backend },
          ),
        );
        bump.dispose();
      }
    }
    const f = (...ts: Tensor[]): Tensor => {
      const enc = new Map(params.encoder);
      const dec = new Map(params.decoder);
      enc.set(names.encoder[0], ts[0]!);
      enc.set(names.encoder[1], ts[1]!);
      dec.set(names.decoder[0], ts[2]!);
      dec.set(names.decoder[1], ts[3]!);
      const parts = dvaeLoss({ encoder: enc, decoder: dec }, images, config, { tau: 0.8, beta: 2, seed: 5 });
      return parts.loss; // []
    };
    const r = await gradCheck(f, picked, { eps: 3e-3, rtol: 3e-2, atol: 2e-3 });
    expect(r.ok, r.message).toBe(true);
    for (const t of [...picked, images, ...params.encoder.values(), ...params.decoder.values()]) t.dispose();
  });
});

describe('schedules and codebook statistics', () => {
  test('cosineAnneal goes from `from` to `to` along a half cosine', () => {
    const tau = cosineAnneal({ from: 1, to: 1 / 16, steps: 100 });
    expect(tau(0)).toBe(1);
    expect(tau(50)).toBeCloseTo((1 + 1 / 16) / 2, 12);
    expect(tau(100)).toBe(1 / 16);
    expect(tau(1e6)).toBe(1 / 16);
    const beta = cosineAnneal({ from: 0, to: 6.6, steps: 10 });
    for (let s = 1; s <= 10; s++) expect(beta(s)).toBeGreaterThan(beta(s - 1));
    expect(() => cosineAnneal({ from: 0, to: 1, steps: -1 })).toThrow(/steps/);
  });

  test('perplexity and dead codes', async () => {
    const u = codebookUsageFromCounts(Uint32Array.from([5, 5, 0, 0]));
    expect(u.perplexity).toBeCloseTo(2, 12);
    expect(u.deadCodes).toBe(2);
    expect(u.usedCodes).toBe(2);
    const even = codebookUsageFromCounts(new Uint32Array(16).fill(3));
    expect(even.perplexity).toBeCloseTo(16, 10);
    const tokens = tensor(new Int32Array([0, 1, 1, 3, 3, 3]), [1, 2, 3], { backend });
    const usage = await codebookUsage(tokens, 5);
    expect(Array.from(usage.counts)).toEqual([1, 2, 0, 3, 0]);
    expect(usage.deadCodes).toBe(2);
    const p = [1 / 6, 2 / 6, 3 / 6];
    expect(usage.perplexity).toBeCloseTo(Math.exp(-p.reduce((s, q) => s + q * Math.log(q), 0)), 10);
    await expect(codebookUsage(tokens, 3)).rejects.toThrow(/token id 3 is outside \[0, 3\)/);
    tokens.dispose();
  });
});
