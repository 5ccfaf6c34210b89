// The dVAE's KL term: the encoder's categorical posterior q = softmax(logits) per grid cell against
// the uniform prior over the codebook, KL(q || U) = sum_k q_k ln q_k + ln V. It is 0 when q is
// uniform and ln V when q is one-hot, so weighting it with beta spreads the encoder's mass over
// the codebook (and keeps codes alive).
import { type Tensor, exp, logSoftmax, mul, scale, sum } from '@vl/tensor';
import { checkTensorArg } from '../checkArguments.js';
import { describeValue } from '../describeValue.js';

/**
 * `KL(softmax(logits) || uniform)` along the codebook `axis` (default 1 for `[B, V, h, w]`), in
 * nats, one value per grid cell: the shape of `logits` without `axis` (`[B, h, w]`).
 *
 * @example
 * ```ts
 * const kl = klToUniform(logits); // [B, 8192, 32, 32] -> [B, 32, 32], each in [0, ln 8192]
 * ```
 */
export function klToUniform(logits: Tensor, axis = 1): Tensor {
  checkTensorArg('klToUniform', 'logits', logits, 'an f32 tensor');
  if (logits.dtype !== 'f32')
    throw new TypeError(`klToUniform: logits must be f32, got ${logits.describe()}`);
  const a = axis < 0 ? axis + logits.shape.length : axis;
  const v = logits.shape[a];
  if (v === undefined || a < 0) {
    throw new RangeError(
      `klToUniform: axis ${describeValue(axis)} is out of range for logits ${logits.describe()}`,
    );
  }
  const logQ = logSoftmax(logits, a); // [B, V, h, w]
  const q = exp(logQ); // [B, V, h, w] softmax(logits), one pass instead of a second softmax
  return scale(sum(mul(q, logQ), a), 1, Math.log(v)); // [B, h, w]
}
