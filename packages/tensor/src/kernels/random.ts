// Seeded random tensors from a counter-based generator (Philox4x32-10, Salmon et al. 2011): element
// i of a tensor is a pure function of (seed, i), so the CPU, WebGPU and tfjs backends produce the
// same stream, and a kernel needs no state. u32 arithmetic is exact everywhere; the conversions to
// floats below are exact in f32 too, so uniform numbers agree bit for bit and the transcendental
// ones (normal, gumbel) agree to within a few ulps.
import type { Backend, TensorInfo } from '../backend.js';
import { type GpuContext, workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { tensor } from '../create.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { assertShape, type Shape, showValue, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { rejectUnknownKeys } from './options.js';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32 (from 16-bit halves: no u64 in JS or WGSL). */
function mulhi(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * Philox4x32-10: four random u32 words for counter `c` and key `k`, written into `out`.
 * @internal Exported for tests (known-answer vectors) and for host-side seed splitting.
 */
export function philox4x32(
  c: readonly number[],
  k: readonly number[],
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  let c0 = c[0]! >>> 0;
  let c1 = c[1]! >>> 0;
  let c2 = c[2]! >>> 0;
  let c3 = c[3]! >>> 0;
  let k0 = k[0]! >>> 0;
  let k1 = k[1]! >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/** The same generator in WGSL, plus the exact u32 -> float conversions and an accurate log. */
const PHILOX_WGSL = /* wgsl */ `
fn mulhi32(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p01 = a0 * b1; let p10 = a1 * b0;
  let mid = ((a0 * b0) >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}
fn philox(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = ctr; var k = key;
  for (var r = 0; r < 10; r++) {
    let hi0 = mulhi32(0xd2511f53u, c.x); let lo0 = 0xd2511f53u * c.x;
    let hi1 = mulhi32(0xcd9e8d57u, c.z); let lo1 = 0xcd9e8d57u * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2<u32>(0x9e3779b9u, 0xbb67ae85u);
  }
  return c;
}
// [0, 1): 24 random bits scaled by 2^-24, exact in f32.
fn unitClosedOpen(w: u32) -> f32 { return f32(w >> 8u) * 5.9604644775390625e-8; }
// (0, 1): odd multiples of 2^-24 (23 random bits), exact in f32; never 0 or 1.
fn unitOpen(w: u32) -> f32 { return f32((w >> 9u) * 2u + 1u) * 5.9604644775390625e-8; }
// log(x) for positive normal x with a small relative error everywhere; WGSL's log() only promises an
// absolute error of 2^-21 near 1, which -log(u) for u close to 1 (gumbel, Box-Muller) cannot afford.
fn logAccurate(x: f32) -> f32 {
  let fe = frexp(x);
  var m = fe.fract;
  var e = f32(fe.exp);
  if (m < 0.70710678) { m = m * 2.0; e = e - 1.0; }
  let f = m - 1.0;
  let s = f / (2.0 + f);
  let s2 = s * s;
  let series = 1.0 + s2 * (1.0 / 3.0 + s2 * (0.2 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
  return e * 0.69314718055994531 + 2.0 * s * series;
}
`;

/** `[0, 1)` from a random word: 24 bits scaled by 2^-24 (exact in f32). */
function unitClosedOpen(w: number): number {
  return (w >>> 8) * 2 ** -24;
}

/** `(0, 1)` from a random word: odd multiples of 2^-24 (exact in f32), never 0 or 1. */
function unitOpen(w: number): number {
  return ((w >>> 9) * 2 + 1) * 2 ** -24;
}

/** The Philox key for a seed: its low and high 32-bit words (any safe integer, negatives too). */
function seedKey(seed: number): [number, number] {
  return [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}

function resolveSeed(seed: number | Rng, op: string): number {
  if (seed instanceof Rng) return seed.next();
  if (!Number.isSafeInteger(seed)) {
    throw new TypeError(`${op}: seed must be a safe integer or an Rng, got ${showValue(seed)}`);
  }
  return seed;
}

/**
 * @internal Throws, naming `op`, unless `seed` is a safe integer or an {@link Rng} (for ops that
 * pass their seed on to a random op, so that errors name the op called).
 */
export function checkSeed(seed: unknown, op: string): void {
  if (seed === undefined) throw new TypeError(`${op}: options.seed is required (a safe integer or an Rng)`);
  if (!(seed instanceof Rng) && !Number.isSafeInteger(seed)) {
    throw new TypeError(`${op}: options.seed must be a safe integer or an Rng, got ${showValue(seed)}`);
  }
}

/**
 * A deterministic source of seeds: each `next()` returns a fresh seed drawn from this generator's
 * own Philox stream, so a training loop can give every step and every dropout layer its own seed
 * while the whole run stays reproducible from one number.
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * for (let step = 0; step < steps; step++) {
 *   const noise = randomNormal([B, C], { backend, seed: rng.next() }); // a new stream per step
 * }
 * const evalRng = rng.split(); // an independent generator, e.g. for evaluation
 * ```
 */
export class Rng {
  readonly #key: [number, number];
  #counter = 0;
  readonly #words = new Uint32Array(4);

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed))
      throw new TypeError(`Rng: seed must be a safe integer, got ${String(seed)}`);
    this.#key = seedKey(seed);
  }

  /**
   * Where this generator stands, as JSON-able numbers: {@link Rng.fromState} makes one that draws
   * the same seeds from here on (to resume a training run exactly).
   *
   * @example
   * ```ts
   * const saved = JSON.stringify(rng.state());
   * const resumed = Rng.fromState(JSON.parse(saved)); // resumed.next() === rng.next()
   * ```
   */
  state(): RngState {
    return { key: [this.#key[0], this.#key[1]], draws: this.#counter };
  }

  /** A generator at `state` (from {@link Rng.state}), checked field by field. */
  static fromState(state: RngState): Rng {
    const s = state as Partial<RngState> | null;
    const word = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32;
    if (
      typeof s !== 'object' ||
      s === null ||
      !Array.isArray(s.key) ||
      s.key.length !== 2 ||
      !s.key.every(word)
    ) {
      throw new TypeError(
        `Rng.fromState: state.key must be two 32-bit unsigned integers, got ${showValue(s?.key)}`,
      );
    }
    if (!(Number.isSafeInteger(s.draws) && (s.draws as number) >= 0)) {
      throw new TypeError(`Rng.fromState: state.draws must be an integer >= 0, got ${showValue(s.draws)}`);
    }
    const rng = new Rng(0); // its key replaced: a key's high word may be past a safe seed's
    rng.#key[0] = s.key[0]!;
    rng.#key[1] = s.key[1]!;
    rng.#counter = s.draws as number;
    return rng;
  }

  /** A new seed (a non-negative integer below 2^52). */
  next(): number {
    // Counter word 2 = 1 keeps these draws apart from the tensor streams made with the same seed.
    const w = philox4x32([this.#counter++, 0, 1, 0], this.#key, this.#words);
    return (w[1]! & 0xfffff) * 2 ** 32 + w[0]!;
  }

  /** A new, independent generator seeded from this one. */
  split(): Rng {
    return new Rng(this.next());
  }
}

/** What {@link Rng.state} returns: the generator's Philox key and the seeds drawn so far. */
export interface RngState {
  /** The Philox key: the seed's low and high 32-bit words. */
  readonly key: readonly [number, number];
  /** Seeds drawn so far (the next draw's counter). */
  readonly draws: number;
}

/** Options shared by the random tensor functions. */
export interface RandomOptions {
  backend: Backend;
  /** A safe integer, or an {@link Rng} to draw one from. The same seed gives the same tensor on every backend. */
  seed: number | Rng;
}

type Distribution = 'bits' | 'uniform' | 'normal' | 'gumbel' | 'exponential';

interface RandomAttrs {
  dist: Distribution;
  shape: number[];
  /** low and high - low (uniform; both halved when high - low overflows f32), mean and std (normal). */
  a: number;
  b: number;
  /** uniform: the factor that undoes that halving (1 or 2). */
  scale: number;
  /** uniform: the largest f32 below high, the most a value may be (high is exclusive). */
  top: number;
}

/** One element of the stream for a block's four words (`j` = element index within the block). */
function element(dist: Distribution, w: Uint32Array, j: number, { a, b, scale, top }: RandomAttrs): number {
  const f = Math.fround;
  switch (dist) {
    case 'bits':
      return w[j]!;
    case 'uniform':
      // a + b u can round up to high itself (or overflow to Infinity after doubling): clamp to top.
      return Math.min(f(f(a + f(b * unitClosedOpen(w[j]!))) * scale), top);
    case 'exponential':
      return f(-Math.log(unitOpen(w[j]!)));
    case 'gumbel': {
      const e = f(-Math.log(unitOpen(w[j]!)));
      return f(-Math.log(e));
    }
    case 'normal': {
      // Box-Muller on the pair (2q, 2q + 1): element 2q takes the cosine, 2q + 1 the sine.
      const q = j & 2;
      const r = f(Math.sqrt(f(-2 * f(Math.log(unitOpen(w[q]!))))));
      const theta = 2 * Math.PI * (unitClosedOpen(w[q + 1]!) - 0.5);
      const z = f(r * f(j & 1 ? Math.sin(theta) : Math.cos(theta)));
      return f(a + f(b * z));
    }
  }
}

const WGSL_ELEMENT: Record<Distribution, string> = {
  bits: 'w[j]',
  uniform: 'min((p.a + p.b * unitClosedOpen(w[j])) * p.scale, p.top)',
  exponential: '-logAccurate(unitOpen(w[j]))',
  gumbel: '-logAccurate(-logAccurate(unitOpen(w[j])))',
  normal: `p.a + p.b * normalOf(w, j)`,
};

// WGSL's sin() and cos() only promise an absolute error of 2^-11 (and software Vulkan drivers get
// close to that), so the angle is reduced exactly (t is a multiple of 2^-24) and evaluated with
// polynomials accurate to f32 precision.
const NORMAL_WGSL = /* wgsl */ `
fn sinCos2Pi(t: f32) -> vec2<f32> {
  let q = round(4.0 * t);
  let x = 6.283185307179586 * (t - 0.25 * q);
  let x2 = x * x;
  let s = x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0)))));
  let c = 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 + x2 * (-1.0 / 3628800.0)))));
  switch (i32(q) & 3) {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}
fn normalOf(w: vec4<u32>, j: u32) -> f32 {
  let q = j & 2u;
  let r = sqrt(-2.0 * logAccurate(unitOpen(w[q])));
  let sc = sinCos2Pi(unitClosedOpen(w[q + 1u]) - 0.5);
  return r * select(sc.y, sc.x, (j & 1u) == 1u);
}
`;

const randomParams = uniformLayout({ size: 'u32', a: 'f32', b: 'f32', scale: 'f32', top: 'f32' });
const WG = 64;

function randomWebGpu(
  ctx: GpuContext,
  key: { buffer: GPUBuffer },
  out: { buffer: GPUBuffer; size: number },
  attrs: RandomAttrs,
): void {
  if (out.size === 0) return;
  const pipeline = ctx.pipeline(`random:${attrs.dist}`, () => {
    const outType = attrs.dist === 'bits' ? 'u32' : 'f32';
    return `${randomParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> keyBuf: array<u32>;
@group(0) @binding(1) var<storage, read_write> outBuf: array<${outType}>;
@group(0) @binding(2) var<uniform> p: Params;
${PHILOX_WGSL}
${attrs.dist === 'normal' ? NORMAL_WGSL : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // One invocation per block of four elements: one Philox call yields four words.
  let block = gid.x + gid.y * nwg.x * ${WG}u;
  let first = block * 4u;
  if (first >= p.size) { return; }
  let w = philox(vec4<u32>(block, 0u, 0u, 0u), vec2<u32>(keyBuf[0], keyBuf[1]));
  for (var j = 0u; j < 4u; j++) {
    if (first + j < p.size) { outBuf[first + j] = ${WGSL_ELEMENT[attrs.dist]}; }
  }
}`;
  });
  const blocks = Math.ceil(out.size / 4);
  ctx.dispatch(
    pipeline,
    [key.buffer, out.buffer],
    randomParams.pack({ size: out.size, a: attrs.a, b: attrs.b, scale: attrs.scale, top: attrs.top }),
    workgroups1d(Math.ceil(blocks / WG)),
  );
}

/** Makes a tensor of `attrs.shape` from the key tensor `[k0, k1]`. */
export const randomKernel: Kernel<RandomAttrs> = {
  name: 'random',
  infer([key], attrs): TensorInfo[] {
    if (key!.dtype !== 'u32' || key!.shape.length !== 1 || key!.shape[0] !== 2) {
      throw new TypeError(`random: the key must be u32[2], got ${key!.dtype}[${key!.shape.join(', ')}]`);
    }
    return [{ shape: attrs.shape, dtype: attrs.dist === 'bits' ? 'u32' : 'f32' }];
  },
  cpu([key], attrs) {
    const { dist, shape } = attrs;
    const size = sizeOf(shape);
    const out = dist === 'bits' ? new Uint32Array(size) : new Float32Array(size);
    const k = [key!.data[0]!, key!.data[1]!];
    const w = new Uint32Array(4);
    for (let block = 0; block * 4 < size; block++) {
      philox4x32([block, 0, 0, 0], k, w);
      for (let j = 0; j < 4 && block * 4 + j < size; j++) out[block * 4 + j] = element(dist, w, j, attrs);
    }
    return [out];
  },
  webgpu(ctx, [key], [out], attrs) {
    randomWebGpu(ctx, key!, out!, attrs);
  },
};

function random(
  op: string,
  dist: Distribution,
  shape: Shape,
  options: RandomOptions,
  a: number,
  b: number,
  uniform = { scale: 1, top: 0 },
): Tensor {
  const extra = dist === 'uniform' ? ['low', 'high'] : dist === 'normal' ? ['mean', 'std'] : [];
  rejectUnknownKeys(op, options, ['backend', 'seed', ...extra]);
  const dims = assertShape(shape, op);
  if (!options?.backend) throw new TypeError(`${op}: options.backend is required`);
  const seed = resolveSeed(options.seed, op);
  const key = tensor(new Uint32Array(seedKey(seed)), [2], { backend: options.backend, dtype: 'u32' });
  try {
    return run1(randomKernel, [key], { dist, shape: dims, a: Math.fround(a), b: Math.fround(b), ...uniform });
  } finally {
    key.dispose();
  }
}

function finite(value: number, what: string, op: string): number {
  if (!Number.isFinite(value))
    throw new RangeError(`${op}: ${what} must be a finite number, got ${String(value)}`);
  return value;
}

/**
 * Random u32 words: the raw Philox4x32-10 stream for `seed` (element `i` is word `i % 4` of the
 * block with counter `[floor(i / 4), 0, 0, 0]` and key `[seed mod 2^32, floor(seed / 2^32)]`).
 * Identical on every backend.
 *
 * @example
 * ```ts
 * const bits = randomBits([4], { backend, seed: 0 }); // u32 [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
 * ```
 */
export function randomBits(shape: Shape, options: RandomOptions): Tensor {
  return random('randomBits', 'bits', shape, options, 0, 0);
}

/** Options for {@link randomUniform}. */
export interface RandomUniformOptions extends RandomOptions {
  /** Inclusive lower bound (default 0). */
  low?: number;
  /** Exclusive upper bound (default 1). */
  high?: number;
}

/**
 * Uniform f32 numbers in `[low, high)`: 24 random bits per element. With the default bounds the
 * values are identical on every backend (bit for bit).
 *
 * @example
 * ```ts
 * const keepMask = randomUniform([B, T, C], { backend, seed: rng.next() }); // [B, T, C] in [0, 1)
 * ```
 */
export function randomUniform(shape: Shape, options: RandomUniformOptions): Tensor {
  const low = inF32(finite(options?.low ?? 0, 'low', 'randomUniform'), 'low');
  const high = inF32(finite(options?.high ?? 1, 'high', 'randomUniform'), 'high');
  if (!(high >= low)) throw new RangeError(`randomUniform: high (${high}) must not be below low (${low})`);
  // The most a value may be: the f32 below high, or low itself when [low, high) holds no f32.
  const top = Math.max(f32Below(high), Math.fround(low));
  if (Number.isFinite(Math.fround(high - low))) {
    return random('randomUniform', 'uniform', shape, options, low, high - low, { scale: 1, top });
  }
  // A range wider than f32's maximum (-3e38 to 3e38, say): draw at half scale, where it fits, and
  // double: halving and doubling are exact, as both bounds then exceed 2^103 in magnitude.
  return random('randomUniform', 'uniform', shape, options, low / 2, high / 2 - low / 2, { scale: 2, top });
}

/** `x`, unless it rounds to an infinity in f32 (the values are f32). */
function inF32(x: number, what: string): number {
  if (!Number.isFinite(Math.fround(x)))
    throw new RangeError(`randomUniform: ${what} ${x} is outside the f32 range (±3.4028235e38)`);
  return x;
}

/** The largest f32 strictly below `x` (a finite number). */
function f32Below(x: number): number {
  const f = Math.fround(x);
  if (f < x) return f;
  if (f === 0) return -(2 ** -149);
  // One step down on the bits: toward zero for a positive float (Infinity steps to the f32 max).
  const bits = new Int32Array(new Float32Array([f]).buffer);
  bits[0]! += f > 0 ? -1 : 1;
  return new Float32Array(bits.buffer)[0]!;
}

/** Options for {@link randomNormal}. */
export interface RandomNormalOptions extends RandomOptions {
  /** Default 0. */
  mean?: number;
  /** Standard deviation (default 1). */
  std?: number;
}

/**
 * Normally distributed f32 numbers (Box-Muller on pairs of uniform numbers). Backends agree to within
 * a few ulps; the tails are cut at about 5.8 standard deviations (23-bit uniforms).
 *
 * @example
 * ```ts
 * const w = randomNormal([768, 3072], { backend, seed: 0, std: 0.02 }); // [C, 4C]
 * ```
 */
export function randomNormal(shape: Shape, options: RandomNormalOptions): Tensor {
  const mean = finite(options?.mean ?? 0, 'mean', 'randomNormal');
  const std = finite(options?.std ?? 1, 'std', 'randomNormal');
  if (std < 0) throw new RangeError(`randomNormal: std must not be negative, got ${std}`);
  return random('randomNormal', 'normal', shape, options, mean, std);
}

/**
 * Standard Gumbel noise `-log(-log(u))` with `u` uniform in the open interval (0, 1), so every value
 * is finite. `argmax(logits + gumbelNoise(...))` samples from `softmax(logits)`.
 *
 * @example
 * ```ts
 * const g = gumbelNoise([B, V], { backend, seed: 7 }); // [B, V]
 * ```
 */
export function gumbelNoise(shape: Shape, options: RandomOptions): Tensor {
  return random('gumbelNoise', 'gumbel', shape, options, 0, 0);
}

/**
 * Standard exponential noise `-log(u)` with `u` uniform in (0, 1): positive and finite. Ranking
 * `p / e` picks categories with probabilities `p` without replacement (the exponential race, the
 * same ordering as Gumbel top-k).
 *
 * @example
 * ```ts
 * const e = randomExponential([B, V], { backend, seed: 7 }); // [B, V], mean 1
 * ```
 */
export function randomExponential(shape: Shape, options: RandomOptions): Tensor {
  return random('randomExponential', 'exponential', shape, options, 0, 0);
}
