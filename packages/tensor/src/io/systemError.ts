// Node's file errors ("ENOENT: no such file or directory, open 'x'") name no API. The loaders put
// the name of what the user called in front, keeping the error itself (its `code` for isNotFound).

/** Whether `e` is one of Node's system errors (it has a `syscall`). */
export function isSystemError(e: unknown): e is Error {
  return e instanceof Error && typeof (e as { syscall?: unknown }).syscall === 'string';
}

/** `e` with its message replaced by `message` where it can be (a DOMException's cannot). */
export function withMessage<E extends Error>(e: E, message: string): E {
  try {
    Object.defineProperty(e, 'message', { value: message });
  } catch {} // a DOMException's message cannot be redefined: it keeps its own words
  return e;
}
