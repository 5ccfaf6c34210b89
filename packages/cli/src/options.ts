import { CliError } from './io.js';

/** Parses a positive integer option, naming the option when the value is not one. */
export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new CliError(`--${name} must be a positive integer; got "${value}"`, 2);
  return n;
}

/** Parses a positive number option. */
export function positiveNumber(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
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
