// Global gradient-norm clipping, as torch.nn.utils.clip_grad_norm_ (L2 norm over all gradients).
import type { Backend } from '../backend.js';
import { full } from '../create.js';
import { tidy } from '../engine.js';
import { showValue } from '../shape.js';
import { Tensor } from '../tensor.js';
import { add, div, minimum, mul } from '../kernels/binary.js';
import { sum } from '../kernels/reduce.js';
import { sqrt } from '../kernels/unary.js';
import { isNoGradient } from './noGradient.js';
import { type ParamLeaf, type ParamTree, flattenParams, replaceLeaf } from './paramTree.js';

/**
 * The leaves of `grads` that hold a gradient (not valueAndGrad's zeros for a param the loss does not
 * reach), and the backend all the gradients are on; throws on bad input, naming the gradient.
 */
function gradientLeaves(grads: ParamTree, op: string): { leaves: ParamLeaf[]; backend: Backend } {
  const all = flattenParams(grads, op);
  const first = all[0];
  if (!first) throw new RangeError(`${op}: no gradients given`);
  for (const { path, tensor } of all) {
    if (tensor.isDisposed)
      throw new Error(`${op}: gradient '${path}' (tensor #${tensor.id} ${tensor.describe()}) was disposed`);
    if (tensor.dtype !== 'f32')
      throw new TypeError(`${op}: gradient '${path}' is ${tensor.describe()}, not f32`);
    if (tensor.backend !== first.tensor.backend) {
      throw new Error(
        `${op}: gradient '${path}' is on a ${tensor.backend.kind} backend but '${first.path}' is on another (${first.tensor.backend.kind})`,
      );
    }
  }
  return { leaves: all.filter((leaf) => !isNoGradient(leaf.tensor)), backend: first.tensor.backend };
}

/**
 * [] The L2 norm of all `leaves` together (0 for none), made in the current scope. Summed in the
 * order of the key paths, not of the tree: the same gradients give the same bits whichever order
 * their params were put in (a checkpoint loads its tensors in file order, not in the order a fresh
 * init made them, and a resumed run must take the steps the unbroken one took).
 */
function totalNorm(leaves: readonly ParamLeaf[], backend: Backend): Tensor {
  const ordered = [...leaves].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return tidy(() => {
    // [] per gradient, summed in one chain so no partial sum outlives the scope.
    let total = full([], 0, { backend });
    for (const { tensor: g } of ordered) total = add(total, sum(mul(g, g)));
    return sqrt(total);
  });
}

/**
 * The L2 norm of all gradients of `grads` together, as a scalar f32 tensor, on the device with no
 * readback: what {@link clipGradNorm} measures, without scaling anything. Trainers read it to skip
 * an update whose gradients are not finite.
 *
 * @example
 * ```ts
 * const { value, grads } = valueAndGrad(() => loss(params), params);
 * const norm = gradNorm(grads);
 * if (Number.isFinite(await norm.item())) opt.step(params, grads);
 * ```
 */
export function gradNorm(grads: ParamTree): Tensor {
  const { leaves, backend } = gradientLeaves(grads, 'gradNorm');
  return totalNorm(leaves, backend);
}

/**
 * Scales every gradient of `grads` (in place: entries are replaced and the old tensors disposed) by
 * `min(1, maxNorm / (norm + 1e-6))`, where `norm` is the L2 norm of all gradients together, and
 * returns that norm (before clipping) as a scalar f32 tensor. Runs on the device with no readback.
 * A NaN in any gradient makes the norm and every gradient NaN (as PyTorch without
 * `error_if_nonfinite`), on every backend. The zeros {@link valueAndGrad} gives a param the loss
 * does not reach are left as they are (no gradient to scale).
 * Call it in the scope that owns the grads (the new tensors are created in the current scope).
 *
 * @example
 * ```ts
 * const { value, grads } = valueAndGrad(() => loss(params), params);
 * const norm = clipGradNorm(grads, 1.0); // await norm.item() to log it
 * opt.step(params, grads);
 * ```
 */
export function clipGradNorm(grads: ParamTree, maxNorm: number): Tensor {
  if (!(typeof maxNorm === 'number' && maxNorm > 0))
    throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${showValue(maxNorm)}`);
  if (grads instanceof Tensor) {
    throw new TypeError(
      'clipGradNorm: grads must be an array or an object of tensors (updated in place), not a single Tensor',
    );
  }
  const { leaves, backend } = gradientLeaves(grads, 'clipGradNorm');
  const { norm, scaled } = tidy(() => {
    const norm = totalNorm(leaves, backend); // []
    const coef = minimum(
      div(full([], maxNorm, { backend }), add(norm, full([], 1e-6, { backend }))),
      full([], 1, { backend }),
    ); // []
    return { norm, scaled: leaves.map(({ tensor: g }) => mul(g, coef)) };
  });
  leaves.forEach((leaf, i) => {
    replaceLeaf(leaf, scaled[i]!, 'clipGradNorm');
    leaf.tensor.dispose();
  });
  return norm;
}
