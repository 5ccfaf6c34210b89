/**
 * An error named `AbortError` (the name fetch uses, so `e.name === 'AbortError'` checks work) whose
 * message says what was interrupted and how far it got; the signal's reason is its cause.
 */
export function abortError(message: string, signal: AbortSignal | undefined): Error {
  const error = new Error(message, { cause: signal?.reason });
  error.name = 'AbortError';
  return error;
}

export function throwIfAborted(signal: AbortSignal | undefined, message: string): void {
  if (signal?.aborted) throw abortError(message, signal);
}
