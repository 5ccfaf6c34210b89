// Rotary position embeddings (RoPE) on [B, H, T, D] queries or keys, matching Hugging Face
// transformers: inverse frequencies in f32 (default, linear and llama3 scaling), angles
// `f32(position * inv_freq)`, the "rotate_half" layout by default or GPT-J's interleaved pairs, and
// partial rotary (only the first rotaryDim features rotate).
import type { TensorInfo } from '../backend.js';
import { checkOptionalTensor, checkTensor } from '../checkTensor.js';
import { run1 } from '../engine.js';
import type { HostTensor, Kernel, TfjsCore, TfjsTensor } from '../kernel.js';
import { formatShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { type RopeScaling, ropeInverseFrequencies } from './attention/ropeFrequencies.js';
import { ropeWebGpu } from './attention/ropeWebGpu.js';
import { checkOptionKeys } from './options.js';

export type { RopeScaling };

/**
 * Options of {@link rope}.
 *
 * @example
 * ```ts
 * const options: RopeOptions = { theta: 1e6, rotaryDim: 32, offset: cache.length };
 * ```
 */
export interface RopeOptions {
  /** i32 positions `[T]` or `[B, T]` (default `offset, offset + 1, ..., offset + T - 1`). */
  positions?: Tensor;
  /** Position of the first token when `positions` is not given (default 0): the KV cache length. */
  offset?: number;
  /** Base of the frequencies (`rope_theta`, default 10000). */
  theta?: number;
  /** Features that rotate (`head_dim * partial_rotary_factor`, default D); the rest pass through. */
  rotaryDim?: number;
  /** `rope_scaling` of the config, in camelCase: linear or llama3 (default none). */
  scaling?: RopeScaling;
  /**
   * Rotate adjacent pairs (x0, x1), (x2, x3), ... (GPT-J, Meta's original Llama) instead of the
   * halves (x_i, x_{i + rotaryDim/2}) of HF's `rotate_half` (the default, false).
   */
  interleaved?: boolean;
}

/** Attributes of the rope kernel. */
export interface RopeAttrs {
  /** f32 inverse frequencies, `rotaryDim / 2` of them. */
  readonly invFreq: readonly number[];
  readonly rotaryDim: number;
  readonly interleaved: boolean;
  readonly offset: number;
  /** Rotate by minus the angle (the gradient, and undoing a rotation). */
  readonly inverse: boolean;
}

const describe = (t: TensorInfo) => `${t.dtype}${formatShape(t.shape)}`;

function ropeInfer([x, positions]: readonly TensorInfo[], attrs: RopeAttrs): TensorInfo[] {
  if (x!.shape.length !== 4)
    throw new RangeError(`rope: x must have rank 4 [B, H, T, D], got ${describe(x!)}`);
  if (x!.dtype !== 'f32') throw new TypeError(`rope: x must be f32, got ${describe(x!)}`);
  const [b, , t, d] = x!.shape as [number, number, number, number];
  if (
    !Number.isInteger(attrs.rotaryDim) ||
    attrs.rotaryDim % 2 !== 0 ||
    attrs.rotaryDim < 0 ||
    attrs.rotaryDim > d
  ) {
    throw new RangeError(
      `rope: rotaryDim ${attrs.rotaryDim} must be even and at most D = ${d} (x ${describe(x!)})`,
    );
  }
  if (positions) {
    const s = positions.shape;
    const fits = (s.length === 1 && s[0] === t) || (s.length === 2 && s[0] === b && s[1] === t);
    if (positions.dtype !== 'i32' || !fits) {
      throw new RangeError(
        `rope: positions must be i32 [T] = [${t}] or [B, T] = [${b}, ${t}], got ${describe(positions)} (x ${describe(x!)})`,
      );
    }
  }
  return [{ shape: x!.shape, dtype: 'f32' }];
}

/**
 * cos and sin of every (position row, frequency) pair: `[P, T, half]` each, P = 1 unless the
 * positions are per batch row. Computed once per call, not once per element.
 */
function ropeTables(
  positions: HostTensor | undefined,
  b: number,
  t: number,
  attrs: RopeAttrs,
): { cos: Float32Array; sin: Float32Array; perBatch: boolean } {
  const f32 = Math.fround;
  const { invFreq, offset } = attrs;
  const half = attrs.rotaryDim / 2;
  const perBatch = positions !== undefined && positions.shape.length === 2;
  const rows = (perBatch ? b : 1) * t;
  const cos = new Float32Array(rows * half);
  const sin = new Float32Array(rows * half);
  const sign = attrs.inverse ? -1 : 1;
  for (let r = 0; r < rows; r++) {
    const pos = positions ? positions.data[r]! : offset + r;
    for (let k = 0; k < half; k++) {
      const angle = f32(pos * invFreq[k]!);
      cos[r * half + k] = Math.cos(angle);
      sin[r * half + k] = Math.sin(angle) * sign;
    }
  }
  return { cos, sin, perBatch };
}

function ropeCpu([x, positions]: readonly HostTensor[], attrs: RopeAttrs): Float32Array[] {
  const f32 = Math.fround;
  const { rotaryDim, interleaved } = attrs;
  const xd = x!.data as Float32Array;
  const [b, h, t, d] = x!.shape as [number, number, number, number];
  const half = rotaryDim / 2;
  const out = new Float32Array(xd);
  const { cos, sin, perBatch } = ropeTables(positions, b, t, attrs);
  for (let bi = 0; bi < b; bi++) {
    for (let hi = 0; hi < h; hi++) {
      for (let i = 0; i < t; i++) {
        const row = ((bi * h + hi) * t + i) * d; // this token's D features
        const table = ((perBatch ? bi * t : 0) + i) * half;
        // Pair (p, q): out_p = x_p·cos − x_q·sin, out_q = x_q·cos + x_p·sin; features ≥ rotaryDim pass.
        for (let k = 0; k < half; k++) {
          const p = row + (interleaved ? 2 * k : k);
          const q = interleaved ? p + 1 : p + half;
          const c = cos[table + k]!;
          const s = sin[table + k]!;
          const xp = xd[p]!;
          const xq = xd[q]!;
          out[p] = f32(f32(xp * c) + f32(-xq * s));
          out[q] = f32(f32(xq * c) + f32(xp * s));
        }
      }
    }
  }
  return [out];
}

function ropeTfjs(tf: TfjsCore, [x, positions]: readonly TfjsTensor[], attrs: RopeAttrs): TfjsTensor {
  const [b, h, t, d] = x.shape as [number, number, number, number];
  const { rotaryDim: rot, interleaved } = attrs;
  if (rot === 0 || x.size === 0) return tf.clone(x);
  const half = rot / 2;
  const pos = positions
    ? tf.cast(positions, 'float32')
    : tf.range(attrs.offset, attrs.offset + t, 1, 'float32');
  // [T, half] or [B, T, half]; f32 products like torch's inv_freq @ positions.
  const angles = tf.mul(tf.expandDims(pos, -1), tf.tensor1d(attrs.invFreq, 'float32'));
  const spread = (a: TfjsTensor) => {
    // Repeat each frequency for both features of its pair: [.., half] → [.., rot].
    const full = interleaved
      ? tf.reshape(tf.stack([a, a], -1), [...a.shape.slice(0, -1), rot])
      : tf.concat([a, a], -1);
    return positions && positions.rank === 2 ? tf.reshape(full, [b, 1, t, rot]) : full;
  };
  const cos = spread(tf.cos(angles));
  const sin = spread(tf.mul(tf.sin(angles), attrs.inverse ? -1 : 1));
  const xr = rot < d ? tf.slice(x, [0, 0, 0, 0], [b, h, t, rot]) : x;
  let rotated: TfjsTensor;
  if (interleaved) {
    const pairs = tf.reshape(xr, [b, h, t, half, 2]);
    const [even, odd] = tf.split(pairs, 2, -1);
    rotated = tf.reshape(tf.concat([tf.neg(odd), even], -1), [b, h, t, rot]);
  } else {
    const [x1, x2] = tf.split(xr, 2, -1);
    rotated = tf.concat([tf.neg(x2), x1], -1);
  }
  const y = tf.add(tf.mul(xr, cos), tf.mul(rotated, sin));
  return rot < d ? tf.concat([y, tf.slice(x, [0, 0, 0, rot], [b, h, t, d - rot])], -1) : y;
}

/**
 * The rotary-embedding kernel behind {@link rope} (inputs x and optional i32 positions).
 *
 * @example
 * ```ts
 * const invFreq = Array.from(ropeInverseFrequencies(64, 10000));
 * const [y] = runKernel(ropeKernel, [x], { invFreq, rotaryDim: 64, interleaved: false, offset: 0, inverse: false });
 * ```
 */
export const ropeKernel: Kernel<RopeAttrs> = {
  name: 'rope',
  infer: ropeInfer,
  cpu: ropeCpu,
  webgpu(ctx, inputs, [out], attrs) {
    ropeWebGpu(ctx, inputs, out!, attrs);
  },
  tfjs: (tf, inputs, attrs) => [ropeTfjs(tf, inputs, attrs)],
  // A rotation's transpose is the rotation by minus the angle; positions get no gradient.
  grad: ({ dy: [dy], inputs: [, positions], attrs }) => [
    dy
      ? run1(ropeKernel, positions ? [dy, positions] : [dy], { ...attrs, inverse: !attrs.inverse })
      : undefined,
    undefined,
  ],
};

function checkScaling(scaling: RopeScaling | undefined): void {
  if (!scaling) return;
  if (scaling.type !== 'linear' && scaling.type !== 'llama3') {
    throw new RangeError(
      `rope: unknown scaling type ${JSON.stringify((scaling as { type: unknown }).type)} (expected linear or llama3)`,
    );
  }
  if (!(scaling.factor > 0)) throw new RangeError(`rope: scaling factor ${scaling.factor} must be positive`);
  if (scaling.type === 'llama3') {
    const { lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: context } = scaling;
    if (!(low > 0) || !(high > low) || !(context > 0)) {
      throw new RangeError(
        `rope: llama3 scaling needs 0 < lowFreqFactor < highFreqFactor and originalMaxPositionEmbeddings > 0 ` +
          `(got ${low}, ${high}, ${context})`,
      );
    }
  }
}

/** The largest |position| rope takes (f32 integers are exact up to 2^24). */
const MAX_POSITION = 2 ** 24;

/**
 * Applies rotary position embeddings to queries or keys `[B, H, T, D]`, exactly as Hugging Face
 * transformers does for Llama-style models (`rope_theta`, `rope_scaling` linear or llama3,
 * `partial_rotary_factor`): inverse frequencies and angles in f32 like torch.
 *
 * @example
 * ```ts
 * // A decode step with a KV cache: the new token sits at position cache.length.
 * const qr = rope(q, { offset: cache.length, theta: 500000 }); // [1, 32, 1, 128]
 * ```
 */
export function rope(x: Tensor, options: RopeOptions = {}): Tensor {
  checkTensor(x, 'rope', 'x');
  checkOptionKeys('rope', options, ['positions', 'offset', 'theta', 'rotaryDim', 'scaling', 'interleaved']);
  const { positions } = options;
  checkOptionalTensor(positions, 'rope', 'options.positions');
  if (positions && options.offset !== undefined)
    throw new RangeError('rope: pass positions or offset, not both');
  const d = x.shape[3] ?? 0;
  const rotaryDim = options.rotaryDim ?? d;
  const offset = options.offset ?? 0;
  const t = x.shape[2] ?? 0;
  // Kernels compute angles from f32 positions, exact only below 2^24.
  if (!Number.isInteger(offset) || Math.abs(offset) > MAX_POSITION || Math.abs(offset + t) > MAX_POSITION) {
    throw new RangeError(
      `rope: offset must be an integer with positions offset .. offset + ${t} within ±2^24 (f32 holds them exactly), got ${offset}`,
    );
  }
  const theta = options.theta ?? 10000;
  if (!(theta > 0 && Number.isFinite(theta)))
    throw new RangeError(`rope: theta ${theta} must be a finite number > 0`);
  checkScaling(options.scaling);
  // An invalid rotaryDim gets no frequencies; infer then names it with x's shape.
  const valid = Number.isInteger(rotaryDim) && rotaryDim >= 0 && rotaryDim % 2 === 0;
  const attrs: RopeAttrs = {
    invFreq: valid ? Array.from(ropeInverseFrequencies(rotaryDim, theta, options.scaling)) : [],
    rotaryDim,
    interleaved: options.interleaved ?? false,
    offset,
    inverse: false,
  };
  return run1(ropeKernel, positions ? [x, positions] : [x], attrs);
}
