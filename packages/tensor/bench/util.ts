// Shared pieces of the benchmark suites: the machine line, timing, and the results file format
// `{ machine, cases: [{ name, impl, medianMs, gflops }] }`.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchCase {
  name: string;
  impl: string;
  medianMs: number;
  gflops: number | null;
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'cpu'} x${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}, load ${os.loadavg()[0]!.toFixed(1)}`;
}

/** Median wall time of `runs` calls after `warmup` calls; `fn` must finish its work (read back) itself. */
export async function medianMs(fn: () => Promise<void> | void, runs = 7, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/**
 * Prints a table with ratios against `peer` per case name and writes bench/results/<suite>.json,
 * or the file after `--out` on the command line (a local run then leaves the committed results,
 * some of them a GPU machine's, alone).
 */
export function report(suite: string, cases: BenchCase[], peer: string): void {
  const rows = cases.map((c) => {
    const base = cases.find((p) => p.name === c.name && p.impl.startsWith(peer));
    const ratio = base ? (base.medianMs / c.medianMs).toFixed(2) : '';
    return `${c.name.padEnd(34)} ${c.impl.padEnd(26)} ${c.medianMs.toFixed(2).padStart(10)} ms ${
      c.gflops === null ? '' : `${c.gflops.toFixed(1).padStart(8)} GFLOP/s`
    } ${ratio ? `x${ratio} vs ${peer}` : ''}`;
  });
  console.log(`\n${suite}: ${machine()}\n${rows.join('\n')}`);
  const at = process.argv.indexOf('--out');
  const out =
    at >= 0 && process.argv[at + 1]
      ? path.resolve(process.argv[at + 1]!)
      : path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', `${suite}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ machine: machine(), cases }, null, 2)}\n`);
  console.log(`wrote ${out}`);
}
