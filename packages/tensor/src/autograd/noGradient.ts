// Gradients that stand for "no gradient": the zeros valueAndGrad hands out for a param the loss
// does not reach (PyTorch leaves such a param's .grad as None). The grads tree keeps one tensor per
// param, so it keeps the params' structure; AdamW.step and clipGradNorm recognise these tensors and
// leave their params alone, as torch.optim skips a param whose grad is None.
import type { Tensor } from '../tensor.js';

const unreached = new WeakSet<Tensor>();

/** @internal Marks `zeros` as the gradient of a param no gradient reached; returns it. */
export function markNoGradient(zeros: Tensor): Tensor {
  unreached.add(zeros);
  return zeros;
}

/** @internal Whether `g` is valueAndGrad's placeholder for a param the loss does not reach. */
export function isNoGradient(g: Tensor): boolean {
  return unreached.has(g);
}
