// The matmul worker, as source text: Node runs it with `new Worker(source, { eval: true })` and
// browsers from a Blob URL, so it needs no file of its own (and works the same from src/ under
// vitest or tsx and from dist/ after tsc).
//
// Protocol, over Int32 words of the worker's control slot in the shared memory:
//   [0] seq: the job's sequence number s > 0, written by the main thread (-1: quit)
//   [1] desc: the descriptor pointer of job s
//   [2] done: the last job this worker finished
//   [3] status: 0 ok, 1 the job threw (the main thread throws in turn)
//   [4] claim: s while job s is offered, -s once this worker took it, 0 once the main thread
//       withdrew it. Both sides change it only by compare-exchange, so exactly one wins: a worker
//       that wakes up late (the OS did not schedule it, or it was asleep) finds the job withdrawn
//       and the main thread, which meanwhile took every task itself, need not wait for it.
// The worker spins on seq for a while before sleeping in Atomics.wait: a sleeping thread takes tens
// of microseconds to wake, which is a large share of a small matmul.

/** Control slot word indexes (see above). */
export const CONTROL = { seq: 0, desc: 1, done: 2, status: 3, claim: 4 } as const;

/** The first message a worker receives. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  tid: number;
  control: number;
  stackTop: number;
  spinMs: number;
}

/** The worker's code (plain JS, no static imports). */
export const MATMUL_WORKER_SOURCE = `
'use strict';
function start(port, init) {
  const { module, memory, tid, control, stackTop, spinMs } = init;
  let run;
  try {
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    exports.__stack_pointer.value = stackTop;
    run = exports.run;
  } catch (e) {
    port.postMessage({ error: String(e && e.stack || e) });
    return;
  }
  const i32 = new Int32Array(memory.buffer);
  const SEQ = (control >>> 2) + ${CONTROL.seq};
  const DESC = (control >>> 2) + ${CONTROL.desc};
  const DONE = (control >>> 2) + ${CONTROL.done};
  const STATUS = (control >>> 2) + ${CONTROL.status};
  const CLAIM = (control >>> 2) + ${CONTROL.claim};
  // Read before announcing readiness: the first job may be posted as soon as 'ready' arrives.
  let seen = Atomics.load(i32, SEQ);
  port.postMessage({ ready: true });
  for (;;) {
    let seq = Atomics.load(i32, SEQ);
    if (seq === seen) {
      const until = performance.now() + spinMs;
      for (let i = 1; (seq = Atomics.load(i32, SEQ)) === seen; i++) {
        if ((i & 1023) === 0 && performance.now() > until) {
          Atomics.wait(i32, SEQ, seen);
        }
      }
    }
    if (seq === -1) return;
    seen = seq;
    if (Atomics.compareExchange(i32, CLAIM, seq, -seq) !== seq) continue; // withdrawn
    let status = 0;
    try {
      run(Atomics.load(i32, DESC), tid);
    } catch (e) {
      status = 1;
      port.postMessage({ error: String(e && e.stack || e), job: true });
    }
    Atomics.store(i32, STATUS, status);
    Atomics.store(i32, DONE, seq);
    Atomics.notify(i32, DONE);
  }
}
// Node may run this as CommonJS or as an ES module (an --input-type=module parent), so no require:
// dynamic import works in both. Messages wait in the port until the listener is attached.
if (typeof process === 'object' && process.versions != null && process.versions.node != null) {
  import('node:worker_threads').then(({ parentPort }) => parentPort.once('message', (init) => start(parentPort, init)));
} else {
  self.onmessage = (event) => { self.onmessage = null; start(self, event.data); };
}
`;
