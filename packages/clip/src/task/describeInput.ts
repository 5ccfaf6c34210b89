// How error messages of the task and training APIs describe a value a caller passed.
import { Tensor } from '@vl/tensor';

/**
 * What an error message calls a value the caller passed: its type, and its length for
 * arrays and strings (never its contents, which may be a whole image or embedding).
 */
export function describeInput(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `a string of length ${value.length}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return `the ${typeof value} ${String(value)}`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (value instanceof Tensor) return `a${value.isDisposed ? ' disposed' : ''} Tensor ${value.describe()}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const name = (value as object).constructor?.name;
  const a = /^[AEIOU]/.test(name ?? '') ? 'an' : 'a';
  if (ArrayBuffer.isView(value) && 'length' in value) return `${a} ${name} of length ${value.length}`;
  return name && name !== 'Object' ? `${a} ${name}` : 'an object';
}
