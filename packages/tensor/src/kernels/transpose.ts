// transpose(x, perm): permutes axes, any rank up to 8 and any dtype. Also home of the index-map
// shader builder that every copy-like kernel of this group (slice, pad, concat, gather, upsample)
// shares: each output element is fetched from one source element (or a fill value), so the same
// shader shell handles 32-bit dtypes (one element per invocation) and f16/bf16 packed two per u32
// (one word, two elements per invocation).
import type { TensorInfo } from '../backend.js';
import type { GpuContext, GpuTensor } from '../backends/webgpu/context.js';
import { workgroups1d } from '../backends/webgpu/context.js';
import { wgslDeviceErrors } from '../backends/webgpu/deviceErrors.js';
import { uniformLayout, WGSL_SHAPE_AT } from '../backends/webgpu/uniforms.js';
import {
  allocArray,
  type DType,
  f32ToBf16,
  f32ToF16,
  quantizedUnsupported,
  type TypedArray,
} from '../dtype.js';
import { checkTensor } from '../checkTensor.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { formatShape, type Shape, sizeOf, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { assertIntegers, reshape } from './reshape.js';
import { MAX_RANK } from './elementwise.js';

// ---------------------------------------------------------------------------------------------
// Shared index-map machinery (internal to the shape-op kernels).

/** @internal Pads a list of dims/strides to the 8 slots of a `shape` uniform field. */
export function pad8(values: readonly number[]): number[] {
  return [...values, ...new Array<number>(MAX_RANK - values.length).fill(0)];
}

/** @internal Throws unless `info` has rank ≤ 8 (the size of a `shape` uniform). */
export function assertMaxRank(info: TensorInfo, op: string, name = 'x'): void {
  if (info.shape.length > MAX_RANK) {
    throw new RangeError(
      `${op}: ${name} has rank ${info.shape.length} (shape ${formatShape(info.shape)}); at most ${MAX_RANK} is supported`,
    );
  }
}

/** @internal The storage bits of `value` in `dtype` (what a fill writes). */
export function fillBits(value: number, dtype: DType): number {
  switch (dtype) {
    case 'f32':
      return new Uint32Array(Float32Array.of(value).buffer)[0]!;
    case 'i32':
    case 'u32':
      return value >>> 0;
    case 'bool':
      return value ? 1 : 0;
    case 'f16':
      return f32ToF16(value);
    case 'bf16':
      return f32ToBf16(value);
    default:
      return quantizedUnsupported('fill', dtype);
  }
}

/** @internal An extra read-only buffer an index-map shader reads (e.g. gather's indices). */
export interface IndexMapExtra {
  readonly tensor: GpuTensor;
  readonly name: string;
  /** WGSL element type, e.g. `i32`. */
  readonly type: string;
}

/** @internal What {@link dispatchIndexMap} needs. */
export interface IndexMapJob {
  /** Pipeline key part: must capture everything `locate` depends on (the dtype width is added). */
  readonly key: string;
  /** Tensors the output is copied from, bound as `src0..srcN-1` (all of the output's dtype). */
  readonly sources: readonly GpuTensor[];
  readonly extras?: readonly IndexMapExtra[];
  readonly out: GpuTensor;
  /** WGSL struct declaration named `Params`; must have `size: u32` (output elements) and `fill: u32`. */
  readonly paramsWgsl: string;
  readonly uniforms: Uint8Array;
  /** Bind the backend's device-error flags, so that `locate` may call `flagError(bit)`. */
  readonly deviceErrors?: boolean;
  /**
   * WGSL `fn locate(o: u32) -> vec2<i32>`: for output element `o`, `(source, element)`; source -1
   * writes `p.fill`, source -2 leaves the element as an earlier dispatch wrote it.
   */
  readonly locate: string;
}

/** @internal Encodes an index-map copy (see the file comment). */
export function dispatchIndexMap(ctx: GpuContext, job: IndexMapJob): void {
  const { out, sources } = job;
  if (out.size === 0) return;
  const packed = out.dtype === 'f16' || out.dtype === 'bf16';
  const extras = job.extras ?? [];
  const WG = 256;
  const flags = job.deviceErrors ? ctx.deviceErrors() : undefined;
  const key = `imap:${job.key}:${packed ? 16 : 32}:${sources.length}:${extras.map((e) => `${e.name}/${e.type}`).join(',')}${flags ? ':errors' : ''}`;
  const pipeline = ctx.pipeline(key, () => {
    const decls = [
      ...sources.map((_, i) => `@group(0) @binding(${i}) var<storage, read> src${i}: array<u32>;`),
      ...extras.map(
        (e, i) => `@group(0) @binding(${sources.length + i}) var<storage, read> ${e.name}: array<${e.type}>;`,
      ),
    ];
    if (flags) decls.push(wgslDeviceErrors(sources.length + extras.length));
    const n = sources.length + extras.length + (flags ? 1 : 0);
    // A 16-bit element e lives in the low (even e) or high (odd e) half of word e / 2.
    const read = (i: number) => (packed ? `(src${i}[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu` : `src${i}[e]`);
    const fetch = sources.map((_, i) => `  if (s == ${i}) { return ${read(i)}; }`).join('\n');
    const main = packed
      ? `  let w = i;
  if (2u * w >= p.size) { return; }
  let l0 = locate(2u * w);
  var lo = 0u;
  var hi = 0u;
  var old = 0u;
  var l1 = vec2<i32>(-1, 0);
  if (2u * w + 1u < p.size) { l1 = locate(2u * w + 1u); } else { l1 = vec2<i32>(-3, 0); }
  if (l0.x == -2 || l1.x == -2) { old = outBuf[w]; }
  if (l0.x == -2) { lo = old & 0xffffu; } else { lo = fetch(l0.x, u32(l0.y)); }
  if (l1.x == -2) { hi = old >> 16u; } else if (l1.x != -3) { hi = fetch(l1.x, u32(l1.y)); }
  if (l0.x == -2 && l1.x == -2) { return; }
  outBuf[w] = (lo & 0xffffu) | (hi << 16u);`
      : `  if (i >= p.size) { return; }
  let l = locate(i);
  if (l.x == -2) { return; }
  outBuf[i] = fetch(l.x, u32(l.y));`;
    return `${job.paramsWgsl}
${WGSL_SHAPE_AT}
${decls.join('\n')}
@group(0) @binding(${n}) var<storage, read_write> outBuf: array<u32>;
@group(0) @binding(${n + 1}) var<uniform> p: Params;

${job.locate}

fn fetch(s: i32, e: u32) -> u32 {
${fetch}
  return ${packed ? 'p.fill & 0xffffu' : 'p.fill'};
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
${main}
}`;
  });
  const units = packed ? Math.ceil(out.size / 2) : out.size;
  ctx.dispatch(
    pipeline,
    [...sources, ...extras.map((e) => e.tensor), ...(flags ? [flags] : []), out],
    job.uniforms,
    workgroups1d(Math.ceil(units / WG)),
  );
}

/** @internal Calls `visit(outIndex, coords)` for every output element in row-major order. */
export function forEachIndex(shape: Shape, visit: (i: number, coords: readonly number[]) => void): void {
  const size = sizeOf(shape);
  const coords = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < size; i++) {
    visit(i, coords);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++coords[d]! < shape[d]!) break;
      coords[d] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// transpose

interface TransposeAttrs {
  readonly perm: readonly number[];
}

/**
 * The fast CPU path: when the innermost (merged) axis stays innermost, copy it as contiguous runs
 * (the head split/merge `[B, T, H, D] <-> [B, H, T, D]` of attention is this case).
 */
/**
 * Views of two arrays of one dtype as the integer array of their element width (4 bytes:
 * Int32Array, and so on), so a copy loop sees one array type whatever the dtype; the arrays as
 * they are when their width has no such view or their offsets do not allow one.
 */
function sameWidthViews(
  a: TypedArray,
  b: TypedArray,
): [ArrayLike<number> & { [i: number]: number }, { [i: number]: number }] {
  const width = a.BYTES_PER_ELEMENT;
  const View = width === 4 ? Int32Array : width === 2 ? Uint16Array : width === 1 ? Uint8Array : undefined;
  if (!View || b.BYTES_PER_ELEMENT !== width || a instanceof BigInt64Array || a instanceof BigUint64Array)
    return [a as never, b as never];
  return [
    new View(a.buffer as ArrayBuffer, a.byteOffset, a.length),
    new View(b.buffer as ArrayBuffer, b.byteOffset, b.length),
  ];
}

function copyRuns(data: TypedArray, shape: Shape, perm: readonly number[], out: TypedArray): boolean {
  const s = simplifyPermutation(shape, perm);
  const rank = s.shape.length;
  if (rank < 2 || s.perm[rank - 1] !== rank - 1) return false;
  const run = s.shape[rank - 1]!;
  const strides = stridesOf(s.shape);
  const outShape = s.perm.map((a) => s.shape[a]!);
  const outer = outShape.slice(0, rank - 1);
  const src = s.perm.slice(0, rank - 1).map((a) => strides[a]!);
  const count = outer.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(rank - 1).fill(0);
  let offset = 0;
  // Short runs (a head of 64 values) copy faster element by element than through a subarray view,
  // through views of one type per element width: this loop then sees an Int32Array for every
  // 4-byte dtype instead of whichever array each call brings (a ViT's patch transpose, runs of 32,
  // took 3 ms through the polymorphic accesses, 0.3 ms through the views).
  const short = run < 256;
  const [from, to] = short ? sameWidthViews(data, out) : [data, out];
  for (let r = 0; r < count; r++) {
    if (short) for (let j = 0, o = r * run; j < run; j++) to[o + j] = from[offset + j]!;
    else out.set(data.subarray(offset, offset + run) as never, r * run);
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      offset += src[d]!;
      if (idx[d]! < outer[d]!) break;
      offset -= src[d]! * outer[d]!;
      idx[d] = 0;
    }
  }
  return true;
}

/**
 * Drops size-1 axes and merges axes that stay adjacent and in order under `perm`, so that e.g.
 * NCHW -> NHWC (perm [0, 2, 3, 1]) becomes a batched 2-D transpose [N, C, HW] -> [N, HW, C].
 */
export function simplifyPermutation(
  shape: Shape,
  perm: readonly number[],
): { shape: number[]; perm: number[] } {
  const keep = perm.filter((a) => shape[a] !== 1);
  // Groups of input axes that are consecutive in both the input and the permuted order.
  const groups: number[][] = [];
  for (const a of keep) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] === a - 1 - countDroppedBetween(shape, last[last.length - 1]!, a))
      last.push(a);
    else groups.push([a]);
  }
  const order = [...groups].sort((g, h) => g[0]! - h[0]!);
  const newShape = order.map((g) => g.reduce((n, a) => n * shape[a]!, 1));
  const newPerm = groups.map((g) => order.indexOf(g));
  return { shape: newShape, perm: newPerm };
}

function countDroppedBetween(shape: Shape, a: number, b: number): number {
  let n = 0;
  for (let i = a + 1; i < b; i++) if (shape[i] === 1) n++;
  return n;
}

const transposeParams = uniformLayout({
  size: 'u32',
  fill: 'u32',
  rank: 'u32',
  outShape: 'shape',
  srcStrides: 'shape',
});
const tiledParams = uniformLayout({ rows: 'u32', cols: 'u32' });
const TILE = 32;

// Batched 2-D transpose [B, R, C] -> [B, C, R] through a padded workgroup tile (33 columns keep
// the column reads free of bank conflicts), so both the reads and the writes are coalesced.
function dispatchTiled(
  ctx: GpuContext,
  x: GpuTensor,
  out: GpuTensor,
  b: number,
  rows: number,
  cols: number,
): void {
  const pipeline = ctx.pipeline(
    'transpose:tiled',
    () => `${tiledParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;
var<workgroup> tile: array<u32, ${TILE * (TILE + 1)}>;

@compute @workgroup_size(${TILE}, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let base = wid.z * p.rows * p.cols;
  let c0 = wid.x * ${TILE}u;
  let r0 = wid.y * ${TILE}u;
  for (var k = 0u; k < ${TILE}u; k += 8u) {
    let r = r0 + lid.y + k;
    let c = c0 + lid.x;
    if (r < p.rows && c < p.cols) { tile[(lid.y + k) * ${TILE + 1}u + lid.x] = src[base + r * p.cols + c]; }
  }
  workgroupBarrier();
  for (var k = 0u; k < ${TILE}u; k += 8u) {
    let c = c0 + lid.y + k;
    let r = r0 + lid.x;
    if (r < p.rows && c < p.cols) { dst[base + c * p.rows + r] = tile[lid.x * ${TILE + 1}u + lid.y + k]; }
  }
}`,
  );
  ctx.dispatch(pipeline, [x, out], tiledParams.pack({ rows, cols }), [
    Math.ceil(cols / TILE),
    Math.ceil(rows / TILE),
    b,
  ]);
}

function transposeGpu(ctx: GpuContext, x: GpuTensor, out: GpuTensor, perm: readonly number[]): void {
  if (out.size === 0) return;
  const s = simplifyPermutation(x.shape, perm);
  const r = s.perm.length;
  const packed = x.dtype === 'f16' || x.dtype === 'bf16';
  const swapLast =
    r >= 2 &&
    s.perm[r - 1] === r - 2 &&
    s.perm[r - 2] === r - 1 &&
    s.perm.slice(0, r - 2).every((a, i) => a === i);
  if (swapLast && !packed) {
    const rows = s.shape[r - 2]!;
    const cols = s.shape[r - 1]!;
    const b = out.size / (rows * cols);
    if (Math.ceil(cols / TILE) <= 65535 && Math.ceil(rows / TILE) <= 65535 && b <= 65535) {
      dispatchTiled(ctx, x, out, b, rows, cols);
      return;
    }
  }
  const inStrides = stridesOf(s.shape);
  dispatchIndexMap(ctx, {
    key: 'transpose',
    sources: [x],
    out,
    paramsWgsl: transposeParams.wgsl('Params'),
    uniforms: transposeParams.pack({
      size: out.size,
      fill: 0,
      rank: Math.max(r, 1),
      outShape: pad8(r === 0 ? [1] : s.perm.map((a) => s.shape[a]!)),
      srcStrides: pad8(r === 0 ? [1] : s.perm.map((a) => inStrides[a]!)),
    }),
    locate: `fn locate(o: u32) -> vec2<i32> {
  var r = o;
  var e = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let dim = shapeAt(p.outShape, u32(d));
    e += (r % dim) * shapeAt(p.srcStrides, u32(d));
    r = r / dim;
  }
  return vec2<i32>(0, i32(e));
}`,
  });
}

export const transposeKernel: Kernel<TransposeAttrs> = {
  name: 'transpose',
  infer([x], { perm }): TensorInfo[] {
    assertMaxRank(x!, 'transpose');
    const rank = x!.shape.length;
    const seen = new Set(perm);
    if (
      perm.length !== rank ||
      seen.size !== rank ||
      perm.some((a) => !Number.isInteger(a) || a < 0 || a >= rank)
    ) {
      throw new RangeError(
        `transpose: perm [${perm.join(', ')}] is not a permutation of the ${rank} axes of x (shape ${formatShape(x!.shape)})`,
      );
    }
    return [{ shape: perm.map((a) => x!.shape[a]!), dtype: x!.dtype }];
  },
  cpu([x], { perm }, [out]) {
    const result: TypedArray = allocArray(out!.dtype, sizeOf(out!.shape));
    if (copyRuns(x!.data, x!.shape, perm, result)) return [result];
    const strides = stridesOf(x!.shape);
    const srcStrides = perm.map((a) => strides[a]!);
    const data = x!.data;
    forEachIndex(out!.shape, (i, c) => {
      let e = 0;
      for (let d = 0; d < c.length; d++) e += c[d]! * srcStrides[d]!;
      result[i] = data[e]!;
    });
    return [result];
  },
  webgpu(ctx, [x], [out], { perm }) {
    transposeGpu(ctx, x!, out!, perm);
  },
  tfjs(tf, [x], { perm }) {
    return [tf.transpose(x, [...perm])];
  },
  grad({ dy: [dy], attrs: { perm } }) {
    const inverse = new Array<number>(perm.length);
    perm.forEach((a, i) => {
      inverse[a] = i;
    });
    return [dy && transpose(dy, inverse)];
  },
};

/**
 * Permutes the axes of `x`: output axis `i` is input axis `perm[i]` (default: reversed axes).
 * Any dtype, rank up to 8. Negative entries in `perm` count from the end. When only axes of size 1
 * move, the elements keep their order and the result is a view, as a reshape is (of a KV cache
 * tensor, it sees the cache's later in-place writes).
 *
 * @example
 * ```ts
 * const heads = transpose(reshape(q, [B, T, H, D]), [0, 2, 1, 3]); // [B, H, T, D]
 * ```
 */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  checkTensor(x, 'transpose', 'x');
  // null, like undefined, asks for the default (as the falsy test below always took it).
  if (perm !== undefined && perm !== null) assertIntegers(perm, 'transpose', 'perm');
  const rank = x.rank;
  const p = perm
    ? perm.map((a) => (a < 0 ? a + rank : a))
    : Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (movesOnlyUnitAxes(x.shape, p))
    return reshape(
      x,
      p.map((a) => x.shape[a]!),
    ); // the same memory order
  return run1(transposeKernel, [x], { perm: p });
}

/**
 * Whether `perm` is a valid permutation that keeps the axes longer than 1 in their order: then the
 * elements stay where they are (`[B, 1, H, D]` -> `[B, H, 1, D]`, a decode step's heads) and the
 * transpose is a reshape.
 */
function movesOnlyUnitAxes(shape: Shape, perm: readonly number[]): boolean {
  if (perm.length !== shape.length || new Set(perm).size !== perm.length) return false;
  if (perm.some((a) => !Number.isInteger(a) || a < 0 || a >= shape.length)) return false;
  const long = perm.filter((a) => shape[a]! > 1);
  return long.every((a, i) => i === 0 || a > long[i - 1]!);
}
