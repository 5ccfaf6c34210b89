// The checks at the entry of the CPU backend's methods. The engine always passes what they expect;
// a caller using a backend directly gets an error naming the method and the argument, not a raw
// "Cannot read properties of undefined" from inside, nor a release of a non-buffer that would skew
// stats(). A few typeof/instanceof tests per call.
import type { TensorInfo } from '../../backend.js';
import { checkTensor } from '../../checkTensor.js';
import { describeValue } from '../../describeValue.js';
import { assertDType, isDType, type TypedArray } from '../../dtype.js';
import type { Kernel } from '../../kernel.js';
import { showValue } from '../../shape.js';
import { Tensor } from '../../tensor.js';

/** Throws unless `value` is a typed array: host data to upload, or a CPU tensor's handle. */
export function checkHostArray(value: unknown, op: string, what: string): asserts value is TypedArray {
  if (!ArrayBuffer.isView(value) || value instanceof DataView)
    throw new TypeError(`${op}: ${what} must be a typed array, got ${describeValue(value)}`);
}

/**
 * Throws unless `info` is a {@link TensorInfo} (a Tensor is one): a known dtype, a valid shape. The
 * error calls it `what`, or `what[index]`: names are built only for the error, as this runs per call.
 */
export function checkTensorInfo(
  info: unknown,
  op: string,
  what: string,
  index?: number,
): asserts info is TensorInfo {
  const { shape, dtype } = (info ?? {}) as Partial<TensorInfo>;
  const isInfo = typeof info === 'object' && info !== null && Array.isArray(shape);
  if (isInfo && isDType(dtype) && validDims(shape)) return;
  const name = index === undefined ? what : `${what}[${index}]`;
  if (!isInfo)
    throw new TypeError(`${op}: ${name} must be { shape, dtype } (a TensorInfo), got ${describeValue(info)}`);
  assertDType(dtype, `${op}: ${name}.dtype`);
  throw new RangeError(`${op}: ${name}.shape ${showValue(shape)} must hold integers >= 0`);
}

function validDims(shape: readonly unknown[]): boolean {
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!(Number.isInteger(d) && (d as number) >= 0)) return false;
  }
  return true;
}

/** The arguments of {@link CpuBackend.execute}: a kernel, live tensors, the outputs' infos. */
export function checkExecuteArguments(kernel: unknown, inputs: unknown, outputs: unknown): void {
  const op = 'CpuBackend.execute';
  const k = kernel as Partial<Kernel> | null;
  if (typeof k !== 'object' || k === null || typeof k.name !== 'string' || typeof k.cpu !== 'function')
    throw new TypeError(`${op}: kernel must be a Kernel { name, cpu, ... }, got ${describeValue(kernel)}`);
  if (!Array.isArray(inputs))
    throw new TypeError(`${op}: inputs must be an array of tensors, got ${describeValue(inputs)}`);
  for (let i = 0; i < inputs.length; i++) {
    const t: unknown = inputs[i];
    // The condition first: the argument's name is built only for the error.
    if (!(t instanceof Tensor) || t.isDisposed) checkTensor(t, op, `inputs[${i}]`);
  }
  if (!Array.isArray(outputs))
    throw new TypeError(`${op}: outputs must be an array of { shape, dtype }, got ${describeValue(outputs)}`);
  for (let i = 0; i < outputs.length; i++) checkTensorInfo(outputs[i], op, 'outputs', i);
}
