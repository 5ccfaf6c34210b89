import { abortError } from './abortError.js';

/**
 * The downloads into a cache in flight in this process, by URL: each settles when its file has been
 * committed to the cache or dropped. A second load of a URL being downloaded (React's strict mode
 * runs an effect twice; two models share a file) waits for the first rather than downloading the
 * same bytes beside it, then finds the copy in the cache.
 */
const inFlight = new Map<string, Promise<void>>();

/** A download's turn at a URL: `end()` (idempotent) lets the next load of the URL look again. */
export interface DownloadTurn {
  end(): void;
}

/**
 * Waits until no download of `href` is in flight, then takes the turn for it. Waiting stops with an
 * AbortError (`message`) when `signal` aborts; the turn must be ended however the caller's load goes.
 */
export async function takeDownloadTurn(
  href: string,
  signal: AbortSignal | undefined,
  message: string,
): Promise<DownloadTurn> {
  for (let earlier = inFlight.get(href); earlier; earlier = inFlight.get(href)) {
    await untilSettled(earlier, signal, message);
  }
  let settle = (): void => {};
  const turn = new Promise<void>((resolve) => {
    settle = resolve;
  });
  inFlight.set(href, turn);
  return {
    end() {
      if (inFlight.get(href) === turn) inFlight.delete(href);
      settle();
    },
  };
}

async function untilSettled(
  earlier: Promise<void>,
  signal: AbortSignal | undefined,
  message: string,
): Promise<void> {
  if (!signal) return earlier;
  if (signal.aborted) throw abortError(message, signal);
  let onAbort = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(message, signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([earlier, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
