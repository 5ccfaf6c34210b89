import { CliError } from './io.js';

/** Parses a positive integer option, naming the option when the value is not one. */
export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  // Decimal digits only: Number() also takes 0x3, 1e2 and " 2", which no one means as a count.
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new CliError(`--${name} must be a positive integer; got "${value}"`, 2);
  return n;
}

/** Parses a positive number option. */
export function positiveNumber(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  // A decimal number, exponent allowed (1e-3); not hex, Infinity or blanks, which Number() takes.
  const n = /^\+?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value) ? Number(value) : Number.NaN;
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
