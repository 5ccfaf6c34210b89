// "The file is not there" as one recognizable condition, whatever read it: a local path that does
// not exist (Node's ENOENT/ENOTDIR) or a URL answered 404/410. Loaders treat that as "this optional
// file is absent" and every other failure (a malformed file, a network error, an abort) as an error.

/** Names an error for a missing file the way DOM APIs do, keeping its message (and ENOENT in it). */
export function markNotFound<E extends Error>(error: E): E {
  error.name = 'NotFoundError';
  return error;
}

/**
 * Whether `e` (or an error in its `cause` chain) says the file does not exist: a local path with
 * no file (ENOENT, ENOTDIR) or a URL answered 404 or 410.
 *
 * @example
 * ```ts
 * try { await loadFile('/models/clip/merges.txt'); } catch (e) { if (!isNotFound(e)) throw e; }
 * ```
 */
export function isNotFound(e: unknown): boolean {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 8; cur = cur.cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (cur.name === 'NotFoundError' || code === 'ENOENT' || code === 'ENOTDIR') return true;
  }
  return false;
}
