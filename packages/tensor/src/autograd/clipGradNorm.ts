// Global gradient-norm clipping, as torch.nn.utils.clip_grad_norm_ (L2 norm over all gradients).
import { full } from '../create.js';
import { tidy } from '../engine.js';
import { Tensor } from '../tensor.js';
import { add, div, minimum, mul } from '../kernels/binary.js';
import { sum } from '../kernels/reduce.js';
import { sqrt } from '../kernels/unary.js';
import { type ParamTree, flattenParams, replaceLeaf } from './paramTree.js';

/**
 * Scales every gradient of `grads` (in place: entries are replaced and the old tensors disposed) by
 * `min(1, maxNorm / (norm + 1e-6))`, where `norm` is the L2 norm of all gradients together, and
 * returns that norm (before clipping) as a scalar f32 tensor. Runs on the device with no readback.
 * A NaN in any gradient makes the norm and every gradient NaN (as PyTorch without
 * `error_if_nonfinite`), on every backend.
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
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  if (grads instanceof Tensor) {
    throw new TypeError(
      'clipGradNorm: grads must be an array or an object of tensors (updated in place), not a single Tensor',
    );
  }
  const leaves = flattenParams(grads, 'clipGradNorm');
  const first = leaves[0];
  if (!first) throw new RangeError('clipGradNorm: no gradients given');
  for (const { path, tensor } of leaves) {
    if (tensor.dtype !== 'f32')
      throw new TypeError(`clipGradNorm: gradient '${path}' is ${tensor.describe()}, not f32`);
    if (tensor.backend !== first.tensor.backend) {
      throw new Error(
        `clipGradNorm: gradient '${path}' is on a ${tensor.backend.kind} backend but '${first.path}' is on another (${first.tensor.backend.kind})`,
      );
    }
  }
  const backend = first.tensor.backend;
  const { norm, scaled } = tidy(() => {
    // [] per gradient, summed in one chain so no partial sum outlives the scope.
    let total = full([], 0, { backend });
    for (const { tensor: g } of leaves) total = add(total, sum(mul(g, g)));
    const norm = sqrt(total);
    const coef = minimum(
      div(full([], maxNorm, { backend }), add(norm, full([], 1e-6, { backend }))),
      full([], 1, { backend }),
    );
    return { norm, scaled: leaves.map(({ tensor: g }) => mul(g, coef)) };
  });
  leaves.forEach((leaf, i) => {
    replaceLeaf(leaf, scaled[i]!, 'clipGradNorm');
    leaf.tensor.dispose();
  });
  return norm;
}
