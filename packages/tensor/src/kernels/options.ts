// Checks shared by the ops that take an options object: a misspelt key (`casual: true`) or a flag
// that is not a boolean (`causal: 'false'`, truthy) would otherwise run a different computation
// without a word.
import { describeValue } from '../describeValue.js';

/**
 * Throws a TypeError unless `options` is an object whose keys are all in `known`; `op` names the
 * op in the message.
 *
 * @example
 * ```ts
 * checkOptionKeys('attention', { casual: true }, ['causal', 'mask']); // throws: unknown option "casual"
 * ```
 */
export function checkOptionKeys(op: string, options: unknown, known: readonly string[]): void {
  // The op's own arguments first: `op` starts every other message.
  if (typeof op !== 'string' || op === '')
    throw new TypeError(`checkOptionKeys: op must name the op (a string), got ${describeValue(op)}`);
  if (!Array.isArray(known) || !known.every((key) => typeof key === 'string')) {
    throw new TypeError(
      `checkOptionKeys: known must be an array of the option names, got ${describeValue(known)}`,
    );
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${op}: options must be an object, got ${describeValue(options)}`);
  }
  rejectUnknownKeys(op, options, known);
}

/**
 * Throws a TypeError naming the first key of `options` not in `known`; anything but an object is
 * left to the op's own checks (which name what it needs).
 *
 * @example
 * ```ts
 * rejectUnknownKeys('conv2d', { strides: 2 }, ['stride', 'padding']); // throws: unknown option "strides"
 * ```
 */
export function rejectUnknownKeys(op: string, options: unknown, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null) return;
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`${op}: unknown option ${JSON.stringify(key)} (expected ${known.join(', ')})`);
    }
  }
}

/** `options[key]` as a boolean flag (default false); anything but a boolean or undefined throws. */
export function flagOption(op: string, options: object, key: string): boolean {
  const value: unknown = (options as Record<string, unknown>)[key];
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new TypeError(`${op}: options.${key} must be true or false, got ${describeValue(value)}`);
  }
  return value;
}
