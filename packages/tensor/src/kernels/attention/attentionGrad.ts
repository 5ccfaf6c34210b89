// The gradient of attention, recompute-based and built from exported ops so that it runs on every
// backend: the probabilities P are recomputed (attentionProbs, with the forward's masking rules),
// then the usual softmax-attention backward with grouped heads folded into rows:
//   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ = scale · dS K,  dK = scale · dSᵀ Q.
// Query heads sharing a kv head become extra rows of one matrix ([B, Hkv, G·Tq, ·]), so the sum of
// their contributions to dK and dV is part of the matmul. Only the valid keys [0, kvLength) take
// part (a cache's unused tail may hold anything); their gradient rows beyond kvLength are zero. An
// additive mask that is being differentiated gets dS summed to its shape (a bool one has none).
// Memory is O(Tq · Tk) per head: meant for training small models.
import { run1 } from '../../engine.js';
import type { GradArgs } from '../../kernel.js';
import type { Tensor } from '../../tensor.js';
import { matmul } from '../matmul.js';
import { pad } from '../pad.js';
import { reshape } from '../reshape.js';
import { slice } from '../slice.js';
import { softmaxGrad } from '../softmaxGrad.js';
import { sumToShape } from '../sumToShape.js';
import { transpose } from '../transpose.js';
import { scale } from '../unary.js';
import { type AttentionAttrs, attentionDims } from './attentionDims.js';
import { attentionProbsKernel } from './attentionProbs.js';

/** The valid prefix [B, Hkv, kvLength, X] of a cache tensor (the tensor itself when all is valid). */
function validKeys(x: Tensor, n: number): Tensor {
  return n === x.shape[2] ? x : slice(x, [0, 0, 0, 0], [-1, -1, n, -1]);
}

/** Pads gradients of the valid keys back to the allocated length with zeros. */
function padKeys(dx: Tensor, tk: number): Tensor {
  const n = dx.shape[2]!;
  return n === tk
    ? dx
    : pad(dx, [
        [0, 0],
        [0, 0],
        [0, tk - n],
        [0, 0],
      ]);
}

/** `[B, T, H, X]` <-> `[B, H, T, X]` */
const swapTH = (x: Tensor) => transpose(x, [0, 2, 1, 3]);

/** Gradient rule of the attention kernel: `[dq, dk, dv, dmask]` (dmask for a tracked additive mask). */
export function attentionGrad({
  dy: [dOut],
  inputs,
  attrs,
}: GradArgs<AttentionAttrs>): (Tensor | undefined)[] {
  if (!dOut) return [undefined, undefined, undefined, undefined];
  return attentionGradOf(dOut, inputs, attrs);
}

/**
 * dq, dk, dv and (for an additive mask that is being differentiated, such as a learned position
 * bias) dmask of attention in either layout (inputs q, k, v and the optional mask, as the kernel
 * takes them). The bthd layout is computed as bhtd between transposes (training shapes are small;
 * the forward is where the layout pays); the mask's shape is the same in both.
 */
export function attentionGradOf(
  dOut: Tensor,
  inputs: readonly Tensor[],
  attrs: AttentionAttrs,
): [Tensor, Tensor, Tensor, Tensor | undefined] {
  if (attrs.layout !== 'bthd') return attentionGradBhtd(dOut, inputs, attrs);
  const [q, k, v, mask] = inputs as [Tensor, Tensor, Tensor, Tensor | undefined];
  const { layout: _, ...bhtd } = attrs;
  const bhtdInputs = [swapTH(q), swapTH(k), swapTH(v), ...(mask ? [mask] : [])];
  const [dq, dk, dv, dMask] = attentionGradBhtd(swapTH(dOut), bhtdInputs, bhtd);
  return [swapTH(dq), swapTH(dk), swapTH(dv), dMask];
}

/**
 * The gradient of an additive mask: dS (the scores' gradient, which the mask is added to) summed
 * over the axes the mask broadcasts, zero for keys past kvLength when the mask spans all tk.
 */
function maskGrad(
  dS: Tensor, // [B, Hkv, G·Tq, n]
  mask: Tensor, // [B or 1, Hq or 1, Tq or 1, tk or n]
  qHeads: number,
  tq: number,
): Tensor {
  const [batch, , , n] = dS.shape as [number, number, number, number];
  const scores = reshape(dS, [batch, qHeads, tq, n]); // [B, Hq, Tq, n]
  const keys = mask.shape[3]!;
  const full =
    keys === n
      ? scores
      : pad(scores, [
          [0, 0],
          [0, 0],
          [0, 0],
          [0, keys - n],
        ]); // [B, Hq, Tq, tk]
  return sumToShape(full, mask.shape);
}

/** dq, dk, dv and dmask of attention over `[B, H, T, X]` inputs (q, k, v and the optional mask). */
function attentionGradBhtd(
  dOut: Tensor, // [B, Hq, Tq, Dv]
  inputs: readonly Tensor[],
  attrs: AttentionAttrs,
): [Tensor, Tensor, Tensor, Tensor | undefined] {
  const [q, k, v] = inputs as [Tensor, Tensor, Tensor];
  const { batch, kvHeads, group, tq, tk, d, dv } = attentionDims(inputs, attrs);
  const rows = group * tq;
  const n = attrs.kvLength;
  const keys = validKeys(k, n); // [B, Hkv, n, D]
  const values = validKeys(v, n); // [B, Hkv, n, Dv]
  const p = reshape(run1(attentionProbsKernel, inputs, attrs), [batch, kvHeads, rows, n]); // [B, Hkv, G·Tq, n]
  const dO = reshape(dOut, [batch, kvHeads, rows, dv]); // [B, Hkv, G·Tq, Dv]
  const dV = matmul(p, dO, { transposeA: true }); // [B, Hkv, n, Dv]
  const dP = matmul(dO, values, { transposeB: true }); // [B, Hkv, G·Tq, n]
  const dS = softmaxGrad(p, dP); // [B, Hkv, G·Tq, n]
  const dQ = reshape(scale(matmul(dS, keys), attrs.scale), q.shape); // [B, Hq, Tq, D]
  const qRows = reshape(q, [batch, kvHeads, rows, d]); // [B, Hkv, G·Tq, D]
  const dK = scale(matmul(dS, qRows, { transposeA: true }), attrs.scale); // [B, Hkv, n, D]
  const mask = inputs[3];
  const dMask = mask?.tracked && attrs.mask === 'additive' ? maskGrad(dS, mask, q.shape[1]!, tq) : undefined;
  return [dQ, padKeys(dK, tk), padKeys(dV, tk), dMask];
}
