// Attention that reads q, k and v from one fused projection [B, T, (Hq + 2·Hkv)·D] (q's heads, then
// k's, then v's, as a qkv linear layer writes them) and writes [B, T, Hq·D], ready for the output
// projection: no slice, no transpose and one matmul instead of three on the way in. The kernels are
// attention's own, reading the packed tensor through views.
import { checkOptionalTensor, checkTensor } from '../../checkTensor.js';
import { run1 } from '../../engine.js';
import type { GradArgs, HostTensor, Kernel, TfjsCore, TfjsTensor } from '../../kernel.js';
import { formatShape } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { concat } from '../concat.js';
import { reshape } from '../reshape.js';
import { slice } from '../slice.js';
import { type AttentionAttrs, type AttentionDims, contiguousView, maskStridesOf } from './attentionDims.js';
import { attentionGradOf } from './attentionGrad.js';
import { type AttentionArrays, attentionCpu } from './attentionReference.js';
import { attentionTfjs } from './attentionTfjs.js';
import { attentionWebGpu } from './attentionWebGpu.js';
import type { TensorInfo } from '../../backend.js';
import { checkOptionKeys, flagOption } from '../options.js';

/** Attributes of the packed-qkv attention kernel: attention's, and the head counts. */
export interface AttentionQkvAttrs extends AttentionAttrs {
  /** Query heads Hq. */
  readonly heads: number;
  /** Key/value heads Hkv (Hq for plain multi-head attention). */
  readonly kvHeads: number;
}

/**
 * Options of `attentionQkv`.
 *
 * @example
 * ```ts
 * const options: AttentionQkvOptions = { heads: 12, causal: true };
 * ```
 */
export interface AttentionQkvOptions {
  /** Query heads. */
  heads: number;
  /** Key/value heads (default `heads`); the packed axis is `(heads + 2·kvHeads)·D`. */
  kvHeads?: number;
  /** Each token sees only itself and the tokens before it. */
  causal?: boolean;
  /** A bool padding mask `[B, T]`, or a mask broadcastable to `[B, Hq, T, T]`, as attention's. */
  mask?: Tensor;
  /** Multiplies `q·k` (default `1 / sqrt(D)`). */
  scale?: number;
}

const describe = (t: TensorInfo) => `${t.dtype}${formatShape(t.shape)}`;

/** Validates the packed input (and the mask) and returns attention's sizes and views. */
export function attentionQkvDims(
  inputs: readonly TensorInfo[],
  attrs: AttentionQkvAttrs,
  op = 'attentionQkv',
): AttentionDims {
  const [qkv, mask] = inputs as [TensorInfo, TensorInfo | undefined];
  const { heads, kvHeads } = attrs;
  if (qkv.shape.length !== 3)
    throw new RangeError(`${op}: qkv must have rank 3 [B, T, (Hq + 2·Hkv)·D], got ${describe(qkv)}`);
  if (qkv.dtype !== 'f32') throw new TypeError(`${op}: qkv must be f32, got ${describe(qkv)}; cast it first`);
  if (!Number.isInteger(heads) || heads < 1 || !Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads)
    throw new RangeError(
      `${op}: heads ${heads} and kvHeads ${kvHeads} must be positive integers, heads a multiple of kvHeads`,
    );
  const [batch, t, width] = qkv.shape as [number, number, number];
  const parts = heads + 2 * kvHeads;
  const d = width / parts;
  if (!Number.isInteger(d) || d < 1)
    throw new RangeError(
      `${op}: qkv ${describe(qkv)}: its last axis must be (heads + 2·kvHeads)·D = ${parts}·D for ${heads} query and ${kvHeads} kv heads`,
    );
  if (attrs.kvLength !== t || attrs.queryOffset !== 0)
    throw new RangeError(
      `${op}: kvLength must be T = ${t} and queryOffset 0 (a cache reads attention's k and v)`,
    );
  if (!Number.isFinite(attrs.scale))
    throw new RangeError(`${op}: scale ${attrs.scale} must be a finite number`);
  const sizes = { batch, qHeads: heads, tq: t, tk: t };
  const maskStrides = mask ? maskStridesOf(mask, attrs, sizes, op) : ([0, 0, 0] as const);
  const packed = (offset: number) => ({ offset: offset * d, batch: t * width, head: d, token: width });
  const views = {
    q: packed(0),
    k: packed(heads),
    v: packed(heads + kvHeads),
    out: contiguousView('bthd', heads, t, d),
  };
  return { ...sizes, kvHeads, group: heads / kvHeads, d, dv: d, maskStrides, views };
}

/** The host arrays of the kernel's inputs `[qkv, mask?]`: q, k and v are the one packed array. */
export function attentionQkvArrays(inputs: readonly HostTensor[]): AttentionArrays {
  const [qkv, mask] = inputs as [HostTensor, HostTensor | undefined];
  return { q: qkv.data, k: qkv.data, v: qkv.data, mask: mask?.data };
}

/** Where q, k and v begin on the packed axis, in heads, and how many heads each has. */
const spans = ({ qHeads, kvHeads }: AttentionDims): [number, number][] => [
  [0, qHeads],
  [qHeads, kvHeads],
  [qHeads + kvHeads, kvHeads],
];

/** q, k and v `[B, T, H, D]` out of the packed tensor, with tfjs ops. */
function unpackTfjs(tf: TfjsCore, qkv: TfjsTensor, dims: AttentionDims): TfjsTensor[] {
  const { batch, tq, d } = dims;
  return spans(dims).map(([from, n]) =>
    tf.reshape(tf.slice(qkv, [0, 0, from * d], [batch, tq, n * d]), [batch, tq, n, d]),
  );
}

/** q, k and v `[B, T, H, D]` out of the packed tensor. */
function unpack(qkv: Tensor, dims: AttentionDims): Tensor[] {
  const { batch, tq, d } = dims;
  return spans(dims).map(([from, n]) =>
    reshape(slice(qkv, [0, 0, from * d], [batch, tq, n * d]), [batch, tq, n, d]),
  );
}

/** The attributes of attention over the unpacked `[B, T, H, D]` operands. */
function bthdAttrs({ heads: _h, kvHeads: _k, ...plain }: AttentionQkvAttrs): AttentionAttrs {
  return { ...plain, layout: 'bthd' };
}

/** The gradient: attention's in the bthd layout, of the unpacked operands, packed back as one `dqkv`. */
function attentionQkvGrad({
  dy: [dOut],
  inputs,
  attrs,
}: GradArgs<AttentionQkvAttrs>): (Tensor | undefined)[] {
  if (!dOut) return [undefined, undefined];
  const [qkv, mask] = inputs as [Tensor, Tensor | undefined];
  const dims = attentionQkvDims(inputs, attrs);
  const { batch, tq, d, qHeads } = dims;
  const dO = reshape(dOut, [batch, tq, qHeads, d]); // [B, T, Hq, D]
  const [dq, dk, dv, dMask] = attentionGradOf(
    dO,
    [...unpack(qkv, dims), ...(mask ? [mask] : [])],
    bthdAttrs(attrs),
  );
  const packed = [dq, dk, dv].map((g) => reshape(g, [batch, tq, g.shape[2]! * d])); // [B, T, H·D]
  return [concat(packed, 2), dMask];
}

/**
 * The packed-qkv attention kernel behind {@link attentionQkv} (inputs qkv and an optional mask).
 *
 * @example
 * ```ts
 * const [y] = runKernel(attentionQkvKernel, [qkv], {
 *   heads: 12, kvHeads: 12, causal: false, scale: 0.125, kvLength: 50, queryOffset: 0, mask: 'none',
 * });
 * ```
 */
export const attentionQkvKernel: Kernel<AttentionQkvAttrs> = {
  name: 'attentionQkv',
  infer(inputs, attrs) {
    const { batch, tq, qHeads, d } = attentionQkvDims(inputs, attrs);
    return [{ shape: [batch, tq, qHeads * d], dtype: 'f32' }];
  },
  cpu(inputs, attrs) {
    return [attentionCpu(attentionQkvArrays(inputs), attrs, attentionQkvDims(inputs, attrs))];
  },
  webgpu(ctx, [qkv, ...mask], [out], attrs) {
    const dims = attentionQkvDims([qkv!, ...mask], attrs);
    attentionWebGpu(ctx, [qkv!, qkv!, qkv!, ...mask], out!, attrs, dims);
  },
  tfjs(tf, [qkv, ...mask], attrs) {
    const infos = [qkv, ...mask].map((t, i) => ({
      shape: t.shape,
      dtype: i === 1 && attrs.mask === 'bool' ? 'bool' : 'f32',
    })) as TensorInfo[];
    const dims = attentionQkvDims(infos, attrs);
    const o = attentionTfjs(tf, [...unpackTfjs(tf, qkv, dims), ...mask], bthdAttrs(attrs), dims); // [B, T, Hq, D]
    return [tf.reshape(o, [dims.batch, dims.tq, dims.qHeads * dims.d])];
  },
  grad: attentionQkvGrad,
};

/**
 * Self-attention straight from a fused qkv projection: `qkv` `[B, T, (Hq + 2·Hkv)·D]` holds each
 * token's q heads, then its k heads, then its v heads (a `[3·C, C]` qkv weight, or q_proj, k_proj
 * and v_proj stacked), and the result `[B, T, Hq·D]` is what the output projection takes. The same
 * fused kernels as {@link attention} with `[B, T, H, D]` operands; masks as attention's.
 *
 * @example
 * ```ts
 * const qkv = matmul(x, wQkv, { transposeB: true, bias: bQkv }); // [1, 50, 2304]
 * const y = attentionQkv(qkv, { heads: 12 }); // [1, 50, 768]
 * ```
 */
export function attentionQkv(qkv: Tensor, options: AttentionQkvOptions): Tensor {
  checkTensor(qkv, 'attentionQkv', 'qkv');
  checkOptionKeys('attentionQkv', options, ['heads', 'kvHeads', 'causal', 'mask', 'scale']);
  const { heads, kvHeads = heads, mask } = options;
  checkOptionalTensor(mask, 'attentionQkv', 'options.mask');
  const parts = heads + 2 * kvHeads;
  const t = qkv.shape[1] ?? 0;
  const attrs: AttentionQkvAttrs = {
    heads,
    kvHeads,
    causal: flagOption('attentionQkv', options, 'causal'),
    scale: options.scale ?? 1 / Math.sqrt((qkv.shape[2] ?? parts) / parts),
    kvLength: t,
    queryOffset: 0,
    mask: mask === undefined ? 'none' : mask.dtype === 'bool' ? 'bool' : 'additive',
  };
  return run1(attentionQkvKernel, mask ? [qkv, mask] : [qkv], attrs);
}
