// How an error message shows a value that is not what an argument needs.
import { Tensor } from '@vl/tensor';

/** Strings quoted, tensors described, other objects by their class (plain ones by their keys). */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  if (v instanceof Tensor) return v.describe();
  if (Array.isArray(v)) return 'an array';
  const name = (v as { constructor?: { name?: string } }).constructor?.name;
  if (name && name !== 'Object') return `a ${name}`;
  return `an object { ${Object.keys(v).join(', ')} }`;
}
