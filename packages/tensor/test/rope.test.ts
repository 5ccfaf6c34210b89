import { describe, expect, test } from 'vitest';
import {
  type Backend,
  type RopeOptions,
  type RopeScaling,
  rope,
  ropeInverseFrequencies,
  ropeKernel,
  type Tensor,
  tensor,
  tidy,
} from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { expectClose } from './util/compare.js';
import { freshSeed, randomArray, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

const f32 = Math.fround;

/**
 * HF transformers' inverse frequencies, transcribed from modeling_rope_utils.py. inv_freq is a
 * float32 torch tensor there, so every tensor op rounds to f32 (`scalar / t` is
 * `t.reciprocal() * scalar`); Python scalar arithmetic stays float64.
 */
function hfInvFreq(dim: number, base: number, scaling?: RopeScaling): number[] {
  // inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
  const invFreq: number[] = [];
  for (let i = 0; i < dim; i += 2) invFreq.push(f32(1 / f32(base ** f32(i / dim))));
  if (!scaling) return invFreq;
  if (scaling.type === 'linear') return invFreq.map((x) => f32(x / scaling.factor));
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldContextLen } = scaling;
  const lowFreqWavelen = oldContextLen / lowFreqFactor;
  const highFreqWavelen = oldContextLen / highFreqFactor;
  return invFreq.map((inv) => {
    const wavelen = f32(f32(1 / inv) * f32(2 * Math.PI));
    const llama = wavelen > lowFreqWavelen ? f32(inv / factor) : inv;
    const smoothFactor = f32(
      f32(f32(f32(1 / wavelen) * oldContextLen) - lowFreqFactor) / (highFreqFactor - lowFreqFactor),
    );
    const smoothed = f32(f32(f32(f32(1 - smoothFactor) * llama) / factor) + f32(smoothFactor * llama));
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    return isMedium ? smoothed : llama;
  });
}

/** HF's apply_rotary_pos_emb in float64 (angles `f32(inv_freq * position)` as torch's f32 matmul). */
function expectedRope(
  x: Float32Array,
  [b, h, t, d]: number[],
  position: (b: number, t: number) => number,
  invFreq: number[],
  rotaryDim: number,
  interleaved: boolean,
): Float32Array {
  const out = new Float32Array(x.length);
  const half = rotaryDim / 2;
  for (let bi = 0; bi < b!; bi++) {
    for (let hi = 0; hi < h!; hi++) {
      for (let ti = 0; ti < t!; ti++) {
        const base = ((bi * h! + hi) * t! + ti) * d!;
        const row = Array.from(x.subarray(base, base + d!));
        for (let c = 0; c < d!; c++) out[base + c] = row[c]!;
        for (let i = 0; i < half; i++) {
          const angle = f32(invFreq[i]! * position(bi, ti));
          // rotate_half pairs (i, i + half); interleaved pairs (2i, 2i + 1).
          const [a, bIdx] = interleaved ? [2 * i, 2 * i + 1] : [i, i + half];
          const x1 = row[a]!;
          const x2 = row[bIdx]!;
          out[base + a] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
          out[base + bIdx] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
        }
      }
    }
  }
  return out;
}

const llama31: RopeScaling = {
  type: 'llama3',
  factor: 8,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalMaxPositionEmbeddings: 8192,
};

interface RopeCase {
  name: string;
  shape: [number, number, number, number];
  options: Omit<RopeOptions, 'positions'>;
  /** Explicit positions: shared [T] or per batch [B, T], random in [0, max). */
  positions?: { perBatch: boolean; max: number };
}

const cases: RopeCase[] = [
  { name: 'default theta, D=8', shape: [1, 3, 7, 8], options: {} },
  { name: 'offset 100, D=64', shape: [2, 3, 7, 64], options: { offset: 100 } },
  {
    name: 'theta 500000, llama3 scaling, positions [T] up to 20000',
    shape: [1, 4, 17, 64],
    options: { theta: 500000, scaling: llama31 },
    positions: { perBatch: false, max: 20000 },
  },
  {
    name: 'llama3 scaling, D=128, positions [B, T] up to 1e6',
    shape: [2, 2, 5, 128],
    options: { theta: 500000, scaling: llama31 },
    positions: { perBatch: true, max: 1_000_000 },
  },
  {
    name: 'linear scaling factor 4',
    shape: [1, 2, 33, 16],
    options: { scaling: { type: 'linear', factor: 4 } },
  },
  { name: 'partial rotary 16 of 80', shape: [1, 2, 7, 80], options: { rotaryDim: 16, offset: 5 } },
  {
    name: 'interleaved',
    shape: [1, 3, 7, 16],
    options: { interleaved: true },
    positions: { perBatch: false, max: 4000 },
  },
  {
    name: 'interleaved partial rotary, [B, T] positions',
    shape: [3, 2, 5, 24],
    options: { interleaved: true, rotaryDim: 8, theta: 1e6 },
    positions: { perBatch: true, max: 500 },
  },
];

function makeInputs(c: RopeCase, seed: number) {
  const next = rng(seed);
  const [b, , t, d] = c.shape;
  const x = randomArray(
    c.shape.reduce((a, n) => a * n, 1),
    'f32',
    next,
  ) as Float32Array;
  const pos = c.positions
    ? Int32Array.from({ length: c.positions.perBatch ? b * t : t }, () =>
        Math.floor(next() * c.positions!.max),
      )
    : undefined;
  const position = (bi: number, ti: number) =>
    pos ? pos[c.positions!.perBatch ? bi * t + ti : ti]! : (c.options.offset ?? 0) + ti;
  const rotaryDim = c.options.rotaryDim ?? d;
  const invFreq = hfInvFreq(rotaryDim, c.options.theta ?? 10000, c.options.scaling);
  const expected = expectedRope(x, c.shape, position, invFreq, rotaryDim, c.options.interleaved ?? false);
  return { x, pos, expected };
}

function runRope(backend: Backend, c: RopeCase, x: Float32Array, pos: Int32Array | undefined): Tensor {
  return tidy(() => {
    const positions = pos
      ? tensor(pos, c.positions!.perBatch ? [c.shape[0], c.shape[2]] : [c.shape[2]], { backend })
      : undefined;
    return rope(tensor(x, c.shape, { backend }), { ...c.options, positions });
  });
}

describe('rope', () => {
  test.each(cases.map((c) => [c.name, c] as const))(
    '%s matches the HF formula on every backend',
    async (_, c) => {
      const seed = freshSeed();
      const { x, pos, expected } = makeInputs(c, seed);
      for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
        const y = runRope(backend, c, x, pos);
        expectClose(await y.read(), expected, 1e-5, `${c.name} on ${label} (seed ${seed})`);
        y.dispose();
      }
    },
  );

  test('inverse frequencies follow HF for each scaling type', () => {
    for (const scaling of [undefined, { type: 'linear', factor: 2 } as const, llama31]) {
      const ours = ropeInverseFrequencies(128, 500000, scaling);
      expect(Array.from(ours)).toEqual(hfInvFreq(128, 500000, scaling));
    }
    // Llama 3.1's bands: the highest frequencies are kept, the lowest divided by 8.
    const base = ropeInverseFrequencies(128, 500000);
    const scaled = ropeInverseFrequencies(128, 500000, llama31);
    expect(scaled[0]).toBe(base[0]);
    expect(scaled[63]).toBe(f32(base[63]! / 8));
  });

  test('the gradient is the inverse rotation (the transpose)', async () => {
    const c = cases[7]!;
    const seed = freshSeed();
    const { x, pos } = makeInputs(c, seed);
    for (const { label, backend } of [{ label: 'reference', backend: reference }, ...others]) {
      const back = tidy(() => {
        const positions = tensor(pos!, [c.shape[0], c.shape[2]], { backend });
        const xt = tensor(x, c.shape, { backend });
        const y = rope(xt, { ...c.options, positions });
        // grad(dy = rope(x)) rotates back to x.
        const [dx] = ropeKernel.grad!({
          dy: [y],
          inputs: [xt, positions],
          outputs: [y],
          attrs: {
            invFreq: Array.from(ropeInverseFrequencies(8, 1e6)),
            rotaryDim: 8,
            interleaved: true,
            offset: 0,
            inverse: false,
          },
        });
        return dx!;
      });
      expectClose(await back.read(), x, 1e-5, `rope grad on ${label} (seed ${seed})`);
      back.dispose();
    }
  });

  test('bad inputs are named', () => {
    const x = tensor(new Float32Array(2 * 7 * 8), [1, 2, 7, 8], { backend: reference });
    expect(() => rope(x, { rotaryDim: 7 })).toThrow(
      'rope: rotaryDim 7 must be even and at most D = 8 (x f32[1, 2, 7, 8])',
    );
    expect(() => rope(x, { rotaryDim: 10 })).toThrow('rope: rotaryDim 10 must be even and at most D = 8');
    const badPositions = tensor(new Int32Array(6), [6], { backend: reference });
    expect(() => rope(x, { positions: badPositions })).toThrow(
      'rope: positions must be i32 [T] = [7] or [B, T] = [1, 7], got i32[6] (x f32[1, 2, 7, 8])',
    );
    const floatPositions = tensor(new Float32Array(7), [7], { backend: reference });
    expect(() => rope(x, { positions: floatPositions })).toThrow('rope: positions must be i32');
    expect(() => rope(tensor(new Float32Array(8), [1, 8], { backend: reference }))).toThrow(
      'rope: x must have rank 4 [B, H, T, D], got f32[1, 8]',
    );
    expect(() =>
      rope(x, {
        scaling: {
          type: 'llama3',
          factor: 8,
          lowFreqFactor: 4,
          highFreqFactor: 1,
          originalMaxPositionEmbeddings: 8192,
        },
      }),
    ).toThrow('rope: llama3 scaling needs 0 < lowFreqFactor < highFreqFactor');
    // Angles come from f32 positions, exact below 2^24 (past it WebGPU rotated nothing, or garbage).
    for (const offset of [2 ** 24, -(2 ** 24) - 1, 2 ** 31, 0.5]) {
      expect(() => rope(x, { offset })).toThrow(
        `rope: offset must be an integer with positions offset .. offset + 7 within ±2^24 (f32 holds them exactly), got ${offset}`,
      );
    }
    expect(() => rope(x, { offset: 2 ** 24 - 7 })).not.toThrow();
    expect(() => rope(x, { theta: Number.POSITIVE_INFINITY })).toThrow(
      'rope: theta Infinity must be a finite number > 0',
    );
    expect(() => ropeInverseFrequencies(3, 1e4)).toThrow(
      'ropeInverseFrequencies: rotaryDim must be an even integer >= 0, got 3',
    );
    expect(() => ropeInverseFrequencies(-4, 1e4)).toThrow('rotaryDim must be an even integer >= 0, got -4');
    expect(() => ropeInverseFrequencies(4, -1)).toThrow(
      'ropeInverseFrequencies: theta must be a finite number > 0, got -1',
    );
  });
});
