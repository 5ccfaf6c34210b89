import { describe, expect, test } from 'vitest';
import {
  type AttentionOptions,
  attention,
  attentionProbs,
  gradCheck,
  type Tensor,
  tensor,
  tidy,
} from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { checkKernelCase } from './util/checkKernel.js';
import { expectClose } from './util/compare.js';
import { freshSeed, randomArray, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

interface MaskSpec {
  shape: number[];
  kind: 'bool' | 'additive';
  /** Explicit values (else random: bool half true, additive in [-2, 2] with some -Infinity). */
  data?: Uint8Array | Float32Array;
}

interface AttentionCase {
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
  scale?: number;
  mask?: MaskSpec;
}

/** Attention written out the slow way in float64, independent of the kernel's code. */
function naiveAttention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  mask: Uint8Array | Float32Array | undefined,
  c: AttentionCase,
): Float32Array {
  const dv = c.dv ?? c.d;
  const n = c.kvLength ?? c.tk;
  const offset = c.queryOffset ?? n - c.tq;
  const scale = c.scale ?? 1 / Math.sqrt(c.d);
  const out = new Float32Array(c.b * c.hq * c.tq * dv);
  // Broadcast strides of the mask viewed as [B, Hq, Tq, keys].
  const ms = c.mask?.shape ?? [];
  const m4 = ms.length === 2 ? [ms[0]!, 1, 1, ms[1]!] : ms;
  const stride = (axis: number) => (m4[axis] === 1 ? 0 : m4.slice(axis + 1).reduce((a, x) => a * x, 1));
  for (let b = 0; b < c.b; b++) {
    for (let h = 0; h < c.hq; h++) {
      const hk = Math.floor(h / (c.hq / c.hkv));
      for (let i = 0; i < c.tq; i++) {
        const s: number[] = [];
        for (let j = 0; j < n; j++) {
          let visible = !c.causal || j <= i + offset;
          let add = 0;
          if (mask) {
            const m = mask[b * stride(0) + h * stride(1) + i * stride(2) + j]!;
            if (c.mask!.kind === 'bool') visible &&= m !== 0;
            else add = m;
          }
          let dot = 0;
          for (let x = 0; x < c.d; x++)
            dot += q[((b * c.hq + h) * c.tq + i) * c.d + x]! * k[((b * c.hkv + hk) * c.tk + j) * c.d + x]!;
          s.push(visible ? dot * scale + add : Number.NEGATIVE_INFINITY);
        }
        const max = Math.max(...s);
        if (max === Number.NEGATIVE_INFINITY) continue;
        const e = s.map((x) => Math.exp(x - max));
        const total = e.reduce((a, x) => a + x, 0);
        for (let x = 0; x < dv; x++) {
          let acc = 0;
          for (let j = 0; j < n; j++) acc += (e[j]! / total) * v[((b * c.hkv + hk) * c.tk + j) * dv + x]!;
          out[((b * c.hq + h) * c.tq + i) * dv + x] = acc;
        }
      }
    }
  }
  return out;
}

function caseName(c: AttentionCase): string {
  const parts = [`B${c.b} Hq${c.hq}/Hkv${c.hkv} Tq${c.tq} Tk${c.tk} D${c.d}`];
  if (c.dv !== undefined) parts.push(`Dv${c.dv}`);
  if (c.causal) parts.push('causal');
  if (c.kvLength !== undefined) parts.push(`kvLength${c.kvLength}`);
  if (c.queryOffset !== undefined) parts.push(`offset${c.queryOffset}`);
  if (c.mask) parts.push(`${c.mask.kind} mask ${JSON.stringify(c.mask.shape)}`);
  return parts.join(' ');
}

function randomMask(spec: MaskSpec, next: () => number): Uint8Array | Float32Array {
  if (spec.data) return spec.data;
  const size = spec.shape.reduce((a, x) => a * x, 1);
  if (spec.kind === 'bool') return randomArray(size, 'bool', next) as Uint8Array;
  return Float32Array.from({ length: size }, () =>
    next() < 0.2 ? Number.NEGATIVE_INFINITY : 4 * next() - 2,
  );
}

async function checkAttention(c: AttentionCase, seed: number): Promise<void> {
  const next = rng(seed);
  const dv = c.dv ?? c.d;
  const q = randomArray(c.b * c.hq * c.tq * c.d, 'f32', next) as Float32Array;
  const k = randomArray(c.b * c.hkv * c.tk * c.d, 'f32', next) as Float32Array;
  const v = randomArray(c.b * c.hkv * c.tk * dv, 'f32', next) as Float32Array;
  // Past kvLength the cache holds garbage that must never be read.
  if (c.kvLength !== undefined) {
    for (let i = 0; i < c.b * c.hkv; i++) {
      k.fill(Number.NaN, (i * c.tk + c.kvLength) * c.d, (i + 1) * c.tk * c.d);
      v.fill(Number.NaN, (i * c.tk + c.kvLength) * dv, (i + 1) * c.tk * dv);
    }
  }
  const mask = c.mask ? randomMask(c.mask, next) : undefined;
  const options = (m?: Tensor): AttentionOptions => ({
    causal: c.causal,
    kvLength: c.kvLength,
    queryOffset: c.queryOffset,
    scale: c.scale,
    mask: m,
  });
  const inputs = [
    { shape: [c.b, c.hq, c.tq, c.d], data: q },
    { shape: [c.b, c.hkv, c.tk, c.d], data: k },
    { shape: [c.b, c.hkv, c.tk, dv], data: v },
  ];
  if (c.mask && mask)
    inputs.push({
      shape: c.mask.shape,
      data: mask as Float32Array,
      dtype: c.mask.kind === 'bool' ? 'bool' : 'f32',
    } as never);
  await checkKernelCase(
    {
      name: caseName(c),
      inputs,
      run: (qt, kt, vt, mt) => attention(qt!, kt!, vt!, options(mt)),
      atol: 2e-5,
      rtol: 1e-4,
    },
    reference,
    others,
    seed,
  );
  const ours = tidy(() => {
    const t = (data: Float32Array | Uint8Array, shape: number[], dtype: 'f32' | 'bool' = 'f32') =>
      tensor(data, shape, { backend: reference, dtype });
    const m = c.mask && mask ? t(mask, c.mask.shape, c.mask.kind === 'bool' ? 'bool' : 'f32') : undefined;
    return attention(t(q, inputs[0]!.shape), t(k, inputs[1]!.shape), t(v, inputs[2]!.shape), options(m));
  });
  expectClose(
    await ours.read(),
    naiveAttention(q, k, v, mask, c),
    1e-5,
    `${caseName(c)} vs naive (seed ${seed})`,
    1e-5,
  );
  ours.dispose();
}

const cases: AttentionCase[] = [
  // Decode (Tq = 1) against short and long key ranges, grouped heads.
  { b: 1, hq: 4, hkv: 1, tq: 1, tk: 1, d: 8 },
  { b: 2, hq: 4, hkv: 2, tq: 1, tk: 130, d: 64 },
  { b: 1, hq: 4, hkv: 4, tq: 1, tk: 17, d: 80, causal: true },
  { b: 1, hq: 4, hkv: 2, tq: 1, tk: 130, d: 8, kvLength: 57, causal: true },
  { b: 2, hq: 4, hkv: 1, tq: 1, tk: 17, d: 8, mask: { shape: [2, 17], kind: 'bool' } },
  { b: 1, hq: 4, hkv: 2, tq: 1, tk: 130, d: 80, dv: 24, mask: { shape: [1, 4, 1, 130], kind: 'additive' } },
  // Prefill (flash kernel): several query blocks, partial key tiles.
  { b: 1, hq: 4, hkv: 4, tq: 7, tk: 17, d: 8 },
  { b: 2, hq: 4, hkv: 1, tq: 33, tk: 33, d: 64, causal: true },
  { b: 1, hq: 4, hkv: 2, tq: 33, tk: 130, d: 80, causal: true },
  { b: 1, hq: 4, hkv: 2, tq: 7, tk: 130, d: 80, kvLength: 70, causal: true },
  { b: 1, hq: 4, hkv: 2, tq: 7, tk: 17, d: 8, dv: 24 },
  { b: 1, hq: 4, hkv: 4, tq: 33, tk: 1, d: 8 },
  { b: 2, hq: 4, hkv: 2, tq: 7, tk: 17, d: 8, mask: { shape: [2, 17], kind: 'bool' } },
  {
    b: 2,
    hq: 4,
    hkv: 2,
    tq: 33,
    tk: 17,
    d: 8,
    mask: { shape: [1, 1, 33, 17], kind: 'additive' },
    causal: true,
  },
  { b: 2, hq: 4, hkv: 4, tq: 7, tk: 17, d: 8, mask: { shape: [2, 4, 7, 17], kind: 'bool' }, scale: 0.3 },
  // Causal with an explicit query offset (chunked prefill into a cache) and a negative one, which
  // leaves the first rows without any visible key: they must be zeros.
  { b: 1, hq: 4, hkv: 2, tq: 7, tk: 40, d: 8, kvLength: 30, queryOffset: 12, causal: true },
  { b: 1, hq: 4, hkv: 1, tq: 7, tk: 17, d: 8, queryOffset: -3, causal: true },
  { b: 1, hq: 4, hkv: 1, tq: 1, tk: 17, d: 8, queryOffset: -1, causal: true },
  // Offsets at the ends of the i32 range (every key, or none, visible): the CPU's fused job clamps
  // them before its i + offset + 1; and causal with a scale of 0 or below (masked keys must not
  // turn into -inf * 0 = NaN).
  { b: 1, hq: 2, hkv: 1, tq: 5, tk: 9, d: 8, queryOffset: 2 ** 31 - 1, causal: true },
  { b: 1, hq: 2, hkv: 1, tq: 5, tk: 9, d: 8, queryOffset: -(2 ** 31) + 1, causal: true },
  { b: 1, hq: 2, hkv: 2, tq: 6, tk: 6, d: 8, causal: true, scale: 0 },
  { b: 1, hq: 2, hkv: 2, tq: 6, tk: 6, d: 8, causal: true, scale: -0.5 },
  // A mask whose last axis is kvLength rather than the cache's allocated length.
  { b: 1, hq: 4, hkv: 2, tq: 7, tk: 40, d: 8, kvLength: 20, mask: { shape: [1, 20], kind: 'bool' } },
];

describe('attention', () => {
  test.each(cases.map((c) => [caseName(c), c] as const))('%s', async (_, c) => {
    await checkAttention(c, freshSeed());
  });

  test('fully masked rows give zeros on every mask kind', async () => {
    // Row 1 of batch 0 masks every key with false; row 2 with -Infinity.
    const bool = new Uint8Array(1 * 1 * 3 * 17).fill(1);
    bool.fill(0, 17, 34);
    const additive = new Float32Array(3 * 17);
    additive.fill(Number.NEGATIVE_INFINITY, 34, 51);
    for (const mask of [
      { shape: [1, 1, 3, 17], kind: 'bool', data: bool },
      { shape: [1, 1, 3, 17], kind: 'additive', data: additive },
    ] as MaskSpec[]) {
      await checkAttention({ b: 1, hq: 2, hkv: 1, tq: 3, tk: 17, d: 8, mask }, freshSeed());
      // Decode: the second batch row masks everything.
      const row = mask.data!.slice(0, 34);
      row.fill(mask.kind === 'bool' ? 0 : Number.NEGATIVE_INFINITY, 17, 34);
      await checkAttention(
        {
          b: 2,
          hq: 2,
          hkv: 1,
          tq: 1,
          tk: 17,
          d: 8,
          mask: { kind: mask.kind, shape: [2, 1, 1, 17], data: row },
        },
        freshSeed(),
      );
    }
  });

  // Gradients of q, k and v (recomputed probabilities, built from ops) against finite differences,
  // on the CPU backends. WebGPU is left out: the backward's matmul pipelines take ~10 s each to
  // compile on a software Vulkan driver; the one kernel of the backward that attention owns
  // (attentionProbs) is checked on every backend below instead.
  const gradCases: AttentionCase[] = [
    { b: 1, hq: 4, hkv: 2, tq: 3, tk: 7, d: 4, kvLength: 5, causal: true },
    { b: 1, hq: 2, hkv: 1, tq: 1, tk: 9, d: 4, kvLength: 6, queryOffset: 3, causal: true },
    {
      b: 2,
      hq: 2,
      hkv: 2,
      tq: 3,
      tk: 4,
      d: 4,
      mask: { shape: [2, 4], kind: 'bool', data: Uint8Array.from([1, 1, 0, 1, 0, 0, 0, 0]) },
    },
    { b: 1, hq: 2, hkv: 1, tq: 3, tk: 4, d: 4, dv: 3, mask: { shape: [1, 1, 3, 4], kind: 'additive' } },
  ];
  test.each(gradCases.map((c) => [caseName(c), c] as const))('gradient: %s', async (_, c) => {
    const seed = freshSeed();
    const next = rng(seed);
    const dv = c.dv ?? c.d;
    const shapes = [
      [c.b, c.hq, c.tq, c.d],
      [c.b, c.hkv, c.tk, c.d],
      [c.b, c.hkv, c.tk, dv],
    ];
    const data = shapes.map(
      (s) =>
        randomArray(
          s.reduce((a, x) => a * x, 1),
          'f32',
          next,
        ) as Float32Array,
    );
    // The unused tail of a cache takes no part (gradCheck needs finite inputs, so no NaN here).
    if (c.kvLength !== undefined) for (const i of [1, 2]) data[i]![data[i]!.length - 1] = 1e3;
    const mask = c.mask ? randomMask(c.mask, next) : undefined;
    const backends = [{ label: 'reference', backend: reference }, ...others].filter(
      ({ label }) => label !== 'webgpu',
    );
    for (const { label, backend } of backends) {
      const inputs = data.map((x, i) => tensor(x, shapes[i]!, { backend }));
      if (c.mask && mask)
        inputs.push(tensor(mask, c.mask.shape, { backend, dtype: c.mask.kind === 'bool' ? 'bool' : 'f32' }));
      const f = (q: Tensor, k: Tensor, v: Tensor, m?: Tensor) =>
        attention(q, k, v, { causal: c.causal, kvLength: c.kvLength, queryOffset: c.queryOffset, mask: m });
      const r = await gradCheck(f, inputs, {
        wrt: [0, 1, 2],
        numericBackend: reference,
        eps: 1e-2,
        atol: 2e-3,
        rtol: 2e-2,
      });
      expect(r.ok, `${caseName(c)} on ${label} (seed ${seed}): ${r.message}`).toBe(true);
      for (const t of inputs) t.dispose();
    }
  });

  test.each([
    { b: 1, hq: 4, hkv: 2, tq: 7, tk: 17, d: 8, kvLength: 13, causal: true },
    {
      b: 2,
      hq: 2,
      hkv: 1,
      tq: 3,
      tk: 17,
      d: 8,
      queryOffset: -1,
      causal: true,
      mask: { shape: [2, 17], kind: 'bool' },
    },
    { b: 1, hq: 2, hkv: 2, tq: 5, tk: 9, d: 8, mask: { shape: [1, 2, 5, 9], kind: 'additive' } },
  ] as AttentionCase[])('attentionProbs on every backend: %j', async (c) => {
    const seed = freshSeed();
    const dv = c.dv ?? c.d;
    const inputs = [
      { shape: [c.b, c.hq, c.tq, c.d] },
      { shape: [c.b, c.hkv, c.tk, c.d] },
      { shape: [c.b, c.hkv, c.tk, dv] },
      ...(c.mask
        ? [{ shape: c.mask.shape, dtype: c.mask.kind === 'bool' ? ('bool' as const) : ('f32' as const) }]
        : []),
    ];
    const run = (q?: Tensor, k?: Tensor, v?: Tensor, mask?: Tensor) =>
      attentionProbs(q!, k!, v!, {
        causal: c.causal,
        kvLength: c.kvLength,
        queryOffset: c.queryOffset,
        mask,
      });
    await checkKernelCase(
      { name: caseName(c), inputs, run, atol: 1e-6, rtol: 1e-4 },
      reference,
      others,
      seed,
    );
  });

  test('bad inputs name the op, the input and the shapes', () => {
    const t = (shape: number[], dtype: 'f32' | 'bool' | 'i32' = 'f32') =>
      tensor(
        new (dtype === 'f32' ? Float32Array : dtype === 'i32' ? Int32Array : Uint8Array)(
          shape.reduce((a, x) => a * x, 1),
        ),
        shape,
        {
          backend: reference,
          dtype,
        },
      );
    const q = t([1, 6, 3, 8]);
    const k = t([1, 4, 5, 8]);
    const v = t([1, 4, 5, 8]);
    expect(() => attention(q, k, v)).toThrow(
      "attention: q's 6 heads are not a multiple of k's 4 heads (q f32[1, 6, 3, 8], k f32[1, 4, 5, 8])",
    );
    expect(() => attention(t([1, 4, 3, 16]), k, v)).toThrow("attention: q's head size 16 differs from k's 8");
    expect(() => attention(t([4, 3, 8]), k, v)).toThrow(
      'attention: q must have rank 4 [B, Hq, Tq, D], got f32[4, 3, 8]',
    );
    expect(() => attention(t([1, 4, 3, 8]), k, t([1, 4, 6, 8]))).toThrow(
      'attention: k and v must agree on [B, Hkv, Tk]: k f32[1, 4, 5, 8], v f32[1, 4, 6, 8]',
    );
    expect(() => attention(t([1, 4, 3, 8]), k, v, { kvLength: 6 })).toThrow(
      'attention: kvLength 6 must be an integer in [0, 5]',
    );
    // Kernels hold the offset in an i32: past it, backends used to disagree.
    for (const queryOffset of [2 ** 31, -(2 ** 31) - 5, 1.5]) {
      expect(() => attention(t([1, 4, 3, 8]), k, v, { causal: true, queryOffset })).toThrow(
        `attention: queryOffset ${queryOffset} must be an integer in (-2^31, 2^31)`,
      );
    }
    expect(() => attention(t([1, 4, 3, 8]), t([1, 4, 5, 8], 'i32'), v)).toThrow(
      'attention: k must be f32, got i32[1, 4, 5, 8]',
    );
    expect(() => attention(t([1, 4, 3, 8]), k, v, { mask: t([1, 4], 'bool') })).toThrow(
      'attention: the mask bool[1, 4] does not fit; expected a bool padding mask [B, Tk] = [1, 5]',
    );
    expect(() => attention(t([1, 4, 3, 8]), k, v, { mask: t([1, 2, 3, 5]) })).toThrow(
      'attention: the mask f32[1, 2, 3, 5] does not fit',
    );
    expect(() => attention(t([1, 4, 3, 8]), k, v, { mask: t([1, 1, 3, 5], 'i32') })).toThrow(
      'attention: the mask must be bool or f32',
    );
  });
});
