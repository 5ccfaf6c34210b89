// Checks of the arguments the exported functions take. A wrong value (the undefined of a misspelled
// Map lookup, a string, a tensor where a config belongs) fails here with a message that names the
// function and the argument, not deep inside with JavaScript's own words or a tensor op's name.
// Each check is a few typeof/instanceof tests, once per call.
import { Tensor } from '@vl/tensor';

/** A value for an error message: strings quoted, objects by their kind. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  if (v instanceof Tensor) return `a tensor ${v.describe()}`;
  if (Array.isArray(v)) return 'an array';
  const kind = v.constructor?.name ?? 'object';
  return kind === 'Object' ? 'an object' : `${/^[AEIOU]/.test(kind) ? 'an' : 'a'} ${kind}`;
}

/** An object that is neither an array nor a tensor (a config, an options bag). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Tensor);
}

/** `fn: name must be what, got ...` as a TypeError. */
export function argumentError(fn: string, name: string, what: string, v: unknown): TypeError {
  const hint = v instanceof Promise ? ' (await it first)' : '';
  return new TypeError(`${fn}: ${name} must be ${what}, got ${describe(v)}${hint}`);
}

/** `v` must be an object (not an array or a tensor); `optional` lets undefined through. */
export function checkObject(
  fn: string,
  name: string,
  v: unknown,
  what = 'an object',
  optional = false,
): void {
  if (optional && v === undefined) return;
  if (!isPlainObject(v)) throw argumentError(fn, name, what, v);
}

/** Model parameters (or any tensors by name) must be a Map. */
export function checkTensorMap(fn: string, name: string, v: unknown): void {
  if (!(v instanceof Map)) throw argumentError(fn, name, 'a Map of tensors by name', v);
}

/** `v` must be a tensor; `optional` lets undefined through. */
export function checkTensor(fn: string, name: string, v: unknown, optional = false): void {
  if (optional && v === undefined) return;
  if (!(v instanceof Tensor)) throw argumentError(fn, name, `a Tensor${optional ? ' or undefined' : ''}`, v);
}

/** `v` must be a string; `optional` lets undefined through. */
export function checkString(fn: string, name: string, v: unknown, optional = false): void {
  if (optional && v === undefined) return;
  if (typeof v !== 'string') throw argumentError(fn, name, 'a string', v);
}

/** `v` must be an integer >= `min` (a TypeError for a non-number, a RangeError for a wrong number). */
export function checkInteger(fn: string, name: string, v: unknown, min: number, optional = false): void {
  if (optional && v === undefined) return;
  if (typeof v !== 'number') throw argumentError(fn, name, `an integer >= ${min}`, v);
  if (!Number.isInteger(v) || v < min)
    throw new RangeError(`${fn}: ${name} must be an integer >= ${min}, got ${v}`);
}

/** A LlavaConfig: an object with `vision_config` and `text_config` objects, the parts every reader opens. */
export function checkLlavaConfig(fn: string, config: unknown, name = 'config'): void {
  checkObject(fn, name, config, 'a LlavaConfig object (parseLlavaConfig)');
  const { vision_config, text_config } = config as Record<string, unknown>;
  checkObject(fn, `${name}.vision_config`, vision_config);
  checkObject(fn, `${name}.text_config`, text_config);
}

/** Token rows (`TokenRows`): an array of arrays or typed arrays of ids; the ids are the caller's to check. */
export function checkTokenRows(fn: string, name: string, rows: unknown): void {
  if (!Array.isArray(rows)) throw argumentError(fn, name, 'an array of token id rows', rows);
  rows.forEach((row: unknown, b) => {
    if (!Array.isArray(row) && !ArrayBuffer.isView(row))
      throw argumentError(fn, `${name}[${b}]`, 'an array or Int32Array of token ids', row);
  });
}

/** `v` must be a boolean; `optional` lets undefined through (a string such as 'no' would read as true). */
export function checkBoolean(fn: string, name: string, v: unknown, optional = false): void {
  if (optional && v === undefined) return;
  if (typeof v !== 'boolean') throw argumentError(fn, name, 'a boolean', v);
}

/** `v` must be a function; `optional` lets undefined through. */
export function checkFunction(fn: string, name: string, v: unknown, optional = false): void {
  if (optional && v === undefined) return;
  if (typeof v !== 'function') throw argumentError(fn, name, 'a function', v);
}
