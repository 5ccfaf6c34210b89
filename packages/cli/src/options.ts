import { CliError } from './io.js';

/**
 * `value` as a whole number written in decimal digits, or NaN: Number() also takes 0x3, 1e2 and
 * " 2", which no one means as a count.
 */
function digits(value: string): number {
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}

/** Parses a positive integer option, naming the option when the value is not one. */
export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = digits(value);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new CliError(`--${name} must be a positive integer; got "${value}"`, 2);
  return n;
}

/** A decimal number as the command line takes one: digits, a point, an exponent (1e-3); no hex, Infinity or blanks. */
export const DECIMAL = /^\+?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** `value` as a decimal number, or NaN (see {@link DECIMAL}). */
export function decimal(value: string): number {
  return DECIMAL.test(value) ? Number(value) : Number.NaN;
}

/** Parses a non-negative integer option (a seed, a step count): decimal digits only. */
export function nonNegativeInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = digits(value);
  if (!Number.isSafeInteger(n))
    throw new CliError(`--${name} must be a non-negative integer; got "${value}"`, 2);
  return n;
}

/** Parses a positive number option. */
export function positiveNumber(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = decimal(value); // not Number(): it takes hex, Infinity and blanks
  if (!Number.isFinite(n) || n <= 0)
    throw new CliError(`--${name} must be a positive number; got "${value}"`, 2);
  return n;
}

/** Splits a comma-separated list, trimming blanks. */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
