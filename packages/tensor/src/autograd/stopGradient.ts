// stopGradient: the identity as a view (no copy, no backend work) that gradients do not pass.
import type { TensorInfo } from '../backend.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export const stopGradientKernel: Kernel<void> = {
  name: 'stopGradient',
  aliasInput: 0,
  infer([x]): TensorInfo[] {
    return [{ shape: x!.shape, dtype: x!.dtype }];
  },
  // Never called for an aliasing kernel; kept as the reference of what it computes.
  cpu([x]) {
    return [x!.data.slice()];
  },
  grad() {
    return [undefined];
  },
};

/**
 * Returns `x` as a constant for autograd: the same values (a view, no copy), but no gradient flows
 * back through it, like `torch.Tensor.detach` or `tf.stopGradient`.
 *
 * @example
 * ```ts
 * const { grads } = valueAndGrad(() => mean(square(sub(pred, stopGradient(target)))), { pred });
 * ```
 */
export function stopGradient(x: Tensor): Tensor {
  const y = run1(stopGradientKernel, [x], undefined);
  // An untracked output keeps the ops that use it off the tape unless another input is tracked.
  y.tracked = false;
  return y;
}
