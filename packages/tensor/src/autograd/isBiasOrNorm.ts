// The usual rule for which params skip weight decay (nanoGPT, minGPT, timm): vectors and scalars.
import { describeValue } from '../describeValue.js';
import { Tensor } from '../tensor.js';

const NAMES = /(^|[._])(bias|b)$|(^|[._])(ln|norm)[^.]*\.|(layer|group|batch|rms)_?norm/i;

/**
 * True for params that usually get no weight decay: biases and normalization gains (anything of
 * rank < 2), and tensors whose key path names a bias or a norm layer (`*.bias`, `ln_1.*`,
 * `*layernorm*`, `*.norm.*`). Pass it as an {@link AdamW} group's `match`.
 *
 * @example
 * ```ts
 * const opt = new AdamW({ weightDecay: 0.1, groups: [{ match: isBiasOrNorm, weightDecay: 0 }] });
 * ```
 */
export function isBiasOrNorm(path: string, param: Tensor): boolean {
  if (typeof path !== 'string')
    throw new TypeError(
      `isBiasOrNorm: path must be a param's key path (a string), got ${describeValue(path)}`,
    );
  // Only its rank is read, which a disposed tensor still has.
  if (!(param instanceof Tensor))
    throw new TypeError(`isBiasOrNorm: param is not a Tensor (got ${describeValue(param)})`);
  return param.rank < 2 || NAMES.test(path);
}
