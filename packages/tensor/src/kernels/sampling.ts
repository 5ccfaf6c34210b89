// Drawing token ids: greedy, temperature / top-k / top-p / min-p sampling, multinomial draws, and
// the repetition penalty. Every draw inverts a cumulative sum at a uniform number from the seeded
// Philox stream (random.ts), the same number on every backend, so backends pick the same token
// except where the uniform lands within rounding error of a boundary between two tokens.
import type { TensorInfo } from '../backend.js';
import { type GpuContext, type GpuTensor, workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { full } from '../create.js';
import { run1, tidy } from '../engine.js';
import type { HostTensor, Kernel } from '../kernel.js';
import { formatShape, showValue } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { compare, div } from './binary.js';
import { checkSeed, type Rng, randomExponential, randomUniform } from './random.js';
import { WGSL_NAN_OPS } from './elementwise.js';
import { slice } from './slice.js';
import { SORT_KEY_WGSL, sortKey, topk } from './topk.js';
import { where } from './where.js';
import { drawRow, ROWWISE_MAX, rowWeightsF32, WG } from './sampleRow.js';
import { checkOptionKeys, rejectUnknownKeys } from './options.js';

type SampleMode = 'greedy' | 'logits' | 'probs';

interface SampleAttrs {
  mode: SampleMode;
  /** Output shape: the rows' shape ([B] or []), with the number of draws appended for multinomial. */
  outShape: number[];
  /** Draws per row. */
  draws: number;
  temperature: number;
  /** Cumulative-probability cut, applied when < 1; needs `values` sorted descending. */
  topP: number;
  /** Keeps weights >= minP times the largest weight. */
  minP: number;
}

/** Rows of the last axis: `[rows, K]`. */
function rowsOf(shape: readonly number[]): [number, number] {
  const K = shape[shape.length - 1] ?? 1;
  return [K === 0 ? 0 : shape.reduce((a, b) => a * b, 1) / K, K];
}

function sampleCpu(inputs: readonly HostTensor[], attrs: SampleAttrs): Int32Array {
  const [values, u, indices] = inputs;
  const [rows, K] = rowsOf(values!.shape);
  const out = new Int32Array(rows * attrs.draws);
  for (let r = 0; r < rows; r++) {
    const base = r * K;
    if (attrs.mode === 'greedy') {
      // The largest logit, lowest id on ties; NaN is never picked (a row of NaN only gives -1).
      let best = -1;
      for (let j = 0; j < K; j++) {
        const x = values!.data[base + j]!;
        if (Number.isNaN(x)) continue;
        if (best < 0 || sortKey(x, 'f32') > sortKey(values!.data[base + best]!, 'f32')) best = j;
      }
      out[r] = best;
      continue;
    }
    // As the WebGPU kernel computes them (sampleRow.ts), so both draw the same ids.
    const w = rowWeightsF32(values!.data, base, K, attrs);
    const picks = drawRow(w, attrs, u!.data, r * attrs.draws, attrs.draws);
    for (let s = 0; s < attrs.draws; s++) {
      const pick = picks[s]!;
      out[r * attrs.draws + s] = pick < 0 ? -1 : indices ? indices.data[base + pick]! : pick;
    }
  }
  return out;
}

const sampleParams = uniformLayout({
  rows: 'u32',
  K: 'u32',
  draws: 'u32',
  seg: 'u32',
  temperature: 'f32',
  topP: 'f32',
  minP: 'f32',
});

// One workgroup per row; invocation t owns the contiguous segment [t * seg, (t + 1) * seg).
const SAMPLE_HEAD = /* wgsl */ `
fn rowId(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> segSum: array<f32, ${WG}>;
var<workgroup> segStart: array<f32, ${WG}>;
var<workgroup> total: f32;
var<workgroup> cut: atomic<u32>;
var<workgroup> lastPos: atomic<i32>;
`;

// Short rows (K <= 1,024): one invocation per draw runs the reference algorithm sequentially, so
// many rows cost one dispatch without barriers.
const SAMPLE_ROWWISE = /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.x + gid.y * nwg.x * 64u;
  if (id >= p.rows * p.draws) { return; }
  let row = id / p.draws;
  let base = row * p.K;
  var negInfBits = 0xff800000u;
  var vmax = bitcast<f32>(negInfBits);
  for (var j = 0u; j < p.K; j++) { vmax = maxNotNan(vmax, values[base + j]); }
  var total = 0.0;
  for (var j = 0u; j < p.K; j++) { total += weight(values[base + j], vmax); }
  var end = p.K;
  if (p.topP < 1.0) {
    var c = 0.0;
    for (var j = 0u; j < p.K; j++) {
      c += weight(values[base + j], vmax);
      if (c >= p.topP * total) { end = j + 1u; break; }
    }
  }
  var mass = 0.0;
  var pick = -1;
  for (var j = 0u; j < end; j++) {
    let w = weight(values[base + j], vmax);
    if (w >= p.minP && w > 0.0) { mass += w; pick = i32(j); }
  }
  if (mass > 0.0) {
    let goal = u[id] * mass;
    var c = 0.0;
    for (var j = 0u; j < end; j++) {
      let w = weight(values[base + j], vmax);
      if (w >= p.minP && w > 0.0) {
        c += w;
        if (c > goal) { pick = i32(j); break; }
      }
    }
  }
  outBuf[id] = output(row, pick);
}`;

function sampleWgsl(mode: 'logits' | 'probs', withIndices: boolean, rowwise: boolean): string {
  const bindings = withIndices
    ? `@group(0) @binding(2) var<storage, read> indices: array<i32>;
@group(0) @binding(3) var<storage, read_write> outBuf: array<i32>;
@group(0) @binding(4) var<uniform> p: Params;`
    : `@group(0) @binding(2) var<storage, read_write> outBuf: array<i32>;
@group(0) @binding(3) var<uniform> p: Params;`;
  // NaN weighs nothing (tested on its bits: a driver may assume comparisons never see NaN).
  const weight = `${WGSL_NAN_OPS}
fn maxNotNan(m: f32, v: f32) -> f32 { return select(max(m, v), m, isNan(v)); }
${
  mode === 'probs'
    ? 'fn weight(v: f32, vmax: f32) -> f32 { return select(0.0, v, v > 0.0 && !isNan(v)); }'
    : `fn weight(v: f32, vmax: f32) -> f32 {
  if (isNan(v)) { return 0.0; }
  // The largest logit weighs 1, unless the whole row is -Infinity.
  if (v == vmax) { return select(0.0, 1.0, bitcast<u32>(vmax) != 0xff800000u); }
  let w = exp((v - vmax) / p.temperature);
  return select(0.0, w, w > 0.0);
}`
}`;
  const common = `${sampleParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> values: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
${bindings}
${weight}
fn output(row: u32, pick: i32) -> i32 {
  ${withIndices ? 'if (pick >= 0) { return indices[row * p.K + u32(pick)]; }' : ''}
  return pick;
}
`;
  if (rowwise) return common + SAMPLE_ROWWISE;
  return `${common}
${SAMPLE_HEAD}
// Exclusive scan of the segment sums, by one invocation (256 adds, in a fixed order).
fn scanSegments(lid: u32) {
  if (lid == 0u) {
    var c = 0.0;
    for (var t = 0u; t < ${WG}u; t++) { segStart[t] = c; c += segSum[t]; }
    total = c;
  }
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = rowId(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.K;
  let lo = min(lid * p.seg, p.K);
  let hi = min(lo + p.seg, p.K);
  // Row maximum (the largest logit gets weight 1).
  var negInfBits = 0xff800000u;
  var m = bitcast<f32>(negInfBits);
  for (var j = lo; j < hi; j++) { m = maxNotNan(m, values[base + j]); }
  red[lid] = m;
  for (var stride = ${WG / 2}u; stride > 0u; stride = stride / 2u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] = max(red[lid], red[lid + stride]); }
  }
  workgroupBarrier();
  let vmax = red[0];
  var acc = 0.0;
  for (var j = lo; j < hi; j++) { acc += weight(values[base + j], vmax); }
  segSum[lid] = acc;
  if (lid == 0u) { atomicStore(&cut, p.K); atomicStore(&lastPos, -1); }
  workgroupBarrier();
  scanSegments(lid);
  workgroupBarrier();
  // Top-p: the first position where the running sum reaches topP of the total (values sorted).
  if (p.topP < 1.0) {
    let threshold = p.topP * total;
    var c = segStart[lid];
    for (var j = lo; j < hi; j++) {
      c += weight(values[base + j], vmax);
      if (c >= threshold) { atomicMin(&cut, j + 1u); break; }
    }
  }
  workgroupBarrier();
  let end = atomicLoad(&cut);
  acc = 0.0;
  var last = -1;
  for (var j = lo; j < min(hi, end); j++) {
    let w = weight(values[base + j], vmax);
    if (w >= p.minP && w > 0.0) { acc += w; last = i32(j); }
  }
  segSum[lid] = acc;
  if (last >= 0) { atomicMax(&lastPos, last); }
  workgroupBarrier();
  scanSegments(lid);
  workgroupBarrier();
  let mass = total;
  let fallback = atomicLoad(&lastPos);
  for (var s = lid; s < p.draws; s += ${WG}u) {
    var pick = fallback;
    if (mass > 0.0) {
      let goal = u[row * p.draws + s] * mass;
      // The first segment whose running sum passes the goal, then the position inside it.
      var a = 0u;
      var b = ${WG - 1}u;
      while (a < b) {
        let mid = (a + b) / 2u;
        if (segStart[mid] + segSum[mid] > goal) { b = mid; } else { a = mid + 1u; }
      }
      var c = segStart[a];
      for (var j = min(a * p.seg, end); j < end; j++) {
        let w = weight(values[base + j], vmax);
        if (w >= p.minP && w > 0.0) {
          c += w;
          if (c > goal) { pick = i32(j); break; }
        }
      }
    }
    outBuf[row * p.draws + s] = output(row, pick);
  }
}`;
}

function greedyWgsl(rowwise: boolean): string {
  const head = `${sampleParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> values: array<u32>;
@group(0) @binding(1) var<storage, read_write> outBuf: array<i32>;
@group(0) @binding(2) var<uniform> p: Params;
${SORT_KEY_WGSL.f32}
// The largest key, and the lowest position among equal keys (as topk(x, 1) picks); positions
// holding NaN are passed as 0xffffffff, never chosen.
fn better(k: u32, q: u32, key: u32, pos: u32) -> bool {
  return q != 0xffffffffu && (pos == 0xffffffffu || k > key || (k == key && q < pos));
}
fn unlessNan(bits: u32, j: u32) -> u32 { return select(j, 0xffffffffu, (bits & 0x7fffffffu) > 0x7f800000u); }`;
  if (rowwise) {
    return `${head}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= p.rows) { return; }
  var key = 0u;
  var pos = 0xffffffffu;
  for (var j = 0u; j < p.K; j++) {
    let bits = values[row * p.K + j];
    let k = sortKey(bits);
    if (better(k, unlessNan(bits, j), key, pos)) { key = k; pos = j; }
  }
  outBuf[row] = select(i32(pos), -1, pos == 0xffffffffu);
}`;
  }
  return `${head}
var<workgroup> bestKey: array<u32, ${WG}>;
var<workgroup> bestPos: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.K;
  let lo = min(lid * p.seg, p.K);
  let hi = min(lo + p.seg, p.K);
  var key = 0u;
  var pos = 0xffffffffu;
  for (var j = lo; j < hi; j++) {
    let bits = values[base + j];
    let k = sortKey(bits);
    if (better(k, unlessNan(bits, j), key, pos)) { key = k; pos = j; }
  }
  bestKey[lid] = key;
  bestPos[lid] = pos;
  for (var stride = ${WG / 2}u; stride > 0u; stride = stride / 2u) {
    workgroupBarrier();
    if (lid < stride && better(bestKey[lid + stride], bestPos[lid + stride], bestKey[lid], bestPos[lid])) {
      bestKey[lid] = bestKey[lid + stride];
      bestPos[lid] = bestPos[lid + stride];
    }
  }
  if (lid == 0u) { outBuf[row] = select(i32(bestPos[0]), -1, bestPos[0] == 0xffffffffu); }
}`;
}

/** Rows up to this long are handled by one invocation each, longer ones by a workgroup each. */

function sampleWebGpu(
  ctx: GpuContext,
  inputs: readonly GpuTensor[],
  out: GpuTensor,
  attrs: SampleAttrs,
): void {
  const [rows, K] = rowsOf(inputs[0]!.shape);
  if (rows === 0) return;
  const withIndices = inputs.length === 3;
  const rowwise = K <= ROWWISE_MAX;
  const variant = rowwise ? 'rowwise' : 'workgroup';
  const key =
    attrs.mode === 'greedy'
      ? `sample:greedy:${variant}`
      : `sample:${attrs.mode}:${withIndices ? 'indexed' : 'direct'}:${variant}`;
  const pipeline = ctx.pipeline(key, () =>
    attrs.mode === 'greedy' ? greedyWgsl(rowwise) : sampleWgsl(attrs.mode as 'logits', withIndices, rowwise),
  );
  const uniforms = sampleParams.pack({
    rows,
    K,
    draws: attrs.draws,
    seg: Math.max(1, Math.ceil(K / WG)),
    temperature: attrs.temperature || 1,
    topP: attrs.topP,
    minP: attrs.minP,
  });
  const invocations = attrs.mode === 'greedy' ? rows : rows * attrs.draws;
  ctx.dispatch(
    pipeline,
    [...inputs, out],
    uniforms,
    workgroups1d(rowwise ? Math.ceil(invocations / 64) : rows),
  );
}

/**
 * Draws positions from rows of weights: inputs `[values [..., K], u [..., draws]?, indices [..., K]?]`
 * (u is absent in greedy mode); outputs the drawn positions (mapped through `indices` when given).
 */
export const sampleKernel: Kernel<SampleAttrs> = {
  name: 'sample',
  infer([values, u, indices], attrs): TensorInfo[] {
    const op = attrs.mode === 'probs' ? 'multinomial' : 'sample';
    if (values!.dtype !== 'f32')
      throw new TypeError(
        `${op}: expects f32 ${attrs.mode}, got ${values!.dtype}${formatShape(values!.shape)}`,
      );
    const [rows] = rowsOf(values!.shape);
    if (
      attrs.mode !== 'greedy' &&
      (u?.dtype !== 'f32' || u.shape.reduce((a, b) => a * b, 1) !== rows * attrs.draws)
    ) {
      throw new RangeError(
        `${op}: expected ${rows * attrs.draws} f32 uniform numbers, got ${u?.dtype}${formatShape(u?.shape ?? [])}`,
      );
    }
    if (indices && (indices.dtype !== 'i32' || indices.shape.join() !== values!.shape.join())) {
      throw new RangeError(
        `${op}: indices ${indices.dtype}${formatShape(indices.shape)} must be i32 of the values' shape ${formatShape(values!.shape)}`,
      );
    }
    return [{ shape: attrs.outShape, dtype: 'i32' }];
  },
  cpu(inputs, attrs) {
    return [sampleCpu(inputs, attrs)];
  },
  webgpu(ctx, inputs, [out], attrs) {
    sampleWebGpu(ctx, inputs, out!, attrs);
  },
};

/**
 * With top-k and top-p together, how many logits tied with the k-th are kept beyond k: the top-p
 * cut needs them sorted, and sorting a few more than k keeps the fast top-k path of every backend.
 */
const TIE_SLACK = 64;

/** Options for {@link sample}. */
export interface SampleOptions {
  /** Softmax temperature; 0 picks the largest logit (greedy, lowest id on ties). Default 1. */
  temperature?: number;
  /**
   * Keep only the `topK` largest logits, and those tied with the k-th as Hugging Face does (0 or
   * undefined: all). With `topP` below 1 too, at most 64 tied logits are kept beyond `topK`.
   */
  topK?: number;
  /** Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches `topP` (default 1: all). */
  topP?: number;
  /** Drop tokens whose probability is below `minP` times the most likely one's (default 0). */
  minP?: number;
  /** Required unless greedy: the same seed draws the same tokens on every backend. */
  seed?: number | Rng;
}

function checkLogits(logits: Tensor, op: string, name: string): void {
  checkTensor(logits, op, name);
  if (
    logits.dtype !== 'f32' ||
    (logits.rank !== 1 && logits.rank !== 2) ||
    logits.shape[logits.rank - 1] === 0
  ) {
    throw new TypeError(`${op}: expects f32 [B, V] or [V] with V > 0, got ${logits.describe()}`);
  }
}

function inRange(value: number, lo: number, hi: number, name: string, op: string, loOpen = false): number {
  if (!(loOpen ? value > lo : value >= lo) || !(value <= hi)) {
    throw new RangeError(
      `${op}: ${name} must be in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${showValue(value)}`,
    );
  }
  return value;
}

/**
 * Draws one token id per row of `logits` (`[B, V]` -> i32 `[B]`, or `[V]` -> i32 `[]`): greedy when
 * `temperature` is 0; otherwise softmax at `temperature`, then top-k, top-p (nucleus: always at least
 * one token) and min-p filtering in the order Hugging Face applies them, then one draw with a uniform
 * number from the seeded Philox stream. NaN logits weigh nothing (never drawn, never the greedy pick);
 * a row with no finite logit (greedy: no logit that is not NaN) gives -1.
 *
 * @example
 * ```ts
 * const next = sample(logits, { temperature: 0.7, topK: 50, topP: 0.9, seed: rng.next() }); // i32 [B]
 * ```
 */
export function sample(logits: Tensor, options: SampleOptions = {}): Tensor {
  checkLogits(logits, 'sample', 'logits');
  checkOptionKeys('sample', options, ['temperature', 'topK', 'topP', 'minP', 'seed']);
  if (options.seed !== undefined) checkSeed(options.seed, 'sample');
  const V = logits.shape[logits.rank - 1]!;
  const outShape = logits.shape.slice(0, -1);
  const temperature = Math.fround(inRange(options.temperature ?? 1, 0, 3.4e38, 'temperature', 'sample'));
  const topK = options.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0)
    throw new RangeError(`sample: topK must be a non-negative integer, got ${showValue(topK)}`);
  // f32 like the kernels' uniforms, so that every backend compares against the same thresholds.
  const topP = Math.fround(inRange(options.topP ?? 1, 0, 1, 'topP', 'sample', true));
  const minP = Math.fround(inRange(options.minP ?? 0, 0, 1, 'minP', 'sample'));
  const attrs: SampleAttrs = { mode: 'greedy', outShape, draws: 1, temperature, topP, minP };
  if (temperature === 0) return run1(sampleKernel, [logits], attrs);
  if (options.seed === undefined)
    throw new TypeError('sample: options.seed is required when temperature > 0');
  const u = randomUniform(outShape, { backend: logits.backend, seed: options.seed });
  const owned: Tensor[] = [u];
  try {
    const k = topK > 0 ? Math.min(topK, V) : V;
    if (k === V && topP === 1) return run1(sampleKernel, [logits, u], { ...attrs, mode: 'logits', topP: 1 });
    // topk ranks NaN above +Infinity; NaN logits weigh nothing here, so they rank last instead.
    const ninf = full([], Number.NEGATIVE_INFINITY, { backend: logits.backend });
    owned.push(ninf);
    let ranked = tidy(() => where(compare('equal', logits, logits), logits, ninf)); // [..., V]
    owned.push(ranked);
    if (k < V) {
      // Top-k as Hugging Face's TopKLogitsWarper: every logit below the k-th largest is dropped, so
      // logits tied with the k-th all stay (more than k tokens when there are ties).
      ranked = tidy(() => {
        const { values } = topk(ranked, k); // [..., k]
        const kth = slice(
          values,
          [...values.shape.slice(0, -1).map(() => 0), k - 1],
          [...values.shape.slice(0, -1), 1],
        );
        return where(compare('less', ranked, kth), ninf, ranked); // [..., V]
      });
      owned.push(ranked);
      // Without top-p the kernel needs no order.
      if (topP === 1) return run1(sampleKernel, [ranked, u], { ...attrs, mode: 'logits' });
    }
    // Top-p cuts a prefix of the kept logits sorted descending: the k largest, and up to TIE_SLACK
    // more tied with the k-th (dropped entries sort last at -Infinity and weigh nothing).
    const { values, indices } = topk(ranked, Math.min(V, k < V ? k + TIE_SLACK : V));
    owned.push(values, indices);
    return run1(sampleKernel, [values, u, indices], { ...attrs, mode: 'logits' });
  } finally {
    for (const t of owned) t.dispose();
  }
}

/** Options for {@link multinomial}. */
export interface MultinomialOptions {
  /** The same seed draws the same ids on every backend. */
  seed: number | Rng;
  /** Draws per row (default 1). */
  numSamples?: number;
  /** Draw with replacement (default true). Without replacement, numSamples must not exceed V. */
  replacement?: boolean;
}

/**
 * Draws category ids from rows of non-negative weights (`[B, V]` -> i32 `[B, numSamples]`, or
 * `[V]` -> `[numSamples]`); the weights need not sum to 1, and negative and NaN weights count as 0
 * on every backend. With replacement each draw inverts the row's cumulative sum at a seeded uniform
 * number; without, the ids of the `numSamples` largest `p / e` with exponential noise `e` (a draw
 * without replacement, like Gumbel top-k). A draw that finds no positive weight gives -1: every draw
 * of a row without positive weight, and without replacement the draws beyond the row's positive
 * weights.
 *
 * @example
 * ```ts
 * const ids = multinomial(probs, { seed: 3, numSamples: 4 }); // probs [B, V] -> i32 [B, 4]
 * ```
 */
export function multinomial(probs: Tensor, options: MultinomialOptions): Tensor {
  checkLogits(probs, 'multinomial', 'probs');
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      `multinomial: options with a seed are required, e.g. multinomial(probs, { seed: 0 }), got ${showValue(options)}`,
    );
  }
  rejectUnknownKeys('multinomial', options, ['seed', 'numSamples', 'replacement']);
  checkSeed(options.seed, 'multinomial');
  const V = probs.shape[probs.rank - 1]!;
  const draws = options.numSamples ?? 1;
  const replacement = options.replacement ?? true;
  if (typeof replacement !== 'boolean') {
    throw new TypeError(`multinomial: options.replacement must be a boolean, got ${showValue(replacement)}`);
  }
  if (!Number.isInteger(draws) || draws < 1 || (!replacement && draws > V)) {
    throw new RangeError(
      `multinomial: numSamples must be an integer in [1, ${replacement ? 'inf' : V}], got ${draws} (probs ${probs.describe()})`,
    );
  }
  const rows = probs.shape.slice(0, -1);
  const outShape = [...rows, draws];
  if (!replacement) {
    return tidy(() => {
      const backend = probs.backend;
      const noise = randomExponential(probs.shape, { backend, seed: options.seed });
      // Keys p / e for positive weights, -Infinity for the rest (negative, 0, NaN): they rank last
      // and their draws give -1.
      const positive = compare('greater', probs, full([], 0, { backend }));
      const keys = where(positive, div(probs, noise), full([], Number.NEGATIVE_INFINITY, { backend }));
      const { values, indices } = topk(keys, draws);
      const drawn = compare('greater', values, full([], Number.NEGATIVE_INFINITY, { backend }));
      return where(drawn, indices, full([], -1, { backend, dtype: 'i32' }));
    });
  }
  const u = randomUniform(outShape, { backend: probs.backend, seed: options.seed });
  try {
    return run1(sampleKernel, [probs, u], {
      mode: 'probs',
      outShape,
      draws,
      temperature: 1,
      topP: 1,
      minP: 0,
    });
  } finally {
    u.dispose();
  }
}

interface PenaltyAttrs {
  penalty: number;
}

const penaltyParams = uniformLayout({
  size: 'u32',
  V: 'u32',
  L: 'u32',
  oneHistory: 'u32',
  count: 'u32',
  penalty: 'f32',
});

function penaltyWebGpu(
  ctx: GpuContext,
  logits: GpuTensor,
  tokens: GpuTensor,
  out: GpuTensor,
  penalty: number,
): void {
  if (out.size === 0) return;
  const V = logits.shape[logits.shape.length - 1]!;
  const L = tokens.shape[tokens.shape.length - 1]!;
  const rows = out.size / V;
  const count = tokens.shape.length === 1 ? rows * L : tokens.size;
  // 'auto' layouts drop unused bindings, so the copy binds only what it reads and writes.
  const shader = (bindings: string[], body: string) => `${penaltyParams.wgsl('Params')}
${bindings.map((b, i) => `@group(0) @binding(${i}) var<storage, ${b}>;`).join('\n')}
@group(0) @binding(${bindings.length}) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.x + gid.y * nwg.x * ${WG}u;
${body}
}`;
  const copy = ctx.pipeline('repetitionPenalty:copy', () =>
    shader(
      ['read> logits: array<f32', 'read_write> outBuf: array<f32'],
      '  if (id < p.size) { outBuf[id] = logits[id]; }',
    ),
  );
  // Every occurrence of a token writes the same penalized value, so repeats need no deduplication.
  const scatter = ctx.pipeline('repetitionPenalty:scatter', () =>
    shader(
      ['read> logits: array<f32', 'read> tokens: array<i32', 'read_write> outBuf: array<f32'],
      `  if (id >= p.count) { return; }
  let row = id / p.L;
  // oneHistory: one history [L] for every row.
  let t = tokens[select(id, id % p.L, p.oneHistory == 1u)];
  if (t < 0 || u32(t) >= p.V) { return; }
  let at = row * p.V + u32(t);
  let v = logits[at];
  outBuf[at] = select(v / p.penalty, v * p.penalty, v < 0.0);`,
    ),
  );
  const uniforms = penaltyParams.pack({
    size: out.size,
    V,
    L,
    oneHistory: tokens.shape.length === 1 ? 1 : 0,
    count,
    penalty,
  });
  ctx.dispatch(copy, [logits, out], uniforms, workgroups1d(Math.ceil(out.size / WG)));
  ctx.dispatch(scatter, [logits, tokens, out], uniforms, workgroups1d(Math.ceil(count / WG)));
}

/** Applies the repetition penalty to the logits of the tokens in each row's history. */
export const repetitionPenaltyKernel: Kernel<PenaltyAttrs> = {
  name: 'repetitionPenalty',
  infer([logits, tokens]): TensorInfo[] {
    if (logits!.dtype !== 'f32' || logits!.shape.length < 1) {
      throw new TypeError(
        `repetitionPenalty: logits must be f32 [B, V] or [V], got ${logits!.dtype}${formatShape(logits!.shape)}`,
      );
    }
    const rows = logits!.shape.slice(0, -1);
    const ok =
      tokens!.dtype === 'i32' &&
      (tokens!.shape.length === 1 ||
        (tokens!.shape.length === rows.length + 1 && rows.every((d, i) => d === tokens!.shape[i])));
    if (!ok) {
      throw new RangeError(
        `repetitionPenalty: tokens must be i32 [L] or i32 [B, L] matching logits ${formatShape(logits!.shape)}, got ${tokens!.dtype}${formatShape(tokens!.shape)}`,
      );
    }
    return [{ shape: logits!.shape, dtype: 'f32' }];
  },
  cpu([logits, tokens], { penalty }) {
    const out = Float32Array.from(logits!.data as Float32Array);
    const V = logits!.shape[logits!.shape.length - 1]!;
    const L = tokens!.shape[tokens!.shape.length - 1]!;
    const rows = V === 0 ? 0 : out.length / V;
    for (let r = 0; r < rows; r++) {
      for (let l = 0; l < L; l++) {
        const t = tokens!.data[tokens!.shape.length === 1 ? l : r * L + l]!;
        if (t < 0 || t >= V) continue;
        const v = logits!.data[r * V + t]!;
        out[r * V + t] = v < 0 ? v * penalty : v / penalty;
      }
    }
    return [out];
  },
  webgpu(ctx, [logits, tokens], [out], { penalty }) {
    penaltyWebGpu(ctx, logits!, tokens!, out!, penalty);
  },
};

/**
 * The repetition penalty of CTRL and Hugging Face: for every token id in a row's history, a negative
 * logit is multiplied by `penalty` and a positive one divided by it (each id once, however often it
 * occurs). `tokens` is i32 `[B, L]` (or `[L]` for every row); ids outside `[0, V)` (padding such as
 * -1) are ignored.
 *
 * @example
 * ```ts
 * const penalized = repetitionPenalty(logits, generatedIds, 1.2); // [B, V], [B, L] -> [B, V]
 * ```
 */
export function repetitionPenalty(logits: Tensor, tokens: Tensor, penalty: number): Tensor {
  checkTensor(logits, 'repetitionPenalty', 'logits');
  checkTensor(tokens, 'repetitionPenalty', 'tokens');
  if (!(penalty > 0) || !Number.isFinite(penalty)) {
    throw new RangeError(`repetitionPenalty: penalty must be a positive number, got ${showValue(penalty)}`);
  }
  return run1(repetitionPenaltyKernel, [logits, tokens], { penalty: Math.fround(penalty) });
}
