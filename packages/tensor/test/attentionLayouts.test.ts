// Attention's other operand layouts against its [B, H, T, D] form (itself checked against a naive
// float64 loop in attention.test.ts): `layout: 'bthd'` and attentionQkv's packed projection, on
// every backend, forward, probabilities and gradients, plus their bad-input errors.
import { describe, expect, test } from 'vitest';
import {
  attention,
  attentionProbs,
  attentionQkv,
  type Backend,
  gradCheck,
  type Tensor,
  tensor,
  tidy,
} from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { expectClose } from './util/compare.js';
import { freshSeed, randomArray, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

interface LayoutCase {
  b: number;
  hq: number;
  hkv: number;
  t: number;
  d: number;
  causal?: boolean;
  /** A bool padding mask [B, T] (random, with each row's first key kept). */
  padding?: boolean;
}

interface BthdCase {
  b: number;
  hq: number;
  hkv: number;
  tq: number;
  tk: number;
  d: number;
  dv?: number;
  causal?: boolean;
  kvLength?: number;
  queryOffset?: number;
  mask?: { shape: number[]; kind: 'bool' | 'additive' };
}

const name = (c: LayoutCase) =>
  `B${c.b} Hq${c.hq}/Hkv${c.hkv} T${c.t} D${c.d}${c.causal ? ' causal' : ''}${c.padding ? ' padding mask' : ''}`;

/** `[B, X, Y, D]` -> `[B, Y, X, D]` on the host. */
function swap12(x: Float32Array, [b, n1, n2, d]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < b!; i++)
    for (let j = 0; j < n1!; j++)
      for (let k = 0; k < n2!; k++) {
        const from = ((i * n1! + j) * n2! + k) * d!;
        out.set(x.subarray(from, from + d!), ((i * n2! + k) * n1! + j) * d!);
      }
  return out;
}

/** q, k, v `[B, H, T, D]` packed per token as q heads, k heads, v heads: `[B, T, (Hq + 2·Hkv)·D]`. */
function pack(c: LayoutCase, q: Float32Array, k: Float32Array, v: Float32Array): Float32Array {
  const width = (c.hq + 2 * c.hkv) * c.d;
  const out = new Float32Array(c.b * c.t * width);
  const parts: [Float32Array, number, number][] = [
    [q, c.hq, 0],
    [k, c.hkv, c.hq * c.d],
    [v, c.hkv, (c.hq + c.hkv) * c.d],
  ];
  for (const [x, heads, offset] of parts) {
    const bthd = swap12(x, [c.b, heads, c.t, c.d]);
    for (let bt = 0; bt < c.b * c.t; bt++)
      out.set(bthd.subarray(bt * heads * c.d, (bt + 1) * heads * c.d), bt * width + offset);
  }
  return out;
}

function operands(c: LayoutCase, seed: number) {
  const next = rng(seed);
  const q = randomArray(c.b * c.hq * c.t * c.d, 'f32', next) as Float32Array;
  const k = randomArray(c.b * c.hkv * c.t * c.d, 'f32', next) as Float32Array;
  const v = randomArray(c.b * c.hkv * c.t * c.d, 'f32', next) as Float32Array;
  const mask = c.padding ? (randomArray(c.b * c.t, 'bool', next) as Uint8Array) : undefined;
  for (let b = 0; mask && b < c.b; b++) mask[b * c.t] = 1;
  return { q, k, v, mask };
}

const cases: LayoutCase[] = [
  { b: 2, hq: 4, hkv: 4, t: 7, d: 8 },
  { b: 1, hq: 4, hkv: 2, t: 33, d: 16, causal: true },
  { b: 2, hq: 2, hkv: 1, t: 17, d: 8, padding: true },
  { b: 1, hq: 3, hkv: 3, t: 50, d: 64 },
  // One token: the decode kernel on WebGPU.
  { b: 2, hq: 4, hkv: 2, t: 1, d: 8 },
];

describe('attention layouts', () => {
  test.each(cases.map((c) => [name(c), c] as const))('bthd and packed qkv: %s', async (_, c) => {
    const seed = freshSeed();
    const { q, k, v, mask } = operands(c, seed);
    const qShape = [c.b, c.hq, c.t, c.d];
    const kvShape = [c.b, c.hkv, c.t, c.d];
    const expected = tidy(() => {
      const t = (x: Float32Array, s: number[]) => tensor(x, s, { backend: reference });
      const m = mask && tensor(mask, [c.b, c.t], { backend: reference, dtype: 'bool' });
      return attention(t(q, qShape), t(k, kvShape), t(v, kvShape), { causal: c.causal, mask: m });
    });
    const want = swap12((await expected.read()) as Float32Array, qShape); // [B, T, Hq, D]
    expected.dispose();
    const qkv = pack(c, q, k, v);
    for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
      const what = `${name(c)} on ${label} (seed ${seed})`;
      const m = () => mask && tensor(mask, [c.b, c.t], { backend, dtype: 'bool' });
      const bthd = tidy(() => {
        const t = (x: Float32Array, s: number[]) =>
          tensor(swap12(x, s), [s[0]!, s[2]!, s[1]!, s[3]!], { backend });
        return attention(t(q, qShape), t(k, kvShape), t(v, kvShape), {
          causal: c.causal,
          mask: m(),
          layout: 'bthd',
        });
      });
      expect(bthd.shape, what).toEqual([c.b, c.t, c.hq, c.d]);
      expectClose(await bthd.read(), want, 2e-5, `bthd ${what}`, 1e-4);
      bthd.dispose();
      const packed = tidy(() =>
        attentionQkv(tensor(qkv, [c.b, c.t, qkv.length / (c.b * c.t)], { backend }), {
          heads: c.hq,
          kvHeads: c.hkv,
          causal: c.causal,
          mask: m(),
        }),
      );
      expect(packed.shape, what).toEqual([c.b, c.t, c.hq * c.d]);
      expectClose(await packed.read(), want, 2e-5, `packed ${what}`, 1e-4);
      packed.dispose();
    }
  });

  // bthd with what packed qkv cannot have: Tq != Tk, a cache's valid prefix, a query offset, Dv != D,
  // 4-D and additive masks, one query (decode).
  test.each([
    { b: 2, hq: 4, hkv: 2, tq: 3, tk: 9, d: 8, kvLength: 6, queryOffset: 2, causal: true },
    { b: 1, hq: 4, hkv: 1, tq: 1, tk: 20, d: 16, dv: 8, kvLength: 13, causal: true },
    { b: 2, hq: 2, hkv: 2, tq: 5, tk: 7, d: 8, mask: { shape: [2, 1, 5, 7], kind: 'additive' } },
    {
      b: 1,
      hq: 2,
      hkv: 1,
      tq: 33,
      tk: 40,
      d: 8,
      kvLength: 35,
      mask: { shape: [1, 2, 33, 40], kind: 'bool' },
    },
  ] as BthdCase[])('bthd against bhtd: %j', async (c) => {
    const seed = freshSeed();
    const next = rng(seed);
    const dv = c.dv ?? c.d;
    const shapes = [
      [c.b, c.hq, c.tq, c.d],
      [c.b, c.hkv, c.tk, c.d],
      [c.b, c.hkv, c.tk, dv],
    ];
    const [q, k, v] = shapes.map(
      (s) =>
        randomArray(
          s.reduce((a, x) => a * x, 1),
          'f32',
          next,
        ) as Float32Array,
    );
    const size = c.mask ? c.mask.shape.reduce((a, x) => a * x, 1) : 0;
    const mask = c.mask
      ? c.mask.kind === 'bool'
        ? (randomArray(size, 'bool', next) as Uint8Array)
        : Float32Array.from({ length: size }, () =>
            next() < 0.2 ? Number.NEGATIVE_INFINITY : 4 * next() - 2,
          )
      : undefined;
    const options = (m: Tensor | undefined) => ({
      causal: c.causal,
      kvLength: c.kvLength,
      queryOffset: c.queryOffset,
      mask: m,
    });
    const maskOn = (backend: Backend) =>
      mask && tensor(mask, c.mask!.shape, { backend, dtype: c.mask!.kind === 'bool' ? 'bool' : 'f32' });
    const expected = tidy(() => {
      const [tq, tk, tv] = [q, k, v].map((x, i) => tensor(x!, shapes[i]!, { backend: reference }));
      return attention(tq!, tk!, tv!, options(maskOn(reference)));
    });
    const want = swap12((await expected.read()) as Float32Array, [c.b, c.hq, c.tq, dv]);
    expected.dispose();
    for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
      const y = tidy(() => {
        const [tq, tk, tv] = [q, k, v].map((x, i) => {
          const s = shapes[i]!;
          return tensor(swap12(x!, s), [s[0]!, s[2]!, s[1]!, s[3]!], { backend });
        });
        return attention(tq!, tk!, tv!, { ...options(maskOn(backend)), layout: 'bthd' });
      });
      expect(y.shape).toEqual([c.b, c.tq, c.hq, dv]);
      expectClose(await y.read(), want, 2e-5, `${JSON.stringify(c)} on ${label} (seed ${seed})`, 1e-4);
      y.dispose();
    }
  });

  test('attentionProbs reads the bthd layout too', async () => {
    const c: LayoutCase = { b: 2, hq: 4, hkv: 2, t: 9, d: 8, causal: true };
    const seed = freshSeed();
    const { q, k, v } = operands(c, seed);
    const qShape = [c.b, c.hq, c.t, c.d];
    const kvShape = [c.b, c.hkv, c.t, c.d];
    const expected = tidy(() => {
      const t = (x: Float32Array, s: number[]) => tensor(x, s, { backend: reference });
      return attentionProbs(t(q, qShape), t(k, kvShape), t(v, kvShape), { causal: true });
    });
    const want = await expected.read();
    expected.dispose();
    for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
      const p = tidy(() => {
        const t = (x: Float32Array, s: number[]) =>
          tensor(swap12(x, s), [s[0]!, s[2]!, s[1]!, s[3]!], { backend });
        return attentionProbs(t(q, qShape), t(k, kvShape), t(v, kvShape), { causal: true, layout: 'bthd' });
      });
      expectClose(await p.read(), want, 1e-6, `probs on ${label} (seed ${seed})`, 1e-4);
      p.dispose();
    }
  });

  // Gradients against finite differences on the CPU backends (WebGPU's backward pipelines take
  // seconds each to compile on a software driver; see attention.test.ts).
  test.each([
    { b: 1, hq: 2, hkv: 1, t: 4, d: 4, causal: true },
    { b: 2, hq: 2, hkv: 2, t: 3, d: 4, padding: true },
  ] as LayoutCase[])('gradients of bthd and packed qkv: %j', async (c) => {
    const seed = freshSeed();
    const { q, k, v, mask } = operands(c, seed);
    const qShape = [c.b, c.hq, c.t, c.d];
    const kvShape = [c.b, c.hkv, c.t, c.d];
    const qkv = pack(c, q, k, v);
    const backends = [{ label: 'reference', backend: reference }, ...others].filter(
      ({ label }) => label !== 'webgpu',
    );
    const options = { eps: 1e-2, atol: 2e-3, rtol: 2e-2, numericBackend: reference };
    for (const { label, backend } of backends) {
      // The mask is an input (not differentiated) so that the numeric side gets its own copy.
      const m = mask ? [tensor(mask, [c.b, c.t], { backend, dtype: 'bool' })] : [];
      const t = (x: Float32Array, s: number[]) =>
        tensor(swap12(x, s), [s[0]!, s[2]!, s[1]!, s[3]!], { backend });
      const bthd = [t(q, qShape), t(k, kvShape), t(v, kvShape)];
      const f = (a: Tensor, b: Tensor, d: Tensor, mt?: Tensor) =>
        attention(a, b, d, { causal: c.causal, mask: mt, layout: 'bthd' });
      const r1 = await gradCheck(f, [...bthd, ...m], { ...options, wrt: [0, 1, 2] });
      expect(r1.ok, `bthd on ${label} (seed ${seed}): ${r1.message}`).toBe(true);
      const packed = tensor(qkv, [c.b, c.t, qkv.length / (c.b * c.t)], { backend });
      const g = (x: Tensor, mt?: Tensor) =>
        attentionQkv(x, { heads: c.hq, kvHeads: c.hkv, causal: c.causal, mask: mt });
      const r2 = await gradCheck(g, [packed, ...m], { ...options, wrt: [0] });
      expect(r2.ok, `packed on ${label} (seed ${seed}): ${r2.message}`).toBe(true);
      for (const x of [...bthd, packed, ...m]) x.dispose();
    }
  });

  test('bad inputs name the op, the layout and the shapes', () => {
    const t = (shape: number[]) =>
      tensor(new Float32Array(shape.reduce((a, x) => a * x, 1)), shape, { backend: reference });
    const k = t([1, 5, 4, 8]);
    expect(() => attention(t([1, 3, 6, 8]), k, k, { layout: 'bthd' })).toThrow(
      "attention: q's 6 heads are not a multiple of k's 4 heads (q f32[1, 3, 6, 8], k f32[1, 5, 4, 8])",
    );
    expect(() => attention(t([3, 4, 8]), k, k, { layout: 'bthd' })).toThrow(
      'attention: q must have rank 4 [B, Tq, Hq, D], got f32[3, 4, 8]',
    );
    expect(() => attention(t([1, 3, 4, 8]), k, k, { layout: 'bhdt' as never })).toThrow(
      `attention: layout must be 'bhtd' or 'bthd', got "bhdt"`,
    );
    expect(() => attentionQkv(t([1, 5, 100]), { heads: 4 })).toThrow(
      'attentionQkv: qkv f32[1, 5, 100]: its last axis must be (heads + 2·kvHeads)·D = 12·D for 4 query and 4 kv heads',
    );
    expect(() => attentionQkv(t([5, 96]), { heads: 4 })).toThrow(
      'attentionQkv: qkv must have rank 3 [B, T, (Hq + 2·Hkv)·D], got f32[5, 96]',
    );
    expect(() => attentionQkv(t([1, 5, 96]), { heads: 4, kvHeads: 3 })).toThrow(
      'attentionQkv: heads 4 and kvHeads 3 must be positive integers, heads a multiple of kvHeads',
    );
    expect(() => attentionQkv(t([1, 5, 96]), { heads: 4, mask: t([1, 4]) })).toThrow(
      'attentionQkv: the mask f32[1, 4] does not fit',
    );
  });
});
