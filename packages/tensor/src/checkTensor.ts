// The first check of an op on each tensor it was given: a value that is not a tensor (most often
// undefined, from a Map lookup of a misspelled weight name) or a disposed one is named with the op and
// the argument, before any property of it is read.
import { describeValue } from './describeValue.js';
import { Tensor } from './tensor.js';

/**
 * @internal Throws unless `value` is a live Tensor: a TypeError `op: what is not a Tensor (got
 * undefined)`, or an Error naming the disposed tensor.
 */
export function checkTensor(value: unknown, op: string, what: string): asserts value is Tensor {
  if (!(value instanceof Tensor))
    throw new TypeError(`${op}: ${what} is not a Tensor (got ${describeValue(value)})`);
  if (value.isDisposed)
    throw new Error(`${op}: ${what} (tensor #${value.id} ${value.describe()}) was disposed`);
}

/** @internal Like {@link checkTensor} for an optional argument: undefined passes. */
export function checkOptionalTensor(
  value: unknown,
  op: string,
  what: string,
): asserts value is Tensor | undefined {
  if (value !== undefined) checkTensor(value, op, what);
}
