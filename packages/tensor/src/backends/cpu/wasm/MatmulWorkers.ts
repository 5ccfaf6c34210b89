// Worker threads that run their share of a matmul on the shared memory while the calling thread
// runs its own, then report back through Atomics (see workerSource.ts for the protocol).
import type { WasmArena } from './WasmArena.js';
import { CONTROL, MATMUL_WORKER_SOURCE, type WorkerInit } from './workerSource.js';

/** What the pool needs from a Node `Worker` or a browser `Worker`. */
interface WorkerHandle {
  post(message: WorkerInit): void;
  /** Resolves on the worker's first message, rejects on its error. */
  readonly firstMessage: Promise<{ ready?: true; error?: string }>;
  terminate(): void;
}

/** How long an idle worker keeps polling before it sleeps (see workerSource.ts). */
const WORKER_SPIN_MS = 1;
/** How long the calling thread polls for a worker to finish before sleeping. */
const MAIN_SPIN_MS = 0.5;

const isNode = typeof process === 'object' && typeof process.versions?.node === 'string';

/**
 * Whether this thread may block in `Atomics.wait`: Node's main thread and workers may; a browser's
 * main thread may not (the call throws), so it must not hand work to workers and wait.
 */
export function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1);
    return true;
  } catch {
    return false;
  }
}

// A job that throws in a worker is reported synchronously through the status word; its message
// can only arrive later, through the event loop, so it goes to the console.
function reportLaterErrors(message: { error?: string; job?: true }): void {
  if (message.job && message.error) console.error(`vl matmul worker: ${message.error}`);
}

async function spawnNode(): Promise<WorkerHandle> {
  // Hidden from bundlers: browser builds must not try to resolve node:worker_threads.
  const specifier = 'node:worker_threads';
  const { Worker } = (await import(/* @vite-ignore */ specifier)) as typeof import('node:worker_threads');
  // execArgv: [] so the worker does not load the parent's loaders (tsx) for its plain JS.
  const worker = new Worker(MATMUL_WORKER_SOURCE, { eval: true, name: 'vl-matmul', execArgv: [] });
  worker.on('message', reportLaterErrors);
  const firstMessage = new Promise<{ ready?: true; error?: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  }).finally(() => {
    // Once started, never keep the process alive: an idle worker sleeps in Atomics.wait forever.
    // (Not earlier: startup is awaited. Not before adding listeners: a 'message' listener refs.)
    worker.unref();
  });
  return {
    post: (message) => worker.postMessage(message),
    firstMessage,
    terminate: () => void worker.terminate(),
  };
}

function spawnBrowser(): WorkerHandle {
  const url = URL.createObjectURL(new Blob([MATMUL_WORKER_SOURCE], { type: 'text/javascript' }));
  const worker = new Worker(url, { name: 'vl-matmul' });
  URL.revokeObjectURL(url);
  worker.addEventListener('message', (e) => reportLaterErrors(e.data));
  return {
    post: (message) => worker.postMessage(message),
    firstMessage: new Promise((resolve, reject) => {
      worker.addEventListener('message', (e) => resolve(e.data), { once: true });
      worker.addEventListener('error', (e) => reject(new Error(e.message)), { once: true });
    }),
    terminate: () => worker.terminate(),
  };
}

/** A pool of `count` workers (thread ids 1..count) on one arena. */
export class MatmulWorkers {
  readonly #arena: WasmArena;
  readonly #workers: WorkerHandle[];
  readonly #seq: number[];
  #disposed = false;

  private constructor(arena: WasmArena, workers: WorkerHandle[]) {
    this.#arena = arena;
    this.#workers = workers;
    this.#seq = workers.map(() => 0);
  }

  /** Starts `count` workers and waits until each has instantiated the module. */
  static async start(count: number, module: WebAssembly.Module, arena: WasmArena): Promise<MatmulWorkers> {
    const workers: WorkerHandle[] = [];
    try {
      for (let i = 0; i < count; i++) workers.push(isNode ? await spawnNode() : spawnBrowser());
      workers.forEach((w, i) => {
        const tid = i + 1;
        w.post({
          module,
          memory: arena.memory,
          tid,
          control: arena.controlPtr(tid),
          stackTop: arena.stackTop(tid),
          spinMs: WORKER_SPIN_MS,
        });
      });
      const replies = await Promise.all(workers.map((w) => w.firstMessage));
      const failed = replies.find((r) => r.error);
      if (failed) throw new Error(`matmul worker failed to start: ${failed.error}`);
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new MatmulWorkers(arena, workers);
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Runs the job at `descPtr` on workers 1..parts-1 and `runHere` (thread 0) on this thread, and
   * returns when all are done. Throws if a worker's share threw.
   */
  run(descPtr: number, parts: number, runHere: () => void): void {
    const i32 = this.#arena.i32;
    const used = Math.min(parts - 1, this.#workers.length);
    for (let w = 0; w < used; w++) {
      const base = this.#arena.controlPtr(w + 1) >>> 2;
      // 1, 2, ..., 2^30 - 1, 1, ...: never 0 (a withdrawn claim) and never negative (a taken one)
      const seq = (this.#seq[w] = (this.#seq[w]! % 0x3fffffff) + 1);
      Atomics.store(i32, base + CONTROL.desc, descPtr);
      Atomics.store(i32, base + CONTROL.claim, seq);
      Atomics.store(i32, base + CONTROL.seq, seq);
      Atomics.notify(i32, base + CONTROL.seq);
    }
    // Always wait for the workers, even if this thread's share threw: the next job reuses the
    // memory and must not overlap this one.
    let thrown: { error: unknown } | undefined;
    try {
      runHere();
    } catch (error) {
      thrown = { error };
    }
    const failed = this.#wait(used);
    if (thrown) throw thrown.error;
    if (failed) throw new Error('matmul: a worker thread failed (its error goes to the console)');
  }

  /**
   * Withdraws the job from workers that have not taken it yet and waits for those that have; true
   * if one of them failed.
   */
  #wait(used: number): boolean {
    const i32 = this.#arena.i32;
    let failed = false;
    for (let w = 0; w < used; w++) {
      const base = this.#arena.controlPtr(w + 1) >>> 2;
      const seq = this.#seq[w]!;
      if (Atomics.compareExchange(i32, base + CONTROL.claim, seq, 0) === seq) continue;
      const done = base + CONTROL.done;
      const until = performance.now() + MAIN_SPIN_MS;
      let spins = 0;
      for (let value = Atomics.load(i32, done); value !== seq; value = Atomics.load(i32, done)) {
        if ((++spins & 255) === 0 && performance.now() > until) Atomics.wait(i32, done, value, 100);
      }
      if (Atomics.load(i32, base + CONTROL.status) !== 0) failed = true;
    }
    return failed;
  }

  /** Stops the workers (idempotent). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const i32 = this.#arena.i32;
    this.#workers.forEach((w, i) => {
      const base = this.#arena.controlPtr(i + 1) >>> 2;
      Atomics.store(i32, base + CONTROL.seq, -1);
      Atomics.notify(i32, base + CONTROL.seq);
      w.terminate();
    });
  }
}
