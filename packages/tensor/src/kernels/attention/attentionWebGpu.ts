// WebGPU attention: a fused flash-attention kernel for prefill (one workgroup per (b, h, block of
// query rows), K/V tiles staged in workgroup memory, an online softmax over key blocks so the score
// matrix never exists) and a decode kernel for Tq = 1 (the keys are split across the workgroup and
// the max, sum and weighted values are reduced in workgroup memory).
import { type GpuContext, type GpuTensor, workgroups1d } from '../../backends/webgpu/context.js';
import { uniformLayout } from '../../backends/webgpu/uniforms.js';
import { WGSL_NAN_OPS } from '../elementwise.js';
import type { AttentionAttrs, AttentionDims } from './attentionDims.js';

export const attentionParams = uniformLayout({
  batch: 'u32',
  qHeads: 'u32',
  kvHeads: 'u32',
  tq: 'u32',
  tk: 'u32',
  kvLength: 'u32',
  queryOffset: 'i32',
  causal: 'u32',
  scale: 'f32',
  maskB: 'u32',
  maskH: 'u32',
  maskQ: 'u32',
  queryBlocks: 'u32',
  groups: 'u32',
  // Views (AttentionView): element offset and batch, head and token strides of q, k, v and out.
  qOff: 'u32',
  qB: 'u32',
  qH: 'u32',
  qT: 'u32',
  kOff: 'u32',
  kB: 'u32',
  kH: 'u32',
  kT: 'u32',
  vOff: 'u32',
  vB: 'u32',
  vH: 'u32',
  vT: 'u32',
  oOff: 'u32',
  oB: 'u32',
  oH: 'u32',
  oT: 'u32',
});

/** Query rows per prefill workgroup (one invocation per row). */
const BQ = 32;
/** Keys per decode block (one invocation per key; a power of two for the tree reductions). */
const DECODE_WG = 128;

/**
 * Bindings common to the attention kernels (the mask binding exists only when there is a mask) and
 * the NaN helpers: a NaN score (from the mask, q or k) makes its whole row NaN, as on the CPU.
 */
export function attentionHeader(attrs: AttentionAttrs, d: number, dv: number): string {
  const maskType = attrs.mask === 'bool' ? 'u32' : 'f32';
  const mask =
    attrs.mask === 'none' ? '' : `@group(0) @binding(3) var<storage, read> mask: array<${maskType}>;`;
  const out = attrs.mask === 'none' ? 3 : 4;
  return `${attentionParams.wgsl('Params')}
const D = ${d}u;
const DV = ${dv}u;
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
${mask}
${WGSL_NAN_OPS}
@group(0) @binding(${out}) var<storage, read_write> outBuf: array<f32>;
@group(0) @binding(${out + 1}) var<uniform> p: Params;
`;
}

/** WGSL statements that skip a key (`continue`) or add to the score `s`, per mask kind. */
function maskCode(attrs: AttentionAttrs, index: string): { before: string; add: string } {
  if (attrs.mask === 'bool') return { before: `if (mask[${index}] == 0u) { continue; }`, add: '' };
  if (attrs.mask === 'additive') return { before: '', add: ` + mask[${index}]` };
  return { before: '', add: '' };
}

function flashSource(attrs: AttentionAttrs, d: number, dv: number, bk: number): string {
  const m = maskCode(attrs, 'maskRow + key');
  return `${attentionHeader(attrs, d, dv)}
const BQ = ${BQ}u;
const BK = ${bk}u;
// K rows, then V rows, of the current key block: one tile, so the workgroup memory stays small.
var<workgroup> tile: array<f32, ${bk * Math.max(d, dv)}>;

@compute @workgroup_size(${BQ})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let wgIndex = wid.x + wid.y * nwg.x;
  if (wgIndex >= p.groups) { return; }
  // -inf cannot be a const-expression; an additive -inf is how a float mask hides a key.
  var negInfBits = 0xff800000u;
  let negInf = bitcast<f32>(negInfBits);
  let qBlock = wgIndex % p.queryBlocks;
  let bh = wgIndex / p.queryBlocks; // b * Hq + h
  let h = bh % p.qHeads;
  let b = bh / p.qHeads;
  let kvHead = h / (p.qHeads / p.kvHeads);
  let kBase = p.kOff + b * p.kB + kvHead * p.kH;
  let vBase = p.vOff + b * p.vB + kvHead * p.vH;
  let row = qBlock * BQ + lid;
  let rowLive = row < p.tq;
  // With a causal mask the block's last row bounds the keys any of its rows may see.
  var kEnd = p.kvLength;
  if (p.causal != 0u) {
    let lastRow = min(qBlock * BQ + BQ, p.tq) - 1u;
    kEnd = u32(clamp(i32(lastRow) + p.queryOffset + 1, 0, i32(p.kvLength)));
  }
  let rowLimit = i32(row) + p.queryOffset;
  let maskRow = b * p.maskB + h * p.maskH + row * p.maskQ;
  var qRow: array<f32, D>;
  if (rowLive) {
    let qAt = p.qOff + b * p.qB + h * p.qH + row * p.qT;
    for (var c = 0u; c < D; c++) { qRow[c] = q[qAt + c]; }
  }
  // Online softmax state: running max m, running sum l of exp(s - m), acc = sum of exp(s - m) * v.
  var acc: array<f32, DV>;
  var m = 0.0;
  var l = 0.0;
  var nanRow = false;
  for (var k0 = 0u; k0 < kEnd; k0 += BK) {
    let n = min(BK, kEnd - k0);
    // The block's key rows, token stride apart (D apart when k is [B, Hkv, Tk, D]).
    for (var e = lid; e < n * D; e += BQ) { tile[e] = k[kBase + (k0 + e / D) * p.kT + e % D]; }
    workgroupBarrier();
    var s: array<f32, BK>;
    var visible = 0u; // bit j: key k0 + j is visible to this row
    var blockMax = 0.0;
    if (rowLive) {
      for (var j = 0u; j < n; j++) {
        let key = k0 + j;
        if (p.causal != 0u && i32(key) > rowLimit) { break; }
        ${m.before}
        var dot = 0.0;
        for (var c = 0u; c < D; c++) { dot += qRow[c] * tile[j * D + c]; }
        let sj = dot * p.scale${m.add};
        if (isNan(sj)) { nanRow = true; }
        if (sj == negInf) { continue; }
        if (visible == 0u || sj > blockMax) { blockMax = sj; }
        s[j] = sj;
        visible |= 1u << j;
      }
    }
    workgroupBarrier();
    for (var e = lid; e < n * DV; e += BQ) { tile[e] = v[vBase + (k0 + e / DV) * p.vT + e % DV]; }
    workgroupBarrier();
    if (visible != 0u) {
      // Before the first visible key acc and l are zero, so the rescale factor does not matter
      // (and exp(m - mNew) could overflow): use 0.
      let fresh = l == 0.0;
      let mNew = select(max(m, blockMax), blockMax, fresh);
      let corr = select(exp(m - mNew), 0.0, fresh);
      l *= corr;
      for (var c = 0u; c < DV; c++) { acc[c] *= corr; }
      for (var j = 0u; j < n; j++) {
        if ((visible & (1u << j)) == 0u) { continue; }
        let pj = exp(s[j] - mNew);
        l += pj;
        for (var c = 0u; c < DV; c++) { acc[c] += pj * tile[j * DV + c]; }
      }
      m = mNew;
    }
    workgroupBarrier(); // the next block overwrites the tile
  }
  if (rowLive) {
    // A row that saw no key (fully masked) has l == 0 and gives zeros.
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let oAt = p.oOff + b * p.oB + h * p.oH + row * p.oT;
    for (var c = 0u; c < DV; c++) { outBuf[oAt + c] = select(acc[c] * inv, nanF32(), nanRow); }
  }
}`;
}

/**
 * The decode kernel. `sharedQ`: q is staged in workgroup memory; without it (a head too large for
 * the device's workgroup memory next to the reduction arrays) every key's dot product reads q from
 * its storage buffer.
 */
function decodeSource(attrs: AttentionAttrs, d: number, dv: number, sharedQ: boolean): string {
  const perLane = Math.ceil(dv / DECODE_WG);
  const maskIndex = 'maskRow + key';
  const boolCheck = attrs.mask === 'bool' ? `visible = mask[${maskIndex}] != 0u;` : '';
  const add = attrs.mask === 'additive' ? ` + mask[${maskIndex}]` : '';
  return `${attentionHeader(attrs, d, dv)}
const WG = ${DECODE_WG}u;
${sharedQ ? 'var<workgroup> qs: array<f32, D>;' : ''}
var<workgroup> probs: array<f32, WG>;
var<workgroup> red: array<f32, WG>;
var<workgroup> nanKeys: atomic<u32>; // nonzero once some key's score is NaN

@compute @workgroup_size(${DECODE_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let bh = wid.x + wid.y * nwg.x; // b * Hq + h; Tq == 1
  if (bh >= p.groups) { return; }
  var negInfBits = 0xff800000u;
  let negInf = bitcast<f32>(negInfBits);
  let h = bh % p.qHeads;
  let b = bh / p.qHeads;
  let kvHead = h / (p.qHeads / p.kvHeads);
  let kBase = p.kOff + b * p.kB + kvHead * p.kH;
  let vBase = p.vOff + b * p.vB + kvHead * p.vH;
  let maskRow = b * p.maskB + h * p.maskH;
  let qAt = p.qOff + b * p.qB + h * p.qH;
  ${sharedQ ? 'for (var c = lid; c < D; c += WG) { qs[c] = q[qAt + c]; }\n  workgroupBarrier();' : ''}
  var kEnd = p.kvLength;
  if (p.causal != 0u) { kEnd = u32(clamp(p.queryOffset + 1, 0, i32(p.kvLength))); }
  // m and l are the same in every invocation: they only change through workgroupUniformLoad values.
  var m = 0.0;
  var l = 0.0;
  var acc: array<f32, ${perLane}>; // output dims lid, lid + WG, ...
  for (var k0 = 0u; k0 < kEnd; k0 += WG) {
    let key = k0 + lid;
    var s = negInf;
    if (key < kEnd) {
      var visible = true;
      ${boolCheck}
      if (visible) {
        var dot = 0.0;
        let kAt = kBase + key * p.kT;
        for (var c = 0u; c < D; c++) { dot += ${sharedQ ? 'qs[c]' : 'q[qAt + c]'} * k[kAt + c]; }
        s = dot * p.scale${add};
      }
    }
    if (isNan(s)) { atomicStore(&nanKeys, 1u); }
    red[lid] = s;
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
      workgroupBarrier();
      if (lid < stride) { red[lid] = max(red[lid], red[lid + stride]); }
    }
    let blockMax = workgroupUniformLoad(&red[0]);
    if (blockMax != negInf) {
      let fresh = l == 0.0;
      let mNew = select(max(m, blockMax), blockMax, fresh);
      let corr = select(exp(m - mNew), 0.0, fresh);
      var pj = 0.0;
      if (s != negInf) { pj = exp(s - mNew); }
      workgroupBarrier(); // every invocation has read red[0]
      probs[lid] = pj;
      red[lid] = pj;
      for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        if (lid < stride) { red[lid] += red[lid + stride]; }
      }
      l = l * corr + workgroupUniformLoad(&red[0]);
      m = mNew;
      let n = min(WG, kEnd - k0);
      for (var r = 0u; r < ${perLane}u; r++) {
        let c = lid + r * WG;
        if (c < DV) {
          var a = acc[r] * corr;
          for (var j = 0u; j < n; j++) { a += probs[j] * v[vBase + (k0 + j) * p.vT + c]; }
          acc[r] = a;
        }
      }
    }
    workgroupBarrier(); // probs and red are rewritten by the next block
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let nanRow = atomicLoad(&nanKeys) != 0u; // the loop ends on a barrier
  let oAt = p.oOff + b * p.oB + h * p.oH;
  for (var r = 0u; r < ${perLane}u; r++) {
    let c = lid + r * WG;
    if (c < DV) { outBuf[oAt + c] = select(acc[r] * inv, nanF32(), nanRow); }
  }
}`;
}

/** Encodes attention on WebGPU: the decode kernel when Tq = 1, the flash kernel otherwise. */
export function attentionWebGpu(
  ctx: GpuContext,
  inputs: readonly GpuTensor[],
  out: GpuTensor,
  attrs: AttentionAttrs,
  dims: AttentionDims,
): void {
  if (out.size === 0) return;
  const { d, dv, tq } = dims;
  const rows = dims.batch * dims.qHeads;
  const decode = tq === 1;
  const queryBlocks = decode ? 1 : Math.ceil(tq / BQ);
  const groups = rows * queryBlocks;
  let pipeline: GPUComputePipeline;
  if (decode) {
    // Workgroup memory: q (when staged), probs and red (WG floats each), the NaN flag; each rounded to 16 bytes.
    const shared = (n: number) => Math.ceil((4 * n) / 16) * 16;
    const sharedQ = shared(d) + 2 * shared(DECODE_WG) + 16 <= ctx.limits.maxComputeWorkgroupStorageSize;
    pipeline = ctx.pipeline(`attention:decode:${d}:${dv}:${attrs.mask}:${sharedQ ? 'q' : ''}`, () =>
      decodeSource(attrs, d, dv, sharedQ),
    );
  } else {
    // Keys per block: 16 at most (visibility bits fit a u32 with room to spare; larger tiles only
    // slow shader compilation on software drivers, which zero-initialize workgroup memory).
    const bk = Math.min(16, Math.floor(ctx.limits.maxComputeWorkgroupStorageSize / (4 * Math.max(d, dv))));
    if (bk < 1) {
      throw new RangeError(
        `attention: head sizes D=${d} and Dv=${dv} need more workgroup memory than this device has ` +
          `(${ctx.limits.maxComputeWorkgroupStorageSize} bytes)`,
      );
    }
    pipeline = ctx.pipeline(`attention:flash:${d}:${dv}:${bk}:${attrs.mask}`, () =>
      flashSource(attrs, d, dv, bk),
    );
  }
  const uniforms = packAttentionParams(attrs, dims, queryBlocks, groups);
  ctx.dispatch(pipeline, [...inputs, out], uniforms, workgroups1d(groups));
}

/** The uniform values of an attention dispatch. */
export function packAttentionParams(
  attrs: AttentionAttrs,
  dims: AttentionDims,
  queryBlocks: number,
  groups: number,
): Uint8Array {
  const [maskB, maskH, maskQ] = dims.maskStrides;
  const { q, k, v, out } = dims.views;
  return attentionParams.pack({
    batch: dims.batch,
    qHeads: dims.qHeads,
    kvHeads: dims.kvHeads,
    tq: dims.tq,
    tk: dims.tk,
    kvLength: attrs.kvLength,
    queryOffset: attrs.queryOffset,
    causal: attrs.causal ? 1 : 0,
    scale: attrs.scale,
    maskB,
    maskH,
    maskQ,
    queryBlocks,
    groups,
    qOff: q.offset,
    qB: q.batch,
    qH: q.head,
    qT: q.token,
    kOff: k.offset,
    kB: k.batch,
    kH: k.head,
    kT: k.token,
    vOff: v.offset,
    vB: v.batch,
    vH: v.head,
    vT: v.token,
    oOff: out.offset,
    oB: out.batch,
    oH: out.head,
    oT: out.token,
  });
}
