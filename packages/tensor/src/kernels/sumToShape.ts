// Reduces a gradient that was broadcast to a larger shape back to an input's shape: the
// gradient of broadcasting is a sum over the broadcast axes.
import { checkTensor } from '../checkTensor.js';
import { tidy } from '../engine.js';
import { formatShape, type Shape, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { sum } from './reduce.js';
import { assertIntegers, reshape } from './reshape.js';

/**
 * Sums `dy` over the axes along which `shape` was broadcast to `dy.shape` (leading axes `shape`
 * lacks, and axes where `shape` has 1), giving a tensor of `shape`. Returns `dy` itself when the
 * shapes already match.
 *
 * @example
 * ```ts
 * const dBias = sumToShape(dy, bias.shape); // [B, T, C] -> [C]
 * ```
 */
export function sumToShape(dy: Tensor, shape: Shape): Tensor {
  checkTensor(dy, 'sumToShape', 'dy');
  assertIntegers(shape, 'sumToShape', 'shape');
  if (shapesEqual(dy.shape, shape)) return dy;
  const lead = dy.rank - shape.length;
  const bad = () =>
    new RangeError(
      `sumToShape: dy of shape ${formatShape(dy.shape)} is not a broadcast of ${formatShape(shape)}`,
    );
  if (lead < 0) throw bad();
  const axes: number[] = [];
  for (let i = 0; i < dy.rank; i++) {
    const want = i < lead ? 1 : shape[i - lead]!;
    const have = dy.shape[i]!;
    if (i < lead || (want === 1 && have !== 1)) axes.push(i);
    else if (want !== have) throw bad();
  }
  // In a tidy, so the keepDims sum (whose buffer the view shares) is not left alive outside one.
  return tidy(() => reshape(sum(dy, axes, true), shape));
}
