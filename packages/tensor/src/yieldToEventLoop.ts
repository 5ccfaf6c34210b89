// A long loop of awaits can run for minutes without giving the event loop a turn: the CPU
// backend's reads resolve as microtasks, so timers, I/O and signal handlers (Ctrl-C in Node, input
// and painting in a page) wait until the loop ends. Training loops call this once a step.

interface Scheduler {
  yield?: () => Promise<void>;
}

/**
 * Resolves after the event loop has had a turn: `setImmediate` in Node, `scheduler.yield()` where
 * browsers have it, else a message through a MessageChannel (not `setTimeout`, which browsers clamp
 * to 4 ms once nested).
 *
 * @example
 * ```ts
 * for (let step = 0; step < steps; step++) {
 *   await yieldToEventLoop(); // a Ctrl-C or a click is handled between steps
 *   signal?.throwIfAborted();
 *   await trainer.step(batch(step));
 * }
 * ```
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown; scheduler?: Scheduler };
  if (typeof g.setImmediate === 'function') return new Promise((resolve) => g.setImmediate!(resolve));
  if (typeof g.scheduler?.yield === 'function') return g.scheduler.yield();
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(undefined);
  });
}
