// The k largest entries along an axis, sorted descending, ties broken by the lower index. On WebGPU
// short rows with small k take one invocation each (an insertion list in private memory); other
// rows are cut into blocks of up to 1,024 entries that are bitonic-sorted in workgroup memory: for
// k <= 256 only the best k of each block survive into the next round (a 150,000-entry row needs
// three rounds), and for larger k a full bitonic sort merges the blocks with global passes.
import type { TensorInfo } from '../backend.js';
import { type GpuContext, type GpuTensor, workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { allocArray } from '../dtype.js';
import { runKernel } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { formatShape, normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { matmul } from './matmul.js';
import { oneHot } from './oneHot.js';
import { reshape } from './reshape.js';
import { transpose } from './transpose.js';

interface TopkAttrs {
  k: number;
  axis: number;
}

/** `[outer, n, inner]`: the axis and the sizes before and after it. */
function split(shape: readonly number[], axis: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return [outer, shape[axis]!, inner];
}

const f32Bits = new Float32Array(1);
const u32Bits = new Uint32Array(f32Bits.buffer);

/**
 * A u32 whose unsigned order is the order of the values: NaN above +Infinity (as in PyTorch), -0
 * equal to +0. The WGSL `sortKey` below computes the same function.
 * @internal
 */
export function sortKey(value: number, dtype: 'f32' | 'i32'): number {
  if (dtype === 'i32') return (value ^ 0x80000000) >>> 0;
  if (Number.isNaN(value)) return 0xffffffff;
  f32Bits[0] = value === 0 ? 0 : value;
  const b = u32Bits[0]!;
  return (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
}

/** @internal The WGSL twin of {@link sortKey}, on a value's bits. */
export const SORT_KEY_WGSL: Record<'f32' | 'i32', string> = {
  f32: `fn sortKey(bits: u32) -> u32 {
  if ((bits & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; }
  let b = select(bits, 0u, bits == 0x80000000u);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}`,
  i32: 'fn sortKey(bits: u32) -> u32 { return bits ^ 0x80000000u; }',
};

// Pairs (key, index); `before(a, b)`: a ranks ahead of b. Padding sentinels rank after every entry.
const PAIR_WGSL = /* wgsl */ `
const SENTINEL = vec2<u32>(0u, 0xffffffffu);
fn before(a: vec2<u32>, b: vec2<u32>) -> bool { return a.x > b.x || (a.x == b.x && a.y < b.y); }
`;

const loadParams = uniformLayout({ total: 'u32', n: 'u32', P: 'u32', inner: 'u32' });
const localParams = uniformLayout({
  blocks: 'u32',
  P: 'u32',
  C: 'u32',
  sFrom: 'u32',
  sTo: 'u32',
  globalDir: 'u32',
});
const globalParams = uniformLayout({ half: 'u32', P: 'u32', s: 'u32', j: 'u32' });
const compactParams = uniformLayout({
  total: 'u32',
  srcP: 'u32',
  dstP: 'u32',
  m: 'u32',
  kept: 'u32',
  C: 'u32',
});
const finalParams = uniformLayout({ total: 'u32', n: 'u32', P: 'u32', k: 'u32', inner: 'u32' });

const WG = 256;
const MAX_BLOCK = 1024;
const LOCAL_WG = 64;

function linearId(wg = WG): string {
  return `let id = gid.x + gid.y * nwg.x * ${wg}u;`;
}

const MAIN_1D = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${linearId()}`;

/** Writes each row's keys and indices into `pairs` ([R, P]), padding with sentinels. */
function encodeLoad(
  ctx: GpuContext,
  x: GpuTensor,
  pairs: GPUBuffer,
  rows: number,
  n: number,
  P: number,
  inner: number,
): void {
  const dtype = x.dtype === 'i32' ? 'i32' : 'f32';
  const pipeline = ctx.pipeline(
    `topk:load:${dtype}`,
    () => `${loadParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> xBuf: array<u32>;
@group(0) @binding(1) var<storage, read_write> pairs: array<vec2<u32>>;
@group(0) @binding(2) var<uniform> p: Params;
${SORT_KEY_WGSL[dtype]}
${PAIR_WGSL}
${MAIN_1D}
  if (id >= p.total) { return; }
  let r = id / p.P;
  let j = id % p.P;
  if (j >= p.n) { pairs[id] = SENTINEL; return; }
  // Row r = (o, i) of x viewed as [outer, n, inner].
  let o = r / p.inner;
  let i = r % p.inner;
  pairs[id] = vec2<u32>(sortKey(xBuf[(o * p.n + j) * p.inner + i]), j);
}`,
  );
  const total = rows * P;
  ctx.dispatch(
    pipeline,
    [x, pairs],
    loadParams.pack({ total, n, P, inner }),
    workgroups1d(Math.ceil(total / WG)),
  );
}

/**
 * Bitonic steps inside blocks of C pairs held in workgroup memory: all stages `sFrom..sTo`, each
 * from step `min(s, C) / 2` down to 1. The sort direction of position i at stage s is
 * `(pos & s) == 0` (ahead-first), where pos is i's place in its row (`globalDir`) or in its block.
 * Each invocation owns `per` consecutive pairs of positions, so steps with j <= per stay inside one
 * invocation's slice and need no barrier between them: barriers are what software drivers (and,
 * less so, GPUs) pay for. C is a uniform so that one pipeline serves every block size.
 */
function encodeLocal(
  ctx: GpuContext,
  pairs: GPUBuffer,
  rows: number,
  P: number,
  C: number,
  sFrom: number,
  sTo: number,
  globalDir: boolean,
): void {
  const pipeline = ctx.pipeline(
    'topk:local',
    () => `${localParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read_write> pairs: array<vec2<u32>>;
@group(0) @binding(1) var<uniform> p: Params;
${PAIR_WGSL}
var<workgroup> sh: array<vec2<u32>, ${MAX_BLOCK}>;
@compute @workgroup_size(${LOCAL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let block = wid.x + wid.y * nwg.x;
  if (block >= p.blocks) { return; }
  let base = block * p.C;
  // The block's offset inside its row (rows are P long, P a multiple of C).
  let rowPos = select(0u, base % p.P, p.globalDir != 0u);
  for (var t = lid; t < p.C; t += ${LOCAL_WG}u) { sh[t] = pairs[base + t]; }
  let per = max(1u, p.C / ${2 * LOCAL_WG}u);
  // Invocations past C / 2 / per pairs have nothing to do but keep to the barriers.
  let first = min(lid * per, p.C / 2u);
  let last = min(first + per, p.C / 2u);
  var prev = p.C;
  for (var s = p.sFrom; s <= p.sTo; s = s * 2u) {
    for (var j = min(s, p.C) / 2u; j > 0u; j = j / 2u) {
      if (j > per || prev > per) { workgroupBarrier(); }
      prev = j;
      for (var q = first; q < last; q++) {
        let i = ((q & ~(j - 1u)) << 1u) | (q & (j - 1u));
        let l = i + j;
        let a = sh[i];
        let b = sh[l];
        let ahead = ((rowPos + i) & s) == 0u;
        if (select(before(a, b), before(b, a), ahead)) { sh[i] = b; sh[l] = a; }
      }
    }
  }
  workgroupBarrier();
  for (var t = lid; t < p.C; t += ${LOCAL_WG}u) { pairs[base + t] = sh[t]; }
}`,
  );
  const blocks = (rows * P) / C;
  const uniforms = localParams.pack({ blocks, P, C, sFrom, sTo, globalDir: globalDir ? 1 : 0 });
  ctx.dispatch(pipeline, [pairs], uniforms, workgroups1d(blocks));
}

/** One bitonic step (stage s, distance j >= C) across a whole row, in global memory. */
function encodeGlobal(
  ctx: GpuContext,
  pairs: GPUBuffer,
  rows: number,
  P: number,
  s: number,
  j: number,
): void {
  const pipeline = ctx.pipeline(
    'topk:global',
    () => `${globalParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read_write> pairs: array<vec2<u32>>;
@group(0) @binding(1) var<uniform> p: Params;
${PAIR_WGSL}
${MAIN_1D}
  if (id >= p.half) { return; }
  let half = p.P / 2u;
  let base = (id / half) * p.P;
  let q = id % half;
  let i = ((q & ~(p.j - 1u)) << 1u) | (q & (p.j - 1u));
  let a = pairs[base + i];
  let b = pairs[base + i + p.j];
  if (select(before(a, b), before(b, a), (i & p.s) == 0u)) { pairs[base + i] = b; pairs[base + i + p.j] = a; }
}`,
  );
  const half = (rows * P) / 2;
  ctx.dispatch(pipeline, [pairs], globalParams.pack({ half, P, s, j }), workgroups1d(Math.ceil(half / WG)));
}

/** Keeps the first m pairs of every sorted block of `src` ([R, srcP]) in `dst` ([R, dstP]). */
function encodeCompact(
  ctx: GpuContext,
  src: GPUBuffer,
  dst: GPUBuffer,
  rows: number,
  srcP: number,
  dstP: number,
  m: number,
  C: number,
): void {
  const pipeline = ctx.pipeline(
    'topk:compact',
    () => `${compactParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> src: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec2<u32>>;
@group(0) @binding(2) var<uniform> p: Params;
${PAIR_WGSL}
${MAIN_1D}
  if (id >= p.total) { return; }
  let r = id / p.dstP;
  let t = id % p.dstP;
  if (t >= p.kept) { dst[id] = SENTINEL; return; }
  dst[id] = src[r * p.srcP + (t / p.m) * p.C + t % p.m];
}`,
  );
  const total = rows * dstP;
  const kept = (srcP / C) * m;
  ctx.dispatch(
    pipeline,
    [src, dst],
    compactParams.pack({ total, srcP, dstP, m, kept, C }),
    workgroups1d(Math.ceil(total / WG)),
  );
}

/** Writes the first k pairs of each sorted row as values (copied from x) and indices. */
function encodeFinal(
  ctx: GpuContext,
  x: GpuTensor,
  pairs: GPUBuffer,
  values: GpuTensor,
  indices: GpuTensor,
  n: number,
  P: number,
  k: number,
  inner: number,
): void {
  const pipeline = ctx.pipeline(
    'topk:final',
    () => `${finalParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> xBuf: array<u32>;
@group(0) @binding(1) var<storage, read> pairs: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> values: array<u32>;
@group(0) @binding(3) var<storage, read_write> indices: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;
${MAIN_1D}
  if (id >= p.total) { return; }
  // id indexes the output viewed as [outer, k, inner].
  let i = id % p.inner;
  let t = (id / p.inner) % p.k;
  let o = id / (p.inner * p.k);
  let j = pairs[(o * p.inner + i) * p.P + t].y;
  values[id] = xBuf[(o * p.n + j) * p.inner + i];
  indices[id] = j;
}`,
  );
  const total = values.size;
  ctx.dispatch(
    pipeline,
    [x, pairs, values, indices],
    finalParams.pack({ total, n, P, k, inner }),
    workgroups1d(Math.ceil(total / WG)),
  );
}

const SMALL_K = 32;
const SMALL_N = 1024;

/**
 * Small k on short rows (router top-2 of 8 experts, top-k of a small vocabulary): one invocation
 * per row keeps a sorted list of the best k in private memory. Many small rows then cost one
 * dispatch and no workgroup barriers.
 */
function encodeRowwise(
  ctx: GpuContext,
  x: GpuTensor,
  values: GpuTensor,
  indices: GpuTensor,
  rows: number,
  n: number,
  k: number,
  inner: number,
): void {
  const dtype = x.dtype === 'i32' ? 'i32' : 'f32';
  const pipeline = ctx.pipeline(
    `topk:rowwise:${dtype}`,
    () => `${finalParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> xBuf: array<u32>;
@group(0) @binding(1) var<storage, read_write> values: array<u32>;
@group(0) @binding(2) var<storage, read_write> indices: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;
${SORT_KEY_WGSL[dtype]}
${PAIR_WGSL}
${MAIN_1D}
  if (id >= p.total) { return; }
  let o = id / p.inner;
  let i = id % p.inner;
  var best: array<vec2<u32>, ${SMALL_K}>;
  var count = 0u;
  for (var j = 0u; j < p.n; j++) {
    let e = vec2<u32>(sortKey(xBuf[(o * p.n + j) * p.inner + i]), j);
    var pos = count;
    if (count < p.k) { count++; } else if (before(e, best[p.k - 1u])) { pos = p.k - 1u; } else { continue; }
    // Insertion: later entries never pass equal keys, so ties keep the lower index first.
    while (pos > 0u && before(e, best[pos - 1u])) { best[pos] = best[pos - 1u]; pos--; }
    best[pos] = e;
  }
  for (var t = 0u; t < p.k; t++) {
    let j = best[t].y;
    values[(o * p.k + t) * p.inner + i] = xBuf[(o * p.n + j) * p.inner + i];
    indices[(o * p.k + t) * p.inner + i] = j;
  }
}`,
  );
  ctx.dispatch(
    pipeline,
    [x, values, indices],
    finalParams.pack({ total: rows, n, P: 0, k, inner }),
    workgroups1d(Math.ceil(rows / WG)),
  );
}

function nextPow2(v: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, v)));
}

function topkWebGpu(
  ctx: GpuContext,
  x: GpuTensor,
  values: GpuTensor,
  indices: GpuTensor,
  { k, axis }: TopkAttrs,
): void {
  if (values.size === 0) return;
  const [outer, n, inner] = split(x.shape, axis);
  const rows = outer * inner;
  if (k <= SMALL_K && n <= SMALL_N) {
    encodeRowwise(ctx, x, values, indices, rows, n, k, inner);
    return;
  }
  const C = Math.min(MAX_BLOCK, Math.max(64, nextPow2(n)));
  // Small k: rounds of "sort blocks, keep each block's best k" shrink the row at least 4x a round.
  const chunked = n <= C || k <= C / 4;
  let P = chunked ? Math.ceil(n / C) * C : nextPow2(n);
  const bytes = rows * P * 8;
  if (bytes > ctx.limits.maxStorageBufferBindingSize) {
    throw new RangeError(
      `topk: ${rows} rows of ${n} entries (k = ${k}) need a ${bytes}-byte WebGPU buffer, over this device's ` +
        `maxStorageBufferBindingSize (${ctx.limits.maxStorageBufferBindingSize}); ` +
        // Small k sorts in blocks of the row, whose size k does not change: only fewer rows or
        // shorter ones help there.
        (chunked ? 'use fewer or shorter rows' : `use fewer rows, or k <= ${C / 4} (sorted in blocks)`),
    );
  }
  let pairs = ctx.scratch(bytes);
  encodeLoad(ctx, x, pairs, rows, n, P, inner);
  if (chunked) {
    let spare: GPUBuffer | undefined;
    for (;;) {
      encodeLocal(ctx, pairs, rows, P, C, 2, C, false);
      if (P === C) break;
      const dstP = Math.ceil(((P / C) * k) / C) * C;
      spare ??= ctx.scratch(rows * dstP * 8);
      encodeCompact(ctx, pairs, spare, rows, P, dstP, k, C);
      [pairs, spare] = [spare, pairs];
      P = dstP;
    }
  } else {
    encodeLocal(ctx, pairs, rows, P, C, 2, C, true);
    for (let s = 2 * C; s <= P; s *= 2) {
      for (let j = s / 2; j >= C; j /= 2) encodeGlobal(ctx, pairs, rows, P, s, j);
      encodeLocal(ctx, pairs, rows, P, C, s, s, true);
    }
  }
  encodeFinal(ctx, x, pairs, values, indices, n, P, k, inner);
}

/** Top-k along an axis: outputs `[values, indices]`. */
export const topkKernel: Kernel<TopkAttrs> = {
  name: 'topk',
  infer([x], { k, axis }): TensorInfo[] {
    if (x!.dtype !== 'f32' && x!.dtype !== 'i32') {
      throw new TypeError(`topk: x must be f32 or i32, got ${x!.dtype}${formatShape(x!.shape)}`);
    }
    const n = x!.shape[axis]!;
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new RangeError(
        `topk: k must be an integer in [0, ${n}] (axis ${axis} of x ${formatShape(x!.shape)}), got ${k}`,
      );
    }
    const shape = x!.shape.map((d, i) => (i === axis ? k : d));
    return [
      { shape, dtype: x!.dtype },
      { shape, dtype: 'i32' },
    ];
  },
  cpu([x], { k, axis }, [out]) {
    const [outer, n, inner] = split(x!.shape, axis);
    const dtype = x!.dtype as 'f32' | 'i32';
    const values = allocArray(out!.dtype, outer * k * inner);
    const indices = new Int32Array(outer * k * inner);
    const keys = new Uint32Array(n);
    const order = new Uint32Array(n);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        for (let j = 0; j < n; j++) {
          keys[j] = sortKey(x!.data[(o * n + j) * inner + i]!, dtype);
          order[j] = j;
        }
        order.sort((a, b) => keys[b]! - keys[a]! || a - b);
        for (let t = 0; t < k; t++) {
          const j = order[t]!;
          values[(o * k + t) * inner + i] = x!.data[(o * n + j) * inner + i]!;
          indices[(o * k + t) * inner + i] = j;
        }
      }
    }
    return [values, indices];
  },
  webgpu(ctx, [x], [values, indices], attrs) {
    topkWebGpu(ctx, x!, values!, indices!, attrs);
  },
  tfjs(tf, [x], { k, axis }, _outputs, [info]) {
    // tf.topk compares by subtraction: equal infinities give NaN, which breaks its selection (a
    // wrong set, not only a wrong order), and NaN has no rank. Such inputs run the reference; the
    // check reads one flag back (on tfjs's GPU backends, a stall).
    if (info!.dtype === 'f32' && !tf.all(tf.isFinite(x)).dataSync()[0]) return undefined;
    // tf.topk works on the last axis and breaks ties by the lower index too.
    const last = x.rank - 1;
    if (axis === last) {
      const r = tf.topk(x, k, true);
      return [r.values, r.indices];
    }
    const perm = [...Array(x.rank).keys()].filter((d) => d !== axis).concat(axis);
    const back = perm.map((_, d) => perm.indexOf(d));
    const r = tf.topk(tf.transpose(x, perm), k, true);
    return [tf.transpose(r.values, back), tf.transpose(r.indices, back)];
  },
  grad({ dy: [dValues], inputs: [x], outputs: [, indices], attrs: { k, axis } }) {
    // Each value's gradient goes back to the position it was taken from (the indices), as in
    // PyTorch; the indices are integers and get none.
    if (!dValues || x!.dtype !== 'f32') return [undefined];
    return [topkGrad(dValues, indices!, x!.shape, k, axis)];
  },
};

/**
 * Scatters `dValues` (x's shape with k at `axis`) to the `indices` they were picked from: with the
 * axis moved last, each row is `[1, k] @ oneHot(indices) [k, n]`, so no scatter kernel is needed
 * (the indices differ from row to row) and the sum over k needs no atomics.
 */
function topkGrad(
  dValues: Tensor,
  indices: Tensor,
  xShape: readonly number[],
  k: number,
  axis: number,
): Tensor {
  const rank = xShape.length;
  const n = xShape[axis]!;
  const last = axis === rank - 1;
  const perm = [...Array(rank).keys()].filter((d) => d !== axis).concat(axis);
  const toLast = (t: Tensor): Tensor => (last ? t : transpose(t, perm));
  const rows = xShape.filter((_, d) => d !== axis); // the other dims, in order
  const dy = reshape(toLast(dValues), [...rows, 1, k]); // [..., 1, k]
  const picks = oneHot(toLast(indices), n); // [..., k, n]
  const dx = reshape(matmul(dy, picks), [...rows, n]); // [..., n]
  if (last) return dx;
  const back = perm.map((_, d) => perm.indexOf(d));
  return transpose(dx, back); // x's shape
}

/** What {@link topk} returns. */
export interface TopkResult {
  /** The k largest values along the axis, largest first (same dtype as x). */
  values: Tensor;
  /** Their positions along the axis (i32). */
  indices: Tensor;
}

/**
 * The `k` largest entries of `x` along `axis`, sorted descending; equal values keep their order
 * (the lower index first). NaN ranks above +Infinity and -0 equals +0. Any `k` from 0 to the
 * axis length; f32 or i32. Differentiable in `values` (for f32 x): each value's gradient goes to
 * the position it came from, as in PyTorch.
 *
 * @example
 * ```ts
 * const { values, indices } = topk(logits, 50); // logits [B, V] -> values f32[B, 50], indices i32[B, 50]
 * ```
 */
export function topk(x: Tensor, k: number, axis = -1): TopkResult {
  checkTensor(x, 'topk', 'x');
  const a = normAxis(axis, x.rank, 'topk');
  const [values, indices] = runKernel(topkKernel, [x], { k, axis: a });
  return { values: values!, indices: indices! };
}
