// Each implementation in a process of its own, timed round-robin from a parent process: the same
// run and the same machine, without one runtime's heap and threads weighing on another's timing.
//
// Why: in one process, with two or more peer sessions loaded, V8's old generation sits near its
// limit with a grown young generation, so it restarts incremental marking right after every full GC
// and a full GC lands on about every forward of ours (a forward allocates JS objects between its
// kernels; a peer's forward is one call into WebAssembly or native code). Ours then took 89-113 ms
// for the text tower against 68-75 ms alone. An app holds one of these runtimes, not four.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { warmUp } from './timing.js';

/** What a child reports once warmed up. */
interface Ready {
  type: 'ready';
  name: string;
  impl: string;
  gflop: number;
  warmupRuns: number;
}
type FromChild =
  | Ready
  | { type: 'skip' } // the implementation has no runner for this case (ours-separate: the prompts)
  | { type: 'ran'; ms: number }
  | { type: 'error'; message: string };

/** Idle time before each timed run, so that no process's leftover work (a worker's spin) lands in the next one's. */
const SETTLE_MS = 20;
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/** One timed implementation of one case, as the parent collects it. */
export interface IsolatedTimes {
  name: string;
  impl: string;
  gflop: number;
  warmupRuns: number;
  runsMs: number[];
}

/** Child side: tells the parent that this implementation does not run this case. */
export function skipCase(): void {
  process.send!({ type: 'skip' } satisfies FromChild);
}

/**
 * Child side: warms `run` up, tells the parent, then times one run per request until told to stop.
 */
export async function serveRuns(
  run: () => Promise<unknown>,
  info: { name: string; impl: string; gflop: number },
  options: { warmup: number; warmupMs: number },
): Promise<void> {
  const send = (m: FromChild) => process.send!(m);
  const warmupRuns = await warmUp(run, options);
  send({ type: 'ready', ...info, warmupRuns });
  await new Promise<void>((resolve) => {
    process.on('message', async (m: { type: string }) => {
      if (m.type === 'stop') return resolve();
      try {
        const t0 = performance.now();
        await run();
        send({ type: 'ran', ms: performance.now() - t0 });
      } catch (e) {
        send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      }
    });
  });
}

/** A child process running this script for one tower and one implementation. */
class Child {
  readonly #proc: ChildProcess;
  #waiting: ((m: FromChild) => void) | undefined;
  #exited: string | undefined;

  constructor(script: string, args: string[]) {
    this.#proc = fork(script, args, {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#proc.on('message', (m: FromChild) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.(m);
    });
    this.#proc.on('error', () => undefined); // a send racing the child's exit; 'exit' reports it
    this.#proc.on('exit', (code, signal) => {
      this.#exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.({ type: 'error', message: this.#exited });
    });
  }

  /** The child's next message (sending `request` first, when given). */
  next(request?: { type: string }): Promise<FromChild> {
    if (this.#exited) return Promise.resolve({ type: 'error', message: this.#exited });
    const reply = new Promise<FromChild>((resolve) => {
      this.#waiting = resolve;
    });
    if (request) this.#proc.send(request);
    return reply;
  }

  stop(): void {
    // A child that skipped its case exits by itself: the channel may already be closed.
    if (!this.#exited && this.#proc.connected) this.#proc.send({ type: 'stop' }, () => undefined);
  }
}

function expect<T extends FromChild['type']>(
  m: FromChild,
  type: T,
  what: string,
): Extract<FromChild, { type: T }> {
  if (m.type === type) return m as Extract<FromChild, { type: T }>;
  throw new Error(`${what}: ${m.type === 'error' ? m.message : `unexpected ${m.type}`}`);
}

/**
 * Parent side: for one tower, starts a child per implementation (`childArgs(impl)` are its
 * arguments) and waits until it is warmed up, then runs them all round-robin `runs` times with
 * {@link SETTLE_MS} of idle time before each run.
 */
export async function timeIsolated(
  impls: readonly string[],
  childArgs: (impl: string) => string[],
  runs: number,
): Promise<IsolatedTimes[]> {
  const script = fileURLToPath(new URL('./clip-cpu.ts', import.meta.url));
  const children: { impl: string; child: Child }[] = [];
  try {
    // Started one at a time, so that each warms up while the others are idle.
    const ready: Ready[] = [];
    for (const impl of impls) {
      const child = new Child(script, childArgs(impl));
      const first = await child.next();
      if (first.type === 'skip') {
        child.stop();
        continue;
      }
      children.push({ impl, child });
      const m = expect(first, 'ready', `${impl} did not start`);
      console.log(`  ${m.impl}: warmed up in ${m.warmupRuns} runs (own process)`);
      ready.push(m);
    }
    const times = children.map(() => [] as number[]);
    for (let i = 0; i < runs; i++) {
      for (const [j, { impl, child }] of children.entries()) {
        await settle();
        times[j]!.push(expect(await child.next({ type: 'run' }), 'ran', `${impl} failed`).ms);
      }
    }
    return ready.map((r, j) => ({ ...r, runsMs: times[j]! }));
  } finally {
    for (const { child } of children) child.stop();
  }
}
