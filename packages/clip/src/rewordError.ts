// Errors said again in the caller's words: the same kind (RangeError, TypeError or Error), a new
// message, the original as the cause.

/**
 * A new error of `e`'s kind (RangeError, TypeError, else Error) with `message`, caused by `e`.
 *
 * @example
 * ```ts
 * throw rewordError(e, `loadClip: ${file}: ${e.message}`);
 * ```
 */
export function rewordError(e: Error, message: string): Error {
  const Kind = e instanceof RangeError ? RangeError : e instanceof TypeError ? TypeError : Error;
  return new Kind(message, { cause: e });
}
