// Timing and reporting shared by the benchmarks.

/** One measured case, as written to `results/*.json`. */
export interface BenchCase {
  name: string;
  impl: string;
  medianMs: number;
  /** Achieved GFLOP/s, or null where the work is unknown. */
  gflops: number | null;
  /** Work per run in GFLOP. */
  gflop?: number;
  runsMs?: number[];
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Runs `fn` untimed for at least `warmup` runs and `warmupMs`, and then until the last three runs
 * agree within 15% (at most 30 s): V8 runs WebAssembly in its baseline tier first and optimizes hot
 * functions in the background, which took onnxruntime-web's ~10 MB module up to 8 runs of the text
 * tower on this 2-core machine. Returns the number of runs.
 */
export async function warmUp(
  fn: () => Promise<unknown>,
  { warmup, warmupMs = 0 }: { warmup: number; warmupMs?: number },
): Promise<number> {
  const start = performance.now();
  const recent: number[] = [];
  while (warmup > 0) {
    const t0 = performance.now();
    await fn();
    recent.push(performance.now() - t0);
    const elapsed = performance.now() - start;
    if (recent.length < warmup || elapsed < warmupMs) continue;
    const last = recent.slice(-3);
    if (last.length === 3 && Math.max(...last) <= 1.15 * Math.min(...last)) break;
    if (elapsed > 30_000) break;
  }
  return recent.length;
}

/** Warms `fn` up (see {@link warmUp}), then runs it `runs` times timed. */
export async function timeRuns(
  fn: () => Promise<unknown>,
  options: { runs: number; warmup: number; warmupMs?: number },
): Promise<number[]> {
  await warmUp(fn, options);
  return (await interleaved([fn], options.runs))[0]!;
}

/** `runs` rounds, each running every function once in turn; the times of each function. */
export async function interleaved(
  fns: readonly (() => Promise<unknown>)[],
  runs: number,
): Promise<number[][]> {
  const times = fns.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) {
    for (const [j, fn] of fns.entries()) {
      const t0 = performance.now();
      await fn();
      times[j]!.push(performance.now() - t0);
    }
  }
  return times;
}

/**
 * Prints one table per case name, each implementation's median and its ratio to ours (`x ours`
 * above 1 means slower than ours).
 */
export function printTable(cases: readonly BenchCase[], isOurs: (c: BenchCase) => boolean): void {
  const rows: string[][] = [['case', 'implementation', 'median ms', 'GFLOP/s', 'x ours']];
  for (const name of new Set(cases.map((c) => c.name))) {
    const group = cases.filter((c) => c.name === name);
    const ours = group.find(isOurs);
    for (const c of group) {
      rows.push([
        name,
        c.impl,
        c.medianMs.toFixed(1),
        c.gflops === null ? '-' : c.gflops.toFixed(1),
        ours ? (c.medianMs / ours.medianMs).toFixed(2) : '-',
      ]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    `| ${r.map((v, i) => (i >= 2 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' | ')} |`;
  console.log();
  console.log(line(rows[0]!));
  console.log(
    `|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`,
  );
  for (const r of rows.slice(1)) console.log(line(r));
  console.log();
}
