// Reductions over any set of axes: sum, mean, max, min, argmax, logSumExp, variance.
//
// Both the CPU reference and the WebGPU shaders first merge adjacent axes of the same kind
// (reduced / kept) and drop size-1 axes, so `x` becomes a strided view: kept dims with their strides
// (the output, row-major) and reduced dims with theirs. No transpose is ever materialized.
// On the GPU:
// - "rows": when the innermost merged axis is reduced and a row is longer than 32 elements, one
//   workgroup reduces one output element: invocations stride through the row (coalesced reads)
//   and combine with `subgroupAdd`/`subgroupMax`/... when the device has subgroups, else with a
//   workgroup-memory tree.
// - "cols": otherwise (the innermost axis is kept, or rows are short), one invocation reduces one
//   output element serially; neighbouring invocations read neighbouring addresses.
// This file also exports the workgroup-reduction WGSL that softmax, layerNorm and rmsNorm share.
import type { TensorInfo } from '../backend.js';
import {
  type GpuContext,
  type GpuTensor,
  wgslStorageType,
  workgroups1d,
} from '../backends/webgpu/context.js';
import { uniformLayout, WGSL_SHAPE_AT } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { full } from '../create.js';
import { allocArray, type DType, type TypedArray } from '../dtype.js';
import { run1 } from '../engine.js';
import type { Kernel, TfjsCore, TfjsTensor } from '../kernel.js';
import { formatShape, normAxis, type Shape, showValue, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add, compare, div, mul, sub } from './binary.js';
import { cast } from './cast.js';
import { assertRank, MAX_RANK, WGSL_NAN_OPS } from './elementwise.js';
import { checkOptionKeys } from './options.js';
import { reshape } from './reshape.js';
import { exp, scale } from './unary.js';

/** The reductions. */
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'argmax' | 'logSumExp' | 'variance';

interface ReduceAttrs {
  op: ReduceOp;
  /** Normalized, sorted, unique. */
  axes: readonly number[];
  keepDims: boolean;
  /** variance only: the divisor is `max(0, count - correction)` (0 when absent). */
  correction?: number;
}

const ALLOWED: Record<ReduceOp, readonly DType[]> = {
  sum: ['f32', 'i32', 'u32', 'bool'],
  max: ['f32', 'i32', 'u32'],
  min: ['f32', 'i32', 'u32'],
  argmax: ['f32', 'i32', 'u32'],
  mean: ['f32'],
  logSumExp: ['f32'],
  variance: ['f32'],
};

/** @internal A reduction as strided views: kept (output) dims and reduced dims, each with input strides. */
export interface ReducePlan {
  keptDims: number[];
  keptStrides: number[];
  redDims: number[];
  redStrides: number[];
  outSize: number;
  redSize: number;
  /** The innermost merged axis is reduced (stride 1): rows are contiguous. */
  innermostReduced: boolean;
  /** `x` is exactly `[outSize, redSize]` row-major. */
  contiguous: boolean;
}

/** @internal Merges adjacent axes of the same kind and drops size-1 axes (see the file comment). */
export function planReduction(shape: Shape, axes: readonly number[]): ReducePlan {
  const strides = stridesOf(shape);
  const groups: { red: boolean; dim: number; stride: number }[] = [];
  shape.forEach((dim, i) => {
    if (dim === 1) return;
    const red = axes.includes(i);
    const last = groups[groups.length - 1];
    if (last && last.red === red) {
      last.dim *= dim;
      last.stride = strides[i]!;
    } else groups.push({ red, dim, stride: strides[i]! });
  });
  const kept = groups.filter((g) => !g.red);
  const red = groups.filter((g) => g.red);
  const innermostReduced = groups[groups.length - 1]?.red ?? false;
  return {
    keptDims: kept.map((g) => g.dim),
    keptStrides: kept.map((g) => g.stride),
    redDims: red.map((g) => g.dim),
    redStrides: red.map((g) => g.stride),
    outSize: kept.reduce((n, g) => n * g.dim, 1),
    redSize: red.reduce((n, g) => n * g.dim, 1),
    innermostReduced,
    contiguous: kept.length <= 1 && (red.length === 0 || (red.length === 1 && innermostReduced)),
  };
}

/** Offsets of every index of `dims` (row-major) under `strides`. */
function offsetsOf(dims: readonly number[], strides: readonly number[]): Float64Array {
  const size = dims.reduce((a, b) => a * b, 1);
  const out = new Float64Array(size);
  const idx = new Array<number>(dims.length).fill(0);
  let off = 0;
  for (let i = 0; i < size; i++) {
    out[i] = off;
    for (let d = dims.length - 1; d >= 0; d--) {
      idx[d]!++;
      off += strides[d]!;
      if (idx[d]! < dims[d]!) break;
      off -= strides[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * @internal Normalizes `axes` (undefined: every axis); throws on non-integer, out-of-range or
 * repeated axes.
 */
export function normalizeAxes(
  axes: number | readonly number[] | undefined,
  rank: number,
  op: string,
): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  if (typeof axes !== 'number' && !Array.isArray(axes)) {
    throw new TypeError(
      `${op}: axes must be an integer or an array of integers (or undefined for all), got ${showValue(axes)}`,
    );
  }
  const list = (typeof axes === 'number' ? [axes] : [...axes]).map((a) => normAxis(a, rank, op));
  const unique = [...new Set(list)].sort((a, b) => a - b);
  if (unique.length !== list.length)
    throw new RangeError(`${op}: axes ${JSON.stringify(axes)} repeat an axis`);
  return unique;
}

function outShape(shape: Shape, axes: readonly number[], keepDims: boolean): number[] {
  return keepDims
    ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : shape.filter((_, i) => !axes.includes(i));
}

// ---------------------------------------------------------------------------------------------
// CPU reference.

function reduceRow(op: ReduceOp, dtype: DType, n: number, at: (j: number) => number, correction = 0): number {
  switch (op) {
    case 'sum': {
      let s = 0;
      if (dtype === 'f32') for (let j = 0; j < n; j++) s += at(j);
      else if (dtype === 'u32') for (let j = 0; j < n; j++) s = (s + at(j)) >>> 0;
      else for (let j = 0; j < n; j++) s = (s + (dtype === 'bool' ? +(at(j) !== 0) : at(j))) | 0;
      return s;
    }
    case 'mean': {
      let s = 0;
      for (let j = 0; j < n; j++) s += at(j);
      return s / n;
    }
    case 'max':
    case 'min': {
      // A NaN anywhere makes the result NaN (as PyTorch's amax/amin).
      let m = at(0);
      for (let j = 1; j < n && !Number.isNaN(m); j++) {
        const v = at(j);
        if (op === 'max' ? v > m : v < m) m = v;
        else if (Number.isNaN(v)) m = v;
      }
      return m;
    }
    case 'argmax': {
      // As PyTorch: NaN is the largest value, and the first NaN wins.
      let best = 0;
      for (let j = 1; j < n; j++) {
        const v = at(j);
        if (v > at(best) || (Number.isNaN(v) && !Number.isNaN(at(best)))) best = j;
      }
      return best;
    }
    case 'logSumExp': {
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < n; j++) m = Math.max(m, at(j));
      if (!Number.isFinite(m)) return m;
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.exp(at(j) - m);
      return m + Math.log(s);
    }
    case 'variance': {
      let s = 0;
      for (let j = 0; j < n; j++) s += at(j);
      const mu = s / n;
      let q = 0;
      for (let j = 0; j < n; j++) q += (at(j) - mu) ** 2;
      // As torch.var: q / 0 is inf, or NaN when q is 0 (or NaN).
      return q / Math.max(0, n - correction);
    }
  }
}

/**
 * f32 sums without per-element index callbacks. Rows reduced along contiguous memory (`[N, C]` over
 * C) sum one run each; layouts whose innermost kept axis is contiguous (a bias gradient, `[N, C]`
 * over N, or softmax's `[B, V, h, w]` over V) add whole runs of that axis into a row of
 * accumulators, which reads memory in order; anything else walks the precomputed offsets. Same
 * order and double accumulation as {@link reduceRow}, so the results are identical.
 */
function sumF32(
  plan: ReducePlan,
  keptOff: Float64Array,
  redOff: Float64Array,
  data: Float32Array,
  mean: boolean,
): Float32Array {
  const { outSize, redSize, redDims, redStrides, keptDims, keptStrides } = plan;
  const out = new Float32Array(outSize);
  if (redDims.length === 1 && redStrides[0] === 1) {
    for (let o = 0; o < outSize; o++) {
      const base = keptOff[o]!;
      let s = 0;
      for (let j = 0; j < redSize; j++) s += data[base + j]!;
      out[o] = mean ? s / redSize : s;
    }
    return out;
  }
  const last = keptDims.length - 1;
  if (last >= 0 && keptStrides[last] === 1) {
    const run = keptDims[last]!; // outputs [outer, run], the run contiguous in x too
    const outerOff = offsetsOf(keptDims.slice(0, last), keptStrides.slice(0, last)); // [outer]
    const acc = new Float64Array(run);
    for (let p = 0; p < outerOff.length; p++) {
      acc.fill(0);
      for (let j = 0; j < redSize; j++) {
        const base = outerOff[p]! + redOff[j]!;
        for (let r = 0; r < run; r++) acc[r]! += data[base + r]!;
      }
      for (let r = 0; r < run; r++) out[p * run + r] = mean ? acc[r]! / redSize : acc[r]!;
    }
    return out;
  }
  for (let o = 0; o < outSize; o++) {
    const base = keptOff[o]!;
    let s = 0;
    for (let j = 0; j < redSize; j++) s += data[base + redOff[j]!]!;
    out[o] = mean ? s / redSize : s;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// WGSL shared with softmax, layerNorm and rmsNorm.

/** @internal `fn unravel(i, dims, strides, rank) -> u32`: the offset of row-major index `i`. */
export const WGSL_UNRAVEL = `${WGSL_SHAPE_AT}
fn unravel(i: u32, dims: array<vec4<u32>, 2>, strides: array<vec4<u32>, 2>, rank: u32) -> u32 {
  var off = 0u;
  var r = i;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let dim = shapeAt(dims, u32(d));
    off += (r % dim) * shapeAt(strides, u32(d));
    r /= dim;
  }
  return off;
}
`;

/** @internal Infinities and an inf test (f32 infinities cannot be const-expressions in WGSL). */
export const WGSL_INF = `
fn negInf() -> f32 { var bits = 0xff800000u; return bitcast<f32>(bits); }
fn posInf() -> f32 { var bits = 0x7f800000u; return bitcast<f32>(bits); }
fn isInf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
`;

/** @internal What a one-workgroup-per-row shader puts around its body. */
export interface RowEntry {
  /** Goes first in the module: `enable subgroups;` or nothing. */
  enable: string;
  /** `main`'s builtin parameters: `wid`, `nwg`, `lid` (and `lane`, `sgSize` with subgroups). */
  params: string;
  /** First lines of `main`: defines `lane` and `sgSize` without subgroups. */
  prologue: string;
}

/** @internal The entry-point pieces for {@link wgslWorkgroupReduce} callers. */
export function rowEntry(subgroups: boolean): RowEntry {
  const base =
    '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';
  return subgroups
    ? {
        enable: 'enable subgroups;\n',
        params: `${base}, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32`,
        prologue: '',
      }
    : { enable: '', params: base, prologue: 'let lane = 0u; let sgSize = 1u;' };
}

/**
 * @internal `main`'s header and first lines for a kernel over the rows of a last axis: one workgroup
 * per row (`byRow`; {@link rowEntry}'s builtins) or one invocation per row. Defines `r`, the row.
 */
export function wgslRowMain(byRow: boolean, wg: number, subgroups: boolean): string {
  if (!byRow)
    return `@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = gid.x + gid.y * nwg.x * ${wg}u;`;
  const entry = rowEntry(subgroups);
  return `@compute @workgroup_size(${wg})
fn main(${entry.params}) {
  ${entry.prologue}
  let r = wid.x + wid.y * nwg.x;`;
}

/** `maxNaN`/`minNaN`: f32 max/min where a NaN wins (the module must include `WGSL_NAN_OPS`). */
type CombineOp = 'add' | 'max' | 'min' | 'maxNaN' | 'minNaN';
const COMBINE: Record<CombineOp, (a: string, b: string) => string> = {
  add: (a, b) => `${a} + ${b}`,
  max: (a, b) => `max(${a}, ${b})`,
  min: (a, b) => `min(${a}, ${b})`,
  maxNaN: (a, b) => `maxNaN(${a}, ${b})`,
  minNaN: (a, b) => `minNaN(${a}, ${b})`,
};
const SUBGROUP_OP: Record<CombineOp, (v: string) => string> = {
  add: (v) => `subgroupAdd(${v})`,
  max: (v) => `subgroupMax(${v})`,
  min: (v) => `subgroupMin(${v})`,
  // subgroupMax/Min of a NaN are implementation-defined: any NaN lane makes the result NaN.
  maxNaN: (v) => `select(subgroupMax(${v}), nanF32(), subgroupAny(isNan(${v})))`,
  minNaN: (v) => `select(subgroupMin(${v}), nanF32(), subgroupAny(isNan(${v})))`,
};

/**
 * @internal WGSL `fn <name>(v: T, lid: u32, lane: u32, sgSize: u32) -> T`: combines `v` over the
 * workgroup and returns the total to every invocation. Call it from uniform control flow.
 * With subgroups, each subgroup reduces in registers and its first lane writes one partial;
 * subgroups are assumed to be consecutive runs of `local_invocation_index` (true of every
 * implementation for 1-D workgroups). Without, a tree in workgroup memory.
 */
export function wgslWorkgroupReduce(
  name: string,
  type: 'f32' | 'i32' | 'u32',
  op: CombineOp,
  wg: number,
  subgroups: boolean,
): string {
  const combine = COMBINE[op];
  const body = subgroups
    ? `  let s = ${SUBGROUP_OP[op]('v')};
  if (lane == 0u) { ${name}Buf[lid / sgSize] = s; }
  workgroupBarrier();
  var r = ${name}Buf[0];
  for (var k = 1u; k < (${wg}u + sgSize - 1u) / sgSize; k++) { r = ${combine('r', `${name}Buf[k]`)}; }
  return r;`
    : `  ${name}Buf[lid] = v;
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { ${name}Buf[lid] = ${combine(`${name}Buf[lid]`, `${name}Buf[lid + s]`)}; }
  }
  workgroupBarrier();
  return ${name}Buf[0];`;
  return `
var<workgroup> ${name}Buf: array<${type}, ${wg}>;
fn ${name}(v: ${type}, lid: u32, lane: u32, sgSize: u32) -> ${type} {
  workgroupBarrier(); // earlier readers of the buffer are done
${body}
}
`;
}

/**
 * `better(v, i, bv, bi)`: whether (value, index) `v, i` beats `bv, bi` in an argmax: larger wins,
 * ties go to the smaller index, and for f32 a NaN beats any number (the first NaN wins, as PyTorch).
 */
function wgslArgBetter(type: string): string {
  return type === 'f32'
    ? `fn better(v: f32, i: u32, bv: f32, bi: u32) -> bool {
  if (isNan(v) || isNan(bv)) { return isNan(v) && (!isNan(bv) || i < bi); }
  return v > bv || (v == bv && i < bi);
}`
    : `fn better(v: ${type}, i: u32, bv: ${type}, bi: u32) -> bool { return v > bv || (v == bv && i < bi); }`;
}

// argmax across a workgroup: (value, index) pairs compared by better().
function wgslWorkgroupArgmax(type: string, wg: number, subgroups: boolean): string {
  // A subgroup's best: its first NaN where it has one (f32), else its max's first index.
  const subgroupBest =
    type === 'f32'
      ? `  let anyNan = subgroupAny(isNan(v));
  let m = select(subgroupMax(v), nanF32(), anyNan);
  let c = subgroupMin(select(0xffffffffu, i, select(v == m, isNan(v), anyNan)));`
      : `  let m = subgroupMax(v);
  let c = subgroupMin(select(0xffffffffu, i, v == m));`;
  const body = subgroups
    ? `${subgroupBest}
  if (lane == 0u) { argVal[lid / sgSize] = m; argIdx[lid / sgSize] = c; }
  workgroupBarrier();
  var bv = argVal[0];
  var bi = argIdx[0];
  for (var k = 1u; k < (${wg}u + sgSize - 1u) / sgSize; k++) {
    if (better(argVal[k], argIdx[k], bv, bi)) { bv = argVal[k]; bi = argIdx[k]; }
  }
  return bi;`
    : `  argVal[lid] = v;
  argIdx[lid] = i;
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s && better(argVal[lid + s], argIdx[lid + s], argVal[lid], argIdx[lid])) {
      argVal[lid] = argVal[lid + s];
      argIdx[lid] = argIdx[lid + s];
    }
  }
  workgroupBarrier();
  return argIdx[0];`;
  return `
var<workgroup> argVal: array<${type}, ${wg}>;
var<workgroup> argIdx: array<u32, ${wg}>;
fn wgArgmax(v: ${type}, i: u32, lid: u32, lane: u32, sgSize: u32) -> u32 {
  workgroupBarrier();
${body}
}
`;
}

// ---------------------------------------------------------------------------------------------
// The reduction shader.

interface Phase {
  /** Name of the phase's total (a WGSL `let`). */
  name: string;
  op: CombineOp;
  /** What to combine, an expression of the element `v` and earlier totals. */
  value: string;
  /** Statements after the total is known. */
  after?: string;
}

interface GpuReduction {
  phases: Phase[];
  result: string;
}

const GPU_REDUCTIONS: Record<Exclude<ReduceOp, 'argmax'>, GpuReduction> = {
  sum: { phases: [{ name: 's', op: 'add', value: 'v' }], result: 's' },
  // Over an empty axis (count 0), NaN without relying on the driver's 0 / 0.
  mean: {
    phases: [{ name: 's', op: 'add', value: 'v' }],
    result: 'select(s / f32(p.count), nanF32(), p.count == 0u)',
  },
  max: { phases: [{ name: 'm', op: 'maxNaN', value: 'v' }], result: 'm' },
  min: { phases: [{ name: 'm', op: 'minNaN', value: 'v' }], result: 'm' },
  // With an infinite max, the sum is NaN or inf; the max itself is the answer then (a NaN too).
  logSumExp: {
    phases: [
      { name: 'm', op: 'maxNaN', value: 'v' },
      { name: 's', op: 'add', value: 'exp(v - m)' },
    ],
    result: 'select(m + log(s), m, isInf(m))',
  },
  // Two passes (mean, then squared deviations): accurate for rows with a large mean.
  variance: {
    phases: [
      { name: 's', op: 'add', value: 'v', after: 'let mu = s / f32(p.count);' },
      { name: 'q', op: 'add', value: '(v - mu) * (v - mu)' },
    ],
    // p.divisor = max(0, count - correction); dividing by 0 gives inf (q > 0) or NaN, as torch.var.
    result: 'select(q / p.divisor, select(nanF32(), posInf(), q > 0.0), p.divisor <= 0.0)',
  },
};

function identity(op: CombineOp, type: string): string {
  if (op === 'add') return `${type}(0)`;
  const isMax = op === 'max' || op === 'maxNaN';
  if (type === 'f32') return isMax ? 'negInf()' : 'posInf()';
  if (type === 'i32') return isMax ? '(-2147483647 - 1)' : '2147483647';
  return isMax ? '0u' : '0xffffffffu';
}

/** Integers have no NaN: their `maxNaN`/`minNaN` are plain max/min. */
function combineFor(op: CombineOp, type: string): CombineOp {
  if (type === 'f32') return op;
  return op === 'maxNaN' ? 'max' : op === 'minNaN' ? 'min' : op;
}

const reduceParams = uniformLayout({
  outSize: 'u32',
  redSize: 'u32',
  /** "rows" only: each row is cut into `chunks` pieces of `chunkLen`, one workgroup each. */
  chunks: 'u32',
  chunkLen: 'u32',
  /** The element count mean and variance divide by (the original row length in a second pass). */
  count: 'u32',
  /** variance: what the squared deviations' sum is divided by, max(0, count - correction). */
  divisor: 'f32',
  keptRank: 'u32',
  redRank: 'u32',
  keptDims: 'shape',
  keptStrides: 'shape',
  redDims: 'shape',
  redStrides: 'shape',
});

interface ShaderConfig {
  op: ReduceOp;
  inDtype: DType;
  rows: boolean;
  contiguous: boolean;
  wg: number;
  subgroups: boolean;
}

function reduceWgsl(c: ShaderConfig): string {
  const accType = c.inDtype === 'f32' ? 'f32' : c.inDtype === 'u32' ? 'u32' : 'i32';
  const outType = c.op === 'argmax' ? 'i32' : accType;
  const base = c.contiguous ? 'o * p.redSize' : 'unravel(o, p.keptDims, p.keptStrides, p.keptRank)';
  const offset = c.contiguous ? 'j' : 'unravel(j, p.redDims, p.redStrides, p.redRank)';
  const entry = rowEntry(c.subgroups);
  const loop = c.rows
    ? `for (var j = jBegin + lid; j < jEnd; j += ${c.wg}u)`
    : 'for (var j = 0u; j < p.redSize; j++)';
  const helpers: string[] = [];
  let body: string;
  let result: string;
  if (c.op === 'argmax') {
    helpers.push(wgslArgBetter(accType));
    body = `var best = ${identity('max', accType)};
  var bestIdx = 0xffffffffu;
  ${loop} {
    let v = load(base, j);
    if (bestIdx == 0xffffffffu || better(v, j, best, bestIdx)) { best = v; bestIdx = j; }
  }`;
    if (c.rows) {
      helpers.push(wgslWorkgroupArgmax(accType, c.wg, c.subgroups));
      body += '\n  let idx = wgArgmax(best, bestIdx, lid, lane, sgSize);';
      result = 'i32(idx)';
    } else result = 'i32(bestIdx)';
  } else {
    const r = GPU_REDUCTIONS[c.op];
    const parts = r.phases.map((ph) => {
      const wgName = `wg_${ph.name}`;
      const op = combineFor(ph.op, accType);
      if (c.rows) helpers.push(wgslWorkgroupReduce(wgName, accType, op, c.wg, c.subgroups));
      const total = c.rows ? `${wgName}(${ph.name}Acc, lid, lane, sgSize)` : `${ph.name}Acc`;
      return `var ${ph.name}Acc = ${identity(ph.op, accType)};
  ${loop} {
    let v = load(base, j);
    ${ph.name}Acc = ${COMBINE[op](`${ph.name}Acc`, ph.value)};
  }
  let ${ph.name} = ${total};
  ${ph.after ?? ''}`;
    });
    body = parts.join('\n  ');
    result = r.result;
  }
  // "rows": workgroup `piece` reduces elements [jBegin, jEnd) of row o (the whole row unless split).
  const head = c.rows
    ? `@compute @workgroup_size(${c.wg})
fn main(${entry.params}) {
  ${entry.prologue}
  let piece = wid.x + wid.y * nwg.x;
  if (piece >= p.outSize * p.chunks) { return; } // uniform: depends only on the workgroup
  let o = piece / p.chunks;
  let jBegin = (piece % p.chunks) * p.chunkLen;
  let jEnd = min(jBegin + p.chunkLen, p.redSize);`
    : `@compute @workgroup_size(${c.wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * ${c.wg}u;
  if (o >= p.outSize) { return; }`;
  const write = c.rows ? `if (lid == 0u) { yBuf[piece] = ${result}; }` : `yBuf[o] = ${result};`;
  return `${c.rows ? entry.enable : ''}${reduceParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> xBuf: array<${wgslStorageType(c.inDtype)}>;
@group(0) @binding(1) var<storage, read_write> yBuf: array<${outType}>;
@group(0) @binding(2) var<uniform> p: Params;
${WGSL_UNRAVEL}
${WGSL_INF}
${WGSL_NAN_OPS}
fn load(base: u32, j: u32) -> ${accType} { return ${accType}(xBuf[base + ${offset}]); }
${helpers.join('\n')}
${head}
  let base = ${base};
  ${body}
  ${write}
}`;
}

/** Rows longer than this get a workgroup each; shorter ones an invocation each. */
const ROW_THRESHOLD = 32;
/**
 * Rows longer than this, when there are fewer than {@link SPLIT_MAX_OUTPUTS} of them, are cut into
 * pieces of {@link CHUNK} elements reduced by separate workgroups, then the pieces' results are
 * reduced again (a whole-tensor sum would otherwise run on one workgroup).
 */
const SPLIT_MIN_ROW = 16384;
const SPLIT_MAX_OUTPUTS = 1024;
const CHUNK = 4096;
/** What the second pass applies to the first pass's partial results. */
const SPLITTABLE: Partial<Record<ReduceOp, ReduceOp>> = {
  sum: 'sum',
  mean: 'sum',
  max: 'max',
  min: 'min',
  logSumExp: 'logSumExp',
};

function dispatchReduce(
  ctx: GpuContext,
  x: GpuTensor,
  out: GpuTensor,
  attrs: ReduceAttrs,
  count?: number,
): void {
  const plan = planReduction(x.shape, attrs.axes);
  if (plan.outSize === 0) return;
  const rows = plan.innermostReduced && plan.redSize > ROW_THRESHOLD;
  const firstPass = SPLITTABLE[attrs.op];
  const split =
    rows && firstPass !== undefined && plan.redSize > SPLIT_MIN_ROW && plan.outSize < SPLIT_MAX_OUTPUTS;
  const chunkLen = split ? Math.max(CHUNK, Math.ceil(plan.redSize / 65535)) : plan.redSize;
  const chunks = split ? Math.ceil(plan.redSize / chunkLen) : 1;
  const op = split ? firstPass! : attrs.op;
  const wg = rows ? (chunkLen <= 256 ? 64 : 256) : 64;
  const config: ShaderConfig = {
    op,
    inDtype: x.dtype,
    rows,
    contiguous: plan.contiguous,
    wg,
    subgroups: rows && ctx.features.subgroups,
  };
  const key = `reduce:${op}:${config.inDtype}:${rows ? 'rows' : 'cols'}:${config.contiguous ? 'c' : 'g'}:${wg}:${config.subgroups ? 'sg' : ''}`;
  const pipeline = ctx.pipeline(key, () => reduceWgsl(config));
  const pad = (v: readonly number[]) => [...v, ...new Array<number>(MAX_RANK - v.length).fill(0)];
  const uniforms = reduceParams.pack({
    outSize: plan.outSize,
    redSize: plan.redSize,
    chunks,
    chunkLen,
    count: count ?? plan.redSize,
    divisor: Math.max(0, (count ?? plan.redSize) - (attrs.correction ?? 0)),
    keptRank: plan.keptDims.length,
    redRank: plan.redDims.length,
    keptDims: pad(plan.keptDims),
    keptStrides: pad(plan.keptStrides),
    redDims: pad(plan.redDims),
    redStrides: pad(plan.redStrides),
  });
  const groups = rows ? plan.outSize * chunks : Math.ceil(plan.outSize / wg);
  if (!split) {
    ctx.dispatch(pipeline, [x, out], uniforms, workgroups1d(groups));
    return;
  }
  // First pass into [outSize, chunks] partials (the output's dtype), then reduce those rows.
  const size = plan.outSize * chunks;
  const partials: GpuTensor = {
    buffer: ctx.scratch(size * 4),
    shape: [plan.outSize, chunks],
    dtype: out.dtype,
    size,
  };
  ctx.dispatch(pipeline, [x, partials], uniforms, workgroups1d(groups));
  dispatchReduce(ctx, partials, out, { op: attrs.op, axes: [1], keepDims: false }, count ?? plan.redSize);
}

// ---------------------------------------------------------------------------------------------
// tfjs.

function tfjsReduce(
  tf: TfjsCore,
  x: TfjsTensor,
  { op, axes, keepDims, correction = 0 }: ReduceAttrs,
  out: TensorInfo,
): TfjsTensor {
  const ax = [...axes];
  // variance with a correction: the population variance times n / max(0, n - correction).
  if (op === 'variance' && correction !== 0) {
    const n = ax.reduce((k, a) => k * x.shape[a]!, 1);
    const v = tfjsReduce(tf, x, { op, axes, keepDims }, out);
    return tf.div(tf.mul(v, n), Math.max(0, n - correction));
  }
  // (x - x)^2: 0, or NaN for NaN and infinities, as the CPU's two passes give.
  if (ax.length === 0)
    return op === 'argmax'
      ? tf.zeros(out.shape, 'int32')
      : op === 'variance'
        ? tf.square(tf.sub(x, x))
        : tf.clone(x);
  // tf.mean and tf.moments give 0 over an empty axis; 0 / 0 is NaN (as on the CPU and PyTorch).
  if ((op === 'mean' || op === 'variance') && ax.some((a) => x.shape[a] === 0))
    return tf.fill(out.shape, Number.NaN);
  switch (op) {
    case 'sum':
      return tf.sum(x, ax, keepDims);
    case 'mean':
      return tf.mean(x, ax, keepDims);
    case 'max':
      return tf.max(x, ax, keepDims);
    case 'min':
      return tf.min(x, ax, keepDims);
    case 'argmax': {
      // tfjs-wasm's isNaN reads int32 bits as floats (every negative integer "is" NaN).
      if (x.dtype !== 'float32') return tf.reshape(tf.argMax(x, ax[0]), out.shape);
      // tf.argMax skips NaN (a scan with >); PyTorch returns the first NaN's index.
      const nan = tf.isNaN(x);
      const firstNan = tf.argMax(tf.cast(nan, 'float32'), ax[0]);
      const r = tf.where(tf.any(nan, ax[0]), firstNan, tf.argMax(x, ax[0]));
      return tf.reshape(r, out.shape);
    }
    case 'logSumExp': {
      // tf.logSumExp gives NaN for rows of -inf; shift by the max only where it is finite.
      const m = tf.max(x, ax, true);
      const shift = tf.where(tf.isFinite(m), m, tf.zerosLike(m));
      const r = tf.add(tf.log(tf.sum(tf.exp(tf.sub(x, shift)), ax, true)), shift);
      return tf.reshape(r, out.shape);
    }
    case 'variance':
      return tf.moments(x, ax, keepDims).variance;
  }
}

// ---------------------------------------------------------------------------------------------
// Gradients.

/** `t` (reduced with keepDims or not) broadcast back to `x`'s shape. */
function expandBack(t: Tensor, x: Tensor, axes: readonly number[]): Tensor {
  const kept = reshape(t, outShape(x.shape, axes, true));
  return add(kept, full(x.shape, 0, { backend: x.backend }));
}

function reduceGrad(
  op: ReduceOp,
  x: Tensor,
  y: Tensor,
  dy: Tensor,
  axes: readonly number[],
  correction = 0,
): Tensor | undefined {
  const n = axes.reduce((k, a) => k * x.shape[a]!, 1);
  switch (op) {
    case 'sum':
      return expandBack(dy, x, axes);
    case 'mean':
      // An empty axis: x holds no element, so its gradient is empty (1 / 0 would not scale).
      return n === 0 ? full(x.shape, 0, { backend: x.backend }) : expandBack(scale(dy, 1 / n), x, axes);
    case 'max':
    case 'min': {
      // Ties share the gradient equally (as TensorFlow and PyTorch's amax do).
      const yk = reshape(y, outShape(x.shape, axes, true));
      const mask = cast(compare('equal', x, yk), 'f32');
      const count = sum(mask, axes, true);
      return mul(mask, div(reshape(dy, outShape(x.shape, axes, true)), count));
    }
    case 'logSumExp': {
      const yk = reshape(y, outShape(x.shape, axes, true));
      return mul(exp(sub(x, yk)), reshape(dy, outShape(x.shape, axes, true)));
    }
    case 'variance': {
      const centered = sub(x, mean(x, axes, true));
      const divisor = Math.max(0, n - correction);
      // A divisor of 0 (one element with correction 1) makes the factor 2 / 0 = Infinity, which
      // scale() refuses: multiplied as a tensor it gives NaN (0 * Infinity), as torch.var's gradient.
      const scaled =
        divisor > 0
          ? scale(centered, 2 / divisor)
          : mul(centered, full([], Number.POSITIVE_INFINITY, { backend: x.backend }));
      return mul(scaled, reshape(dy, outShape(x.shape, axes, true)));
    }
    case 'argmax':
      return undefined;
  }
}

/** @internal The kernel behind every reduction (attribute `op`). */
export const reduceKernel: Kernel<ReduceAttrs> = {
  name: 'reduce',
  infer([x], { op, axes, keepDims }): TensorInfo[] {
    if (!ALLOWED[op].includes(x!.dtype)) {
      throw new TypeError(
        `${op}: x must be ${ALLOWED[op].join(', ')}, got ${x!.dtype}${formatShape(x!.shape)}`,
      );
    }
    assertRank(x!, op);
    if (op === 'argmax' && axes.length !== 1)
      throw new RangeError(`argmax: reduces exactly one axis, got ${axes.length}`);
    const shape = outShape(x!.shape, axes, keepDims);
    if (
      (op === 'max' || op === 'min' || op === 'argmax') &&
      axes.some((a) => x!.shape[a] === 0) &&
      shape.every((d) => d > 0)
    ) {
      throw new RangeError(
        `${op}: cannot reduce an empty axis of x ${formatShape(x!.shape)} (axes ${JSON.stringify(axes)})`,
      );
    }
    const dtype: DType = op === 'argmax' || x!.dtype === 'bool' ? 'i32' : x!.dtype;
    return [{ shape, dtype }];
  },
  cpu([x], { op, axes, correction }, [out]) {
    const plan = planReduction(x!.shape, axes);
    const keptOff = offsetsOf(plan.keptDims, plan.keptStrides);
    const redOff = offsetsOf(plan.redDims, plan.redStrides);
    const data = x!.data;
    if (x!.dtype === 'f32' && (op === 'sum' || op === 'mean')) {
      return [sumF32(plan, keptOff, redOff, data as Float32Array, op === 'mean')];
    }
    const result: TypedArray = allocArray(out!.dtype, plan.outSize);
    for (let o = 0; o < plan.outSize; o++) {
      const base = keptOff[o]!;
      result[o] = reduceRow(op, x!.dtype, plan.redSize, (j) => data[base + redOff[j]!]!, correction);
    }
    return [result];
  },
  webgpu(ctx, [x], [out], attrs) {
    dispatchReduce(ctx, x!, out!, attrs);
  },
  tfjs(tf, [x], attrs, [out], [info]) {
    // tfjs holds u32 as int32: its max, min and argmax would read words >= 2^31 as negative, so
    // those run on the CPU reference (a sum wraps to the same bits either way).
    if (info!.dtype === 'u32' && attrs.op !== 'sum') return undefined;
    return [tfjsReduce(tf, x, attrs, out!)];
  },
  grad({ dy: [dy], inputs: [x], outputs: [y], attrs: { op, axes, correction } }) {
    if (!dy || x!.dtype !== 'f32') return [undefined];
    return [reduceGrad(op, x!, y!, dy, axes, correction)];
  },
};

function reduce(
  op: ReduceOp,
  x: Tensor,
  axes: number | readonly number[] | undefined,
  keepDims: boolean,
  correction?: number,
): Tensor {
  checkTensor(x, op, 'x');
  // A truthy non-boolean ('false', 0, 1) would pick a shape the caller did not ask for.
  if (typeof keepDims !== 'boolean') {
    throw new TypeError(`${op}: keepDims must be true or false, got ${showValue(keepDims)}`);
  }
  const attrs: ReduceAttrs = { op, axes: normalizeAxes(axes, x.rank, op), keepDims };
  if (correction) attrs.correction = correction;
  return run1(reduceKernel, [x], attrs);
}

/**
 * Sum over `axes` (default: all; negative axes count from the end). f32, i32 and u32 keep their
 * dtype (integers wrap); bool counts the true elements as i32.
 *
 * @example
 * ```ts
 * const total = sum(x);              // []
 * const perRow = sum(x, -1, true);   // [B, T, C] -> [B, T, 1]
 * ```
 */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduce('sum', x, axes, keepDims);
}

/**
 * Mean over `axes` (default: all), f32; NaN over an empty axis.
 *
 * @example
 * ```ts
 * const pooled = mean(tokens, 1); // [B, T, C] -> [B, C]
 * ```
 */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduce('mean', x, axes, keepDims);
}

/**
 * Maximum over `axes` (default: all); NaN if the reduced elements hold a NaN (as PyTorch's amax).
 * Its gradient is shared equally among tied maxima.
 *
 * @example
 * ```ts
 * const rowMax = max(scores, -1, true); // [B, H, T, 1]
 * ```
 */
export function max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduce('max', x, axes, keepDims);
}

/**
 * Minimum over `axes` (default: all); NaN if the reduced elements hold a NaN (as PyTorch's amin).
 * Its gradient is shared equally among tied minima.
 *
 * @example
 * ```ts
 * const lowest = min(x, [1, 2]); // [N, H, W] -> [N]
 * ```
 */
export function min(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduce('min', x, axes, keepDims);
}

/**
 * Index of the maximum along `axis` (the first one among ties), as i32. As in PyTorch, NaN counts
 * as the largest value: a row holding one gives its first NaN's index (so `max` and the value at
 * `argmax` agree).
 *
 * @example
 * ```ts
 * const nextToken = argmax(logits, -1); // [B, V] -> [B] i32
 * ```
 */
export function argmax(x: Tensor, axis: number, keepDims = false): Tensor {
  return reduce('argmax', x, [axis], keepDims);
}

/**
 * `log(sum(exp(x)))` over `axes` (default: all), computed stably by shifting by the maximum.
 * A row of -Infinity gives -Infinity; a row containing +Infinity gives +Infinity; one with a NaN, NaN.
 *
 * @example
 * ```ts
 * const logZ = logSumExp(logits, -1, true); // [B, V] -> [B, 1]
 * ```
 */
export function logSumExp(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduce('logSumExp', x, axes, keepDims);
}

/**
 * Variance over `axes` (default: all), computed in two passes (mean, then squared deviations) so
 * rows with a large mean stay accurate: the sum of squared deviations divided by
 * `max(0, n - correction)`. The default `correction: 0` is the population variance; note that
 * `torch.var` defaults to `correction=1` (the unbiased sample variance), so pass
 * `{ correction: 1 }` to match it. NaN over an empty axis.
 *
 * @param options.correction - Subtracted from the element count n in the divisor
 * `max(0, n - correction)`, as `torch.var`'s `correction` (a finite number >= 0, default 0; the
 * only option: torch's `unbiased` or NumPy's `ddof` throw as unknown options). A
 * divisor of 0 gives inf, or NaN where the squared deviations sum to 0 (one element with
 * correction 1), as in PyTorch.
 *
 * @example
 * ```ts
 * const v = variance(x, -1, true);                      // [B, T, C] -> [B, T, 1], population
 * const s2 = variance(x, 0, false, { correction: 1 }); // as torch.var(x, 0)
 * ```
 */
export function variance(
  x: Tensor,
  axes?: number | readonly number[],
  keepDims = false,
  options: { correction?: number } = {},
): Tensor {
  checkTensor(x, 'variance', 'x');
  checkOptionKeys('variance', options, ['correction']);
  const { correction = 0 } = options;
  if (!(correction >= 0) || !Number.isFinite(correction))
    throw new RangeError(`variance: correction must be a finite number >= 0, got ${correction}`);
  return reduce('variance', x, axes, keepDims, correction);
}
