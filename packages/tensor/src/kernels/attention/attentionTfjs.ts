// Attention through tfjs-core ops: the score matrix, the same visibility rules as the reference
// (kvLength, causal, bool or additive mask, additive -Infinity) and a softmax whose fully masked
// rows give zeros instead of NaN.
import type { TensorInfo } from '../../backend.js';
import type { TfjsCore, TfjsTensor } from '../../kernel.js';
import type { AttentionAttrs, AttentionDims } from './attentionDims.js';

/** The infos of tfjs inputs as attentionDims reads them (dtypes were checked by infer). */
export function tfjsInfos(inputs: readonly TfjsTensor[], attrs: AttentionAttrs): TensorInfo[] {
  return inputs.map((t, i) => ({ shape: t.shape, dtype: i === 3 && attrs.mask === 'bool' ? 'bool' : 'f32' }));
}

/** Unnormalized weights `p` [B, Hq, Tq, kvLength] and their row sums `l` [B, Hq, Tq, 1]. */
interface TfjsWeights {
  p: TfjsTensor;
  l: TfjsTensor;
}

/** `[B, Hq, Tq, X]` to `[B, Hkv, group * Tq, X]`: query heads of one kv head become extra rows. */
function groupRows(tf: TfjsCore, x: TfjsTensor, dims: AttentionDims): TfjsTensor {
  return tf.reshape(x, [dims.batch, dims.kvHeads, dims.group * dims.tq, x.shape[3]]);
}

function ungroupRows(tf: TfjsCore, x: TfjsTensor, dims: AttentionDims): TfjsTensor {
  return tf.reshape(x, [dims.batch, dims.qHeads, dims.tq, x.shape[3]]);
}

function weights(
  tf: TfjsCore,
  [q, k, , mask]: readonly TfjsTensor[],
  attrs: AttentionAttrs,
  dims: AttentionDims,
): TfjsWeights {
  const n = attrs.kvLength;
  const { batch, kvHeads, tq, tk, d } = dims;
  const keys = n < tk ? tf.slice(k, [0, 0, 0, 0], [batch, kvHeads, n, d]) : k;
  // [B, Hq, Tq, n]
  let s = tf.mul(ungroupRows(tf, tf.matMul(groupRows(tf, q, dims), keys, false, true), dims), attrs.scale);
  let visible = tf.cast(tf.onesLike(s), 'bool');
  if (attrs.causal) {
    const j = tf.reshape(tf.range(0, n, 1, 'int32'), [1, n]);
    const i = tf.reshape(tf.range(attrs.queryOffset, attrs.queryOffset + tq, 1, 'int32'), [tq, 1]);
    visible = tf.logicalAnd(visible, tf.lessEqual(j, i)); // [Tq, n] broadcast
  }
  if (mask) {
    // A rank-2 padding mask [B, Tk] reads as [B, 1, 1, Tk]; only the first n keys matter.
    const m4 = mask.rank === 2 ? tf.reshape(mask, [mask.shape[0], 1, 1, mask.shape[1]]) : mask;
    const m = m4.shape[3] > n ? tf.slice(m4, [0, 0, 0, 0], [-1, -1, -1, n]) : m4;
    if (attrs.mask === 'bool') visible = tf.logicalAnd(visible, tf.cast(m, 'bool'));
    else s = tf.add(s, m);
  }
  visible = tf.logicalAnd(visible, tf.notEqual(s, Number.NEGATIVE_INFINITY));
  const max = tf.max(tf.where(visible, s, tf.fill(s.shape, Number.NEGATIVE_INFINITY)), -1, true);
  const safeMax = tf.where(tf.isFinite(max), max, tf.zerosLike(max));
  // exp is only taken of visible scores, so masked -Infinity never meets a -Infinity max.
  const p = tf.where(visible, tf.exp(tf.sub(tf.where(visible, s, safeMax), safeMax)), tf.zerosLike(s));
  return { p, l: tf.sum(p, -1, true) };
}

/** Divides by the row sums; rows with no visible key (sum 0) stay zero, a NaN sum makes all NaN. */
function normalize(tf: TfjsCore, x: TfjsTensor, l: TfjsTensor): TfjsTensor {
  return tf.div(x, tf.where(tf.equal(l, 0), tf.onesLike(l), l));
}

/** `[B, T, H, X]` <-> `[B, H, T, X]` */
const swapTH = (tf: TfjsCore, x: TfjsTensor) => tf.transpose(x, [0, 2, 1, 3]);

/** q, k, v as `[B, H, T, X]` whatever the layout (the mask stays as it is). */
function bhtdInputs(tf: TfjsCore, inputs: readonly TfjsTensor[], attrs: AttentionAttrs): TfjsTensor[] {
  if (attrs.layout !== 'bthd') return [...inputs];
  const [q, k, v, ...mask] = inputs as [TfjsTensor, TfjsTensor, TfjsTensor, ...TfjsTensor[]];
  return [swapTH(tf, q), swapTH(tf, k), swapTH(tf, v), ...mask];
}

/** Attention output (`[B, Hq, Tq, Dv]`, or `[B, Tq, Hq, Dv]` in the bthd layout) with tfjs ops. */
export function attentionTfjs(
  tf: TfjsCore,
  inputs: readonly TfjsTensor[],
  attrs: AttentionAttrs,
  dims: AttentionDims,
): TfjsTensor {
  const out = attentionBhtdTfjs(tf, bhtdInputs(tf, inputs, attrs), attrs, dims);
  return attrs.layout === 'bthd' ? swapTH(tf, out) : out;
}

/** Attention output `[B, Hq, Tq, Dv]` of `[B, H, T, X]` inputs with tfjs ops. */
function attentionBhtdTfjs(
  tf: TfjsCore,
  inputs: readonly TfjsTensor[],
  attrs: AttentionAttrs,
  dims: AttentionDims,
): TfjsTensor {
  const { batch, qHeads, kvHeads, tq, tk, dv } = dims;
  const n = attrs.kvLength;
  if (n === 0 || tq === 0) return tf.zeros([batch, qHeads, tq, dv]);
  const v = inputs[2];
  const values = n < tk ? tf.slice(v, [0, 0, 0, 0], [batch, kvHeads, n, dv]) : v;
  const { p, l } = weights(tf, inputs, attrs, dims);
  const o = ungroupRows(tf, tf.matMul(groupRows(tf, p, dims), values), dims); // [B, Hq, Tq, Dv]
  return normalize(tf, o, l);
}

/** Attention probabilities `[B, Hq, Tq, kvLength]` (zeros on masked keys) with tfjs ops. */
export function attentionProbsTfjs(
  tf: TfjsCore,
  inputs: readonly TfjsTensor[],
  attrs: AttentionAttrs,
  dims: AttentionDims,
): TfjsTensor {
  const n = attrs.kvLength;
  if (n === 0 || dims.tq === 0) return tf.zeros([dims.batch, dims.qHeads, dims.tq, n]);
  const { p, l } = weights(tf, bhtdInputs(tf, inputs, attrs), attrs, dims);
  return normalize(tf, p, l);
}
