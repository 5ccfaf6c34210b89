// conv2d: NCHW 2-D convolution with stride, padding, dilation and groups (f32), plus the two
// kernels of its gradient (input and filter). On WebGPU the forward pass is an implicit GEMM with
// the im2col matrix formed on the fly in workgroup memory: groups 1 on the tuned matmul GEMM
// (matmul/convGemm.ts: filters x im2col per image), grouped convs on a simpler one here (rows are
// output pixels of one image, columns output channels of one group), depthwise ones direct. The
// patch-embedding case (kernel == stride) and 1x1 convolutions become a reshape + matmul at the op
// level, which reaches the tuned matmul on every backend.
import type { TensorInfo } from '../backend.js';
import { type GpuContext, type GpuTensor, workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkOptionalTensor, checkTensor } from '../checkTensor.js';
import { describeValue } from '../describeValue.js';
import { run1, tidy } from '../engine.js';
import type { HostTensor, Kernel, TfjsCore, TfjsTensor } from '../kernel.js';
import { formatShape, type Shape, showValue } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add } from './binary.js';
import { matmul } from './matmul.js';
import { convGemmWebGpu } from './matmul/convGemm.js';
import { sum } from './reduce.js';
import { reshape } from './reshape.js';
import { slice } from './slice.js';
import { transpose } from './transpose.js';
import { rejectUnknownKeys } from './options.js';

/** Options of {@link conv2d}. */
export interface Conv2dOptions {
  /** Step between windows, one for both axes or `[sh, sw]` (default 1). */
  stride?: number | readonly [number, number];
  /**
   * Zeros added on each side: a number, `[ph, pw]`, 'valid' (0) or 'same' (`dilation * (k - 1) / 2`
   * on each side, for odd kernels; the output keeps the input size at stride 1). Default 0.
   */
  padding?: number | readonly [number, number] | 'same' | 'valid';
  /** Spacing between kernel taps (default 1). */
  dilation?: number | readonly [number, number];
  /** Channel groups: C and O must be multiples; `groups == C` is a depthwise conv (default 1). */
  groups?: number;
}

/** The resolved attributes of the conv2d kernels. */
export interface Conv2dAttrs {
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
}

interface GradAttrs extends Conv2dAttrs {
  /** The shape of the gradient being computed (x's for the input gradient, w's for the filter's). */
  readonly shape: Shape;
}

/** Every size of one convolution. */
interface ConvDims {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  cg: number;
  og: number;
}

/** Validates x, w (and bias) against the attributes; errors name the op, the input and the shapes. */
function convDims(op: string, x: Shape, w: Shape, attrs: Conv2dAttrs, bias?: TensorInfo): ConvDims {
  const shapes = `x ${formatShape(x)}, w ${formatShape(w)}`;
  if (x.length !== 4) throw new RangeError(`${op}: x must be [N, C, H, W], got shape ${formatShape(x)}`);
  if (w.length !== 4)
    throw new RangeError(`${op}: w must be [O, C / groups, kh, kw], got shape ${formatShape(w)}`);
  const [n, c, h, wd] = x as [number, number, number, number];
  const [o, cg, kh, kw] = w as [number, number, number, number];
  const { stride, padding, dilation, groups } = attrs;
  const ints = [...stride, ...dilation, groups];
  if (
    !ints.every((v) => Number.isInteger(v) && v >= 1) ||
    !padding.every((v) => Number.isInteger(v) && v >= 0)
  ) {
    throw new RangeError(
      `${op}: stride [${stride}], dilation [${dilation}] and groups ${groups} must be positive integers, padding [${padding}] non-negative (${shapes})`,
    );
  }
  if (c % groups !== 0 || o % groups !== 0) {
    throw new RangeError(
      `${op}: groups ${groups} must divide both the input channels C=${c} and the output channels O=${o} (${shapes})`,
    );
  }
  if (cg !== c / groups) {
    throw new RangeError(
      `${op}: w has shape ${formatShape(w)} but x has shape ${formatShape(x)}: w.shape[1] must be C / groups = ${c / groups}`,
    );
  }
  const oh = Math.floor((h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0]) + 1;
  const ow = Math.floor((wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1]) + 1;
  if (kh < 1 || kw < 1 || oh < 1 || ow < 1) {
    throw new RangeError(
      `${op}: the ${kh}x${kw} kernel (dilation [${dilation}]) does not fit the padded input (${shapes}, padding [${padding}])`,
    );
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== o)) {
    throw new RangeError(
      `${op}: bias has shape ${formatShape(bias.shape)} but w has shape ${formatShape(w)}; expected [${o}]`,
    );
  }
  return { n, c, h, w: wd, o, kh, kw, oh, ow, cg, og: o / groups };
}

function assertF32(op: string, inputs: readonly TensorInfo[], names: readonly string[]): void {
  inputs.forEach((t, i) => {
    if (t.dtype !== 'f32')
      throw new TypeError(`${op}: ${names[i]} must be f32, got ${t.dtype}${formatShape(t.shape)}`);
  });
}

// ---------------------------------------------------------------------------------------------
// CPU references: direct loops over the definition.

function convCpu(
  x: HostTensor,
  w: HostTensor,
  bias: HostTensor | undefined,
  attrs: Conv2dAttrs,
): Float32Array {
  const d = convDims('conv2d', x.shape, w.shape, attrs);
  const [sh, sw] = attrs.stride;
  const [ph, pw] = attrs.padding;
  const [dh, dw] = attrs.dilation;
  const out = new Float32Array(d.n * d.o * d.oh * d.ow);
  let i = 0;
  for (let n = 0; n < d.n; n++) {
    for (let o = 0; o < d.o; o++) {
      const g = Math.floor(o / d.og);
      for (let oy = 0; oy < d.oh; oy++) {
        for (let ox = 0; ox < d.ow; ox++) {
          let acc = bias ? bias.data[o]! : 0;
          for (let cc = 0; cc < d.cg; cc++) {
            const c = g * d.cg + cc;
            for (let ky = 0; ky < d.kh; ky++) {
              const iy = oy * sh - ph + ky * dh;
              if (iy < 0 || iy >= d.h) continue;
              for (let kx = 0; kx < d.kw; kx++) {
                const ix = ox * sw - pw + kx * dw;
                if (ix < 0 || ix >= d.w) continue;
                acc +=
                  x.data[((n * d.c + c) * d.h + iy) * d.w + ix]! *
                  w.data[((o * d.cg + cc) * d.kh + ky) * d.kw + kx]!;
              }
            }
          }
          out[i++] = acc;
        }
      }
    }
  }
  return out;
}

/** Visits every (output element, input element, weight element) triple of the convolution. */
function forEachTap(
  d: ConvDims,
  attrs: Conv2dAttrs,
  visit: (yi: number, xi: number, wi: number) => void,
): void {
  const [sh, sw] = attrs.stride;
  const [ph, pw] = attrs.padding;
  const [dh, dw] = attrs.dilation;
  for (let n = 0; n < d.n; n++) {
    for (let o = 0; o < d.o; o++) {
      const g = Math.floor(o / d.og);
      for (let oy = 0; oy < d.oh; oy++) {
        for (let ox = 0; ox < d.ow; ox++) {
          const yi = ((n * d.o + o) * d.oh + oy) * d.ow + ox;
          for (let cc = 0; cc < d.cg; cc++) {
            for (let ky = 0; ky < d.kh; ky++) {
              const iy = oy * sh - ph + ky * dh;
              if (iy < 0 || iy >= d.h) continue;
              for (let kx = 0; kx < d.kw; kx++) {
                const ix = ox * sw - pw + kx * dw;
                if (ix < 0 || ix >= d.w) continue;
                visit(
                  yi,
                  ((n * d.c + g * d.cg + cc) * d.h + iy) * d.w + ix,
                  ((o * d.cg + cc) * d.kh + ky) * d.kw + kx,
                );
              }
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// WebGPU

const convParams = uniformLayout({
  size: 'u32',
  N: 'u32',
  C: 'u32',
  H: 'u32',
  W: 'u32',
  O: 'u32',
  OH: 'u32',
  OW: 'u32',
  kh: 'u32',
  kw: 'u32',
  sh: 'u32',
  sw: 'u32',
  ph: 'u32',
  pw: 'u32',
  dh: 'u32',
  dw: 'u32',
  groups: 'u32',
  Cg: 'u32',
  Og: 'u32',
  K: 'u32',
  M: 'u32',
  mBase: 'u32',
  zBase: 'u32',
});

function packConv(d: ConvDims, attrs: Conv2dAttrs, size: number, mBase = 0, zBase = 0): Uint8Array {
  return convParams.pack({
    size,
    N: d.n,
    C: d.c,
    H: d.h,
    W: d.w,
    O: d.o,
    OH: d.oh,
    OW: d.ow,
    kh: d.kh,
    kw: d.kw,
    sh: attrs.stride[0],
    sw: attrs.stride[1],
    ph: attrs.padding[0],
    pw: attrs.padding[1],
    dh: attrs.dilation[0],
    dw: attrs.dilation[1],
    groups: attrs.groups,
    Cg: d.cg,
    Og: d.og,
    K: d.cg * d.kh * d.kw,
    M: d.oh * d.ow,
    mBase,
    zBase,
  });
}

const HEADER = `${convParams.wgsl('Params')}`;
const TM = 64; // output pixels per workgroup tile
const TN = 64; // output channels per workgroup tile
const TK = 16; // reduction slice staged in workgroup memory
const MAX_WG = 65535;

function gemmShader(bias: boolean): string {
  return `${HEADER}
@group(0) @binding(0) var<storage, read> xBuf: array<f32>;
@group(0) @binding(1) var<storage, read> wBuf: array<f32>;
${bias ? '@group(0) @binding(2) var<storage, read> bBuf: array<f32>;' : ''}
@group(0) @binding(${bias ? 3 : 2}) var<storage, read_write> outBuf: array<f32>;
@group(0) @binding(${bias ? 4 : 3}) var<uniform> p: Params;
var<workgroup> As: array<f32, ${TK * TM}>; // [TK][TM]: im2col rows of this tile's pixels
var<workgroup> Bs: array<f32, ${TK * TN}>; // [TK][TN]: the matching weights

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let z = wid.z + p.zBase;
  let n = z / p.groups;
  let g = z % p.groups;
  let m0 = (wid.x + p.mBase) * ${TM}u;
  let o0 = wid.y * ${TN}u;
  let xBase = (n * p.C + g * p.Cg) * p.H * p.W;
  let wBase = g * p.Og * p.K;
  let taps = p.kh * p.kw;
  // acc<i>[j]: pixel m0 + lid.x + 16i, channel o0 + lid.y + 16j.
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  for (var k0 = 0u; k0 < p.K; k0 += ${TK}u) {
    for (var t = 0u; t < 4u; t++) {
      // A: consecutive invocations take consecutive pixels (coalesced along a row of x).
      let e = li + 256u * t;
      let m = m0 + e % ${TM}u;
      let k = k0 + e / ${TM}u;
      var v = 0.0;
      if (m < p.M && k < p.K) {
        let c = k / taps;
        let ky = (k % taps) / p.kw;
        let kx = k % p.kw;
        let iy = i32((m / p.OW) * p.sh + ky * p.dh) - i32(p.ph);
        let ix = i32((m % p.OW) * p.sw + kx * p.dw) - i32(p.pw);
        if (iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W)) {
          v = xBuf[xBase + (c * p.H + u32(iy)) * p.W + u32(ix)];
        }
      }
      As[e] = v;
      // B: consecutive invocations take consecutive k of one filter (coalesced along w).
      let kb = e % ${TK}u;
      let nb = e / ${TK}u;
      var wv = 0.0;
      if (o0 + nb < p.Og && k0 + kb < p.K) { wv = wBuf[wBase + (o0 + nb) * p.K + k0 + kb]; }
      Bs[kb * ${TN}u + nb] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk++) {
      let b = vec4<f32>(${[0, 1, 2, 3].map((j) => `Bs[kk * ${TN}u + lid.y + ${16 * j}u]`).join(', ')});
${[0, 1, 2, 3].map((i) => `      acc${i} += As[kk * ${TM}u + lid.x + ${16 * i}u] * b;`).join('\n')}
    }
    workgroupBarrier();
  }
${[0, 1, 2, 3].map((i) => `  store(n, g, m0 + lid.x + ${16 * i}u, o0 + lid.y, acc${i});`).join('\n')}
}

fn store(n: u32, g: u32, m: u32, o: u32, v: vec4<f32>) {
  if (m >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let oj = o + 16u * j;
    if (oj < p.Og) {
      let oc = g * p.Og + oj;
      outBuf[(n * p.O + oc) * p.M + m] = v[j]${bias ? ' + bBuf[oc]' : ''};
    }
  }
}`;
}

// One invocation per output element: for few output channels per group (depthwise convs), where
// a 64-channel GEMM tile would be mostly idle.
function directShader(bias: boolean): string {
  return `${HEADER}
@group(0) @binding(0) var<storage, read> xBuf: array<f32>;
@group(0) @binding(1) var<storage, read> wBuf: array<f32>;
${bias ? '@group(0) @binding(2) var<storage, read> bBuf: array<f32>;' : ''}
@group(0) @binding(${bias ? 3 : 2}) var<storage, read_write> outBuf: array<f32>;
@group(0) @binding(${bias ? 4 : 3}) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.size) { return; }
  let m = i % p.M;
  let oc = (i / p.M) % p.O;
  let n = i / (p.M * p.O);
  let g = oc / p.Og;
  let oy = m / p.OW;
  let ox = m % p.OW;
  var acc = ${bias ? 'bBuf[oc]' : '0.0'};
  for (var cc = 0u; cc < p.Cg; cc++) {
    let xBase = (n * p.C + g * p.Cg + cc) * p.H;
    let wBase = (oc * p.Cg + cc) * p.kh;
    for (var ky = 0u; ky < p.kh; ky++) {
      let iy = i32(oy * p.sh + ky * p.dh) - i32(p.ph);
      if (iy < 0 || iy >= i32(p.H)) { continue; }
      for (var kx = 0u; kx < p.kw; kx++) {
        let ix = i32(ox * p.sw + kx * p.dw) - i32(p.pw);
        if (ix < 0 || ix >= i32(p.W)) { continue; }
        acc += xBuf[(xBase + u32(iy)) * p.W + u32(ix)] * wBuf[(wBase + ky) * p.kw + kx];
      }
    }
  }
  outBuf[i] = acc;
}`;
}

function convGpu(
  ctx: GpuContext,
  x: GpuTensor,
  w: GpuTensor,
  bias: GpuTensor | undefined,
  out: GpuTensor,
  attrs: Conv2dAttrs,
): void {
  if (out.size === 0) return;
  const d = convDims('conv2d', x.shape, w.shape, attrs);
  const buffers = bias ? [x, w, bias, out] : [x, w, out];
  const hasBias = bias !== undefined;
  if (d.og < 16) {
    const pipeline = ctx.pipeline(`conv2d:direct:${hasBias}`, () => directShader(hasBias));
    ctx.dispatch(pipeline, buffers, packConv(d, attrs, out.size), workgroups1d(Math.ceil(out.size / 256)));
    return;
  }
  if (attrs.groups === 1) {
    const [sh, sw] = attrs.stride;
    const [ph, pw] = attrs.padding;
    const [dh, dw] = attrs.dilation;
    convGemmWebGpu(ctx, x, w, bias, out, d, { kh: d.kh, kw: d.kw, sh, sw, ph, pw, dh, dw, ow: d.ow });
    return;
  }
  // Grouped convolutions: a simpler implicit GEMM with the (image, group) pairs as the grid's z.
  const pipeline = ctx.pipeline(`conv2d:gemm:${hasBias}`, () => gemmShader(hasBias));
  const mTiles = Math.ceil((d.oh * d.ow) / TM);
  const nTiles = Math.ceil(d.og / TN);
  const zs = d.n * attrs.groups;
  if (nTiles > MAX_WG)
    throw new RangeError(`conv2d: ${d.og} output channels per group exceed the dispatch limit`);
  // Split the pixel tiles and the (image, group) pairs into dispatches within the per-dimension limit.
  for (let z0 = 0; z0 < zs; z0 += MAX_WG) {
    for (let m0 = 0; m0 < mTiles; m0 += MAX_WG) {
      ctx.dispatch(pipeline, buffers, packConv(d, attrs, out.size, m0, z0), [
        Math.min(MAX_WG, mTiles - m0),
        nTiles,
        Math.min(MAX_WG, zs - z0),
      ]);
    }
  }
}

// dx: one invocation per input element, summing over the output pixels and filters it fed.
function gradInputShader(): string {
  return `${HEADER}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> wBuf: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.size) { return; }
  let ix = i32(i % p.W);
  let iy = i32((i / p.W) % p.H);
  let c = (i / (p.W * p.H)) % p.C;
  let n = i / (p.W * p.H * p.C);
  let g = c / p.Cg;
  let cc = c % p.Cg;
  var acc = 0.0;
  for (var ky = 0u; ky < p.kh; ky++) {
    let ty = iy + i32(p.ph) - i32(ky * p.dh);
    if (ty < 0 || ty % i32(p.sh) != 0) { continue; }
    let oy = u32(ty) / p.sh;
    if (oy >= p.OH) { continue; }
    for (var kx = 0u; kx < p.kw; kx++) {
      let tx = ix + i32(p.pw) - i32(kx * p.dw);
      if (tx < 0 || tx % i32(p.sw) != 0) { continue; }
      let ox = u32(tx) / p.sw;
      if (ox >= p.OW) { continue; }
      for (var oo = 0u; oo < p.Og; oo++) {
        let oc = g * p.Og + oo;
        acc += dy[((n * p.O + oc) * p.OH + oy) * p.OW + ox] * wBuf[((oc * p.Cg + cc) * p.kh + ky) * p.kw + kx];
      }
    }
  }
  dx[i] = acc;
}`;
}

// dw as a GEMM per group: dw[o, k] = sum over q = (image, pixel) of dy[o, q] * im2col[q, k].
// A workgroup owns a 64 (filters) x 64 (k = channel, ky, kx) tile and walks q in slices of 16
// staged in workgroup memory; consecutive invocations load consecutive pixels (coalesced).
function gradFilterShader(): string {
  return `${HEADER}
@group(0) @binding(0) var<storage, read> xBuf: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> Ds: array<f32, ${TK * TN}>; // [TQ][64 filters]
var<workgroup> As: array<f32, ${TK * TM}>; // [TQ][64 k]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let g = wid.z;
  let k0 = wid.x * ${TM}u;
  let o0 = wid.y * ${TN}u;
  let taps = p.kh * p.kw;
  let P = p.N * p.M;
  // acc<i>[j]: filter o0 + lid.y + 16i, k k0 + lid.x + 16j.
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  for (var q0 = 0u; q0 < P; q0 += ${TK}u) {
    for (var t = 0u; t < 4u; t++) {
      let e = li + 256u * t;
      let qq = e % ${TK}u;
      let col = e / ${TK}u;
      let q = q0 + qq;
      var a = 0.0;
      var d = 0.0;
      if (q < P) {
        let n = q / p.M;
        let m = q % p.M;
        let k = k0 + col;
        if (k < p.K) {
          let c = k / taps;
          let ky = (k % taps) / p.kw;
          let kx = k % p.kw;
          let iy = i32((m / p.OW) * p.sh + ky * p.dh) - i32(p.ph);
          let ix = i32((m % p.OW) * p.sw + kx * p.dw) - i32(p.pw);
          if (iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W)) {
            a = xBuf[((n * p.C + g * p.Cg + c) * p.H + u32(iy)) * p.W + u32(ix)];
          }
        }
        let o = o0 + col;
        if (o < p.Og) { d = dy[(n * p.O + g * p.Og + o) * p.M + m]; }
      }
      As[qq * ${TM}u + col] = a;
      Ds[qq * ${TN}u + col] = d;
    }
    workgroupBarrier();
    for (var qq = 0u; qq < ${TK}u; qq++) {
      let b = vec4<f32>(${[0, 1, 2, 3].map((j) => `As[qq * ${TM}u + lid.x + ${16 * j}u]`).join(', ')});
${[0, 1, 2, 3].map((i) => `      acc${i} += Ds[qq * ${TN}u + lid.y + ${16 * i}u] * b;`).join('\n')}
    }
    workgroupBarrier();
  }
${[0, 1, 2, 3].map((i) => `  store(g, o0 + lid.y + ${16 * i}u, k0 + lid.x, acc${i});`).join('\n')}
}

fn store(g: u32, o: u32, k: u32, v: vec4<f32>) {
  if (o >= p.Og) { return; }
  for (var j = 0u; j < 4u; j++) {
    let kj = k + 16u * j;
    if (kj < p.K) { dw[(g * p.Og + o) * p.K + kj] = v[j]; }
  }
}`;
}

// ---------------------------------------------------------------------------------------------
// tfjs: NHWC convolutions (tfjs has no NCHW conv on its cpu backend and no groups).

function convTfjs(
  tf: TfjsCore,
  x: TfjsTensor,
  w: TfjsTensor,
  bias: TfjsTensor | undefined,
  attrs: Conv2dAttrs,
): TfjsTensor {
  const { stride, padding, dilation, groups } = attrs;
  const xh = tf.transpose(x, [0, 2, 3, 1]); // [N, H, W, C]
  const wh = tf.transpose(w, [2, 3, 1, 0]); // [kh, kw, C/g, O]
  const pad = [
    [0, 0],
    [padding[0], padding[0]],
    [padding[1], padding[1]],
    [0, 0],
  ];
  // tfjs refuses stride > 1 together with dilation > 1: convolve at stride 1 and subsample.
  const both = (stride[0] > 1 || stride[1] > 1) && (dilation[0] > 1 || dilation[1] > 1);
  const strides = both ? [1, 1] : [...stride];
  const xs = groups > 1 ? tf.split(xh, groups, 3) : [xh];
  const ws = groups > 1 ? tf.split(wh, groups, 3) : [wh];
  const parts = xs.map((xg: TfjsTensor, g: number) =>
    tf.conv2d(xg, ws[g], strides, pad, 'NHWC', [...dilation]),
  );
  let y = groups > 1 ? tf.concat(parts, 3) : parts[0];
  if (both) {
    const [n, h, wd, o] = y.shape;
    y = tf.stridedSlice(y, [0, 0, 0, 0], [n, h, wd, o], [1, stride[0], stride[1], 1]);
  }
  if (bias) y = tf.add(y, bias);
  return tf.transpose(y, [0, 3, 1, 2]);
}

// ---------------------------------------------------------------------------------------------
// Kernels

/** A gradient kernel's dy must have the forward output's shape `[N, O, Ho, Wo]`. */
function checkDy(op: string, d: ConvDims, dy: TensorInfo): void {
  const want = [d.n, d.o, d.oh, d.ow];
  if (want.some((v, i) => v !== dy.shape[i]) || dy.shape.length !== 4) {
    throw new RangeError(`${op}: dy has shape ${formatShape(dy.shape)}, expected ${formatShape(want)}`);
  }
}

/** The gradient of conv2d with respect to x: inputs `[dy, w]`, output x's shape. */
export const conv2dGradInputKernel: Kernel<GradAttrs> = {
  name: 'conv2dGradInput',
  infer([dy, w], attrs): TensorInfo[] {
    assertF32('conv2dGradInput', [dy!, w!], ['dy', 'w']);
    checkDy('conv2dGradInput', convDims('conv2dGradInput', attrs.shape, w!.shape, attrs), dy!);
    return [{ shape: attrs.shape, dtype: 'f32' }];
  },
  cpu([dy, w], attrs) {
    const d = convDims('conv2dGradInput', attrs.shape, w!.shape, attrs);
    const dx = new Float32Array(d.n * d.c * d.h * d.w);
    forEachTap(d, attrs, (yi, xi, wi) => {
      dx[xi] = dx[xi]! + dy!.data[yi]! * w!.data[wi]!;
    });
    return [dx];
  },
  webgpu(ctx, [dy, w], [dx], attrs) {
    if (dx!.size === 0) return;
    const d = convDims('conv2dGradInput', attrs.shape, w!.shape, attrs);
    const pipeline = ctx.pipeline('conv2d:gradInput', gradInputShader);
    ctx.dispatch(
      pipeline,
      [dy!, w!, dx!],
      packConv(d, attrs, dx!.size),
      workgroups1d(Math.ceil(dx!.size / 256)),
    );
  },
};

/** The gradient of conv2d with respect to w: inputs `[x, dy]`, output w's shape. */
export const conv2dGradFilterKernel: Kernel<GradAttrs> = {
  name: 'conv2dGradFilter',
  infer([x, dy], attrs): TensorInfo[] {
    assertF32('conv2dGradFilter', [x!, dy!], ['x', 'dy']);
    checkDy('conv2dGradFilter', convDims('conv2dGradFilter', x!.shape, attrs.shape, attrs), dy!);
    return [{ shape: attrs.shape, dtype: 'f32' }];
  },
  cpu([x, dy], attrs) {
    const d = convDims('conv2dGradFilter', x!.shape, attrs.shape, attrs);
    const dw = new Float32Array(d.o * d.cg * d.kh * d.kw);
    forEachTap(d, attrs, (yi, xi, wi) => {
      dw[wi] = dw[wi]! + dy!.data[yi]! * x!.data[xi]!;
    });
    return [dw];
  },
  webgpu(ctx, [x, dy], [dw], attrs) {
    if (dw!.size === 0) return;
    const d = convDims('conv2dGradFilter', x!.shape, attrs.shape, attrs);
    const pipeline = ctx.pipeline('conv2d:gradFilter', gradFilterShader);
    const kTiles = Math.ceil((d.cg * d.kh * d.kw) / TM);
    const oTiles = Math.ceil(d.og / TN);
    if (kTiles > MAX_WG || oTiles > MAX_WG || attrs.groups > MAX_WG) {
      throw new RangeError(`conv2dGradFilter: w ${formatShape(attrs.shape)} exceeds the dispatch limits`);
    }
    ctx.dispatch(pipeline, [x!, dy!, dw!], packConv(d, attrs, dw!.size), [kTiles, oTiles, attrs.groups]);
  },
};

/** The direct convolution kernel: inputs `[x, w]` or `[x, w, bias]`. */
export const conv2dKernel: Kernel<Conv2dAttrs> = {
  name: 'conv2d',
  infer([x, w, bias], attrs): TensorInfo[] {
    assertF32('conv2d', bias ? [x!, w!, bias] : [x!, w!], ['x', 'w', 'bias']);
    const d = convDims('conv2d', x!.shape, w!.shape, attrs, bias);
    return [{ shape: [d.n, d.o, d.oh, d.ow], dtype: 'f32' }];
  },
  cpu([x, w, bias], attrs) {
    return [convCpu(x!, w!, bias, attrs)];
  },
  webgpu(ctx, [x, w, bias], [out], attrs) {
    convGpu(ctx, x!, w!, bias, out!, attrs);
  },
  tfjs(tf, [x, w, bias], attrs) {
    return [convTfjs(tf, x, w, bias, attrs)];
  },
  grad({ dy: [dy], inputs: [x, w, bias], attrs }) {
    if (!dy) return [undefined, undefined, undefined];
    // Only what the loss is differentiated for: an image batch needs no input gradient.
    const dx = x!.tracked ? run1(conv2dGradInputKernel, [dy, w!], { ...attrs, shape: x!.shape }) : undefined;
    const dw = w!.tracked ? run1(conv2dGradFilterKernel, [x!, dy], { ...attrs, shape: w!.shape }) : undefined;
    return bias ? [dx, dw, sum(dy, [0, 2, 3])] : [dx, dw];
  },
};

/**
 * A number for both axes or an `[h, w]` pair, each an integer >= `min`; throws naming the option
 * and its accepted forms otherwise.
 */
function pair(v: unknown, name: string, min: number, forms = ''): [number, number] {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= min;
  if (ok(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
  const kind = min === 0 ? 'non-negative' : 'positive';
  throw new RangeError(
    `conv2d: options.${name} must be a ${kind} integer or a [h, w] pair of them${forms}, got ${showValue(v)}`,
  );
}

/** Resolves {@link Conv2dOptions} against the filter shape `[O, C/g, kh, kw]`. */
export function conv2dAttrs(w: Shape, options: Conv2dOptions = {}): Conv2dAttrs {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`conv2d: options must be an object, got ${showValue(options)}`);
  rejectUnknownKeys('conv2d', options, ['stride', 'padding', 'dilation', 'groups']);
  const stride = pair(options.stride ?? 1, 'stride', 1);
  const dilation = pair(options.dilation ?? 1, 'dilation', 1);
  const groups = options.groups ?? 1;
  if (typeof groups !== 'number' || !Number.isInteger(groups) || groups < 1)
    throw new RangeError(`conv2d: options.groups must be a positive integer, got ${showValue(groups)}`);
  const p = options.padding ?? 0;
  let padding: [number, number];
  if (p === 'valid') padding = [0, 0];
  else if (p === 'same') {
    const taps = [w[2] ?? 1, w[3] ?? 1].map((k, i) => dilation[i]! * (k - 1));
    if (taps.some((t) => t % 2 !== 0)) {
      throw new RangeError(
        `conv2d: padding 'same' needs an odd kernel (or an even dilation); w has shape ${formatShape(w)}`,
      );
    }
    padding = [taps[0]! / 2, taps[1]! / 2];
  } else padding = pair(p, 'padding', 0, ", 'same' or 'valid'");
  return { stride, padding, dilation, groups };
}

/**
 * Patch embedding (kernel == stride, no padding, dilation or groups): non-overlapping patches,
 * so the conv is one matmul of the flattened patches with the flattened filters.
 */
function patchConv(x: Tensor, w: Tensor, bias: Tensor | undefined, d: ConvDims): Tensor {
  return tidy(() => {
    const fit =
      d.oh * d.kh === d.h && d.ow * d.kw === d.w
        ? x
        : slice(x, [0, 0, 0, 0], [d.n, d.c, d.oh * d.kh, d.ow * d.kw]);
    const patches = transpose(reshape(fit, [d.n, d.c, d.oh, d.kh, d.ow, d.kw]), [0, 2, 4, 1, 3, 5]); // [N, OH, OW, C, kh, kw]
    const rows = reshape(patches, [d.n * d.oh * d.ow, d.c * d.kh * d.kw]); // [N*OH*OW, C*kh*kw]
    const y = matmul(rows, reshape(w, [d.o, d.c * d.kh * d.kw]), { transposeB: true, bias }); // [N*OH*OW, O]
    return transpose(reshape(y, [d.n, d.oh, d.ow, d.o]), [0, 3, 1, 2]); // [N, O, OH, OW]
  });
}

/** 1x1 convolution at stride 1: one matmul per image, filters [O, C] times pixels [C, H*W]. */
function pointwiseConv(x: Tensor, w: Tensor, bias: Tensor | undefined, d: ConvDims): Tensor {
  return tidy(() => {
    const y = matmul(reshape(w, [d.o, d.c]), reshape(x, [d.n, d.c, d.h * d.w])); // [N, O, H*W]
    const biased = bias ? add(y, reshape(bias, [d.o, 1])) : y;
    return reshape(biased, [d.n, d.o, d.h, d.w]); // [N, O, H, W]
  });
}

/** Checks conv2d's bias; a plain object there is most likely the options, one argument early. */
function checkBias(bias: unknown): asserts bias is Tensor | undefined {
  if (typeof bias === 'object' && bias !== null && Object.getPrototypeOf(bias) === Object.prototype) {
    throw new TypeError(
      `conv2d: bias is not a Tensor (got ${describeValue(bias)}); options are the 4th argument: ` +
        'conv2d(x, w, undefined, options)',
    );
  }
  checkOptionalTensor(bias, 'conv2d', 'bias');
}

/**
 * 2-D convolution of `x` `[N, C, H, W]` with filters `w` `[O, C / groups, kh, kw]` and an optional
 * `bias` `[O]` (f32): `[N, O, OH, OW]` with `OH = floor((H + 2*ph - dh*(kh-1) - 1) / sh) + 1`.
 * Patch embeddings (kernel == stride) and 1x1 convolutions run as a matmul.
 *
 * @example
 * ```ts
 * const patches = conv2d(pixels, w, undefined, { stride: 16 }); // ViT-B/16: [1, 3, 224, 224] -> [1, 768, 14, 14]
 * const h = conv2d(x, w3, b3, { padding: 'same' }); // 3x3, same size
 * ```
 */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor, options: Conv2dOptions = {}): Tensor {
  checkTensor(x, 'conv2d', 'x');
  checkTensor(w, 'conv2d', 'w');
  checkBias(bias);
  const attrs = conv2dAttrs(w.shape, options);
  const inputs = bias ? [x, w, bias] : [x, w];
  conv2dKernel.infer(inputs, attrs);
  const d = convDims('conv2d', x.shape, w.shape, attrs, bias);
  const plain = attrs.groups === 1 && attrs.padding[0] === 0 && attrs.padding[1] === 0;
  const unitDilation = attrs.dilation[0] === 1 && attrs.dilation[1] === 1;
  if (plain && unitDilation && d.kh === attrs.stride[0] && d.kw === attrs.stride[1] && d.kh * d.kw > 1) {
    return patchConv(x, w, bias, d);
  }
  if (plain && d.kh === 1 && d.kw === 1 && attrs.stride[0] === 1 && attrs.stride[1] === 1) {
    return pointwiseConv(x, w, bias, d);
  }
  return run1(conv2dKernel, inputs, attrs);
}
