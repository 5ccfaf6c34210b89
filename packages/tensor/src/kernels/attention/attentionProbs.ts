// The attention probabilities P = softmax(scale · q kᵀ + mask) over the valid keys, materialized:
// [B, Hq, Tq, kvLength]. The fused forward never stores them; the backward recomputes them here
// (training shapes are small), with exactly the forward's visibility rules.
import { workgroups1d } from '../../backends/webgpu/context.js';
import { run1 } from '../../engine.js';
import type { Kernel } from '../../kernel.js';
import type { Tensor } from '../../tensor.js';
import {
  type AttentionAttrs,
  type AttentionOptions,
  attentionAttrs,
  attentionDims,
} from './attentionDims.js';
import { attentionArrays, forEachAttentionRow } from './attentionReference.js';
import { attentionProbsTfjs, tfjsInfos } from './attentionTfjs.js';
import { attentionHeader, packAttentionParams } from './attentionWebGpu.js';

const WG = 64;

/** One invocation per query row: scores (masked as -inf) into the output, then exp, then normalize. */
function probsSource(attrs: AttentionAttrs, d: number, dv: number): string {
  const visible = attrs.mask === 'bool' ? ' && mask[maskRow + j] != 0u' : '';
  const add = attrs.mask === 'additive' ? ' + mask[maskRow + j]' : '';
  return `${attentionHeader(attrs, d, dv)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * ${WG}u; // (b * Hq + h) * Tq + i
  if (row >= p.groups) { return; }
  _ = arrayLength(&v); // bound like the forward's inputs, though the probabilities do not read v
  var negInfBits = 0xff800000u;
  let negInf = bitcast<f32>(negInfBits);
  let n = p.kvLength;
  let i = row % p.tq;
  let bh = row / p.tq;
  let h = bh % p.qHeads;
  let b = bh / p.qHeads;
  let kvHead = h / (p.qHeads / p.kvHeads);
  let kBase = p.kOff + b * p.kB + kvHead * p.kH;
  let qAt = p.qOff + b * p.qB + h * p.qH + i * p.qT;
  let maskRow = b * p.maskB + h * p.maskH + i * p.maskQ;
  let rowLimit = i32(i) + p.queryOffset;
  var m = 0.0;
  var seen = false;
  var nanRow = false; // a NaN score makes the whole row NaN, as on the CPU
  for (var j = 0u; j < n; j++) {
    var s = negInf;
    if ((p.causal == 0u || i32(j) <= rowLimit)${visible}) {
      var dot = 0.0;
      let kAt = kBase + j * p.kT;
      for (var c = 0u; c < D; c++) { dot += q[qAt + c] * k[kAt + c]; }
      s = dot * p.scale${add};
    }
    outBuf[row * n + j] = s;
    if (isNan(s)) { nanRow = true; }
    if (s != negInf && (!seen || s > m)) { m = s; seen = true; }
  }
  var l = 0.0;
  for (var j = 0u; j < n; j++) {
    let s = outBuf[row * n + j];
    var e = 0.0;
    if (s != negInf) { e = exp(s - m); }
    outBuf[row * n + j] = e;
    l += e;
  }
  // A row that sees no key is all zeros.
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var j = 0u; j < n; j++) { outBuf[row * n + j] = select(outBuf[row * n + j] * inv, nanF32(), nanRow); }
}`;
}

/**
 * Attention probabilities `[B, Hq, Tq, kvLength]` (inputs and attributes as the attention kernel's).
 *
 * @example
 * ```ts
 * const [p] = runKernel(attentionProbsKernel, [q, k, v], {
 *   causal: false, scale: 0.125, kvLength: 17, queryOffset: 0, mask: 'none',
 * });
 * ```
 */
export const attentionProbsKernel: Kernel<AttentionAttrs> = {
  name: 'attentionProbs',
  infer(inputs, attrs) {
    const dims = attentionDims(inputs, attrs, 'attentionProbs');
    return [{ shape: [dims.batch, dims.qHeads, dims.tq, attrs.kvLength], dtype: 'f32' }];
  },
  cpu(inputs, attrs) {
    const dims = attentionDims(inputs, attrs, 'attentionProbs');
    const n = attrs.kvLength;
    const out = new Float32Array(dims.batch * dims.qHeads * dims.tq * n);
    forEachAttentionRow(attentionArrays(inputs), attrs, dims, (row, probs) => {
      if (probs) out.set(probs, row * n);
    });
    return [out];
  },
  webgpu(ctx, inputs, [out], attrs) {
    if (out!.size === 0) return;
    const dims = attentionDims(inputs, attrs, 'attentionProbs');
    const rows = dims.batch * dims.qHeads * dims.tq;
    const pipeline = ctx.pipeline(`attentionProbs:${dims.d}:${dims.dv}:${attrs.mask}`, () =>
      probsSource(attrs, dims.d, dims.dv),
    );
    ctx.dispatch(
      pipeline,
      [...inputs, out!],
      packAttentionParams(attrs, dims, 1, rows),
      workgroups1d(Math.ceil(rows / WG)),
    );
  },
  tfjs(tf, inputs, attrs) {
    return [
      attentionProbsTfjs(tf, inputs, attrs, attentionDims(tfjsInfos(inputs, attrs), attrs, 'attentionProbs')),
    ];
  },
};

/**
 * The attention weights `softmax(scale · q kᵀ + mask)` that `attention` applies to v, as a
 * tensor `[B, Hq, Tq, kvLength]` (zeros on hidden keys and on rows that see none): for inspecting
 * attention maps, and what attention's gradient recomputes. Same inputs and options as attention
 * (v only for its shape checks); with `layout: 'bthd'` the probabilities are still `[B, Hq, Tq, kvLength]`.
 *
 * @example
 * ```ts
 * const maps = attentionProbs(q, k, v, { causal: true }); // [1, 12, 77, 77]
 * ```
 */
export function attentionProbs(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const attrs = attentionAttrs(q, k, v, options, 'attentionProbs');
  const { mask } = options;
  return run1(attentionProbsKernel, mask ? [q, k, v, mask] : [q, k, v], attrs);
}
