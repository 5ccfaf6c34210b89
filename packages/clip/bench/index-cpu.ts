// EmbeddingIndex.search at 100,000 CLIP-sized vectors (512 floats) on the CPU, beside what a
// TensorFlow.js user writes for the same search on tfjs-backend-wasm: the normalized vectors kept as
// one tf tensor, then per query `topk(matMul(q, db, false, true), k)` and a read of the result.
// Both run in this process, interleaved round by round so that a busy neighbour slows both alike.
//
//   cd packages/clip && pnpm bench:index [--quick]
//
//   --quick   10,000 vectors; results file left as it was
//
// Prints median ms per query and the ratio tfjs ms / ours (above 1: ours is faster), checks that
// both return the same top-k, and writes bench/results/index-cpu.json.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { EmbeddingIndex } from '../src/index.js';
import { type BenchCase, interleaved, median, printTable, warmUp } from './timing.js';

const quick = process.argv.includes('--quick');
const n = quick ? 10_000 : 100_000;
const dim = 512;
const k = 10;
const runs = 15;

// mulberry32: distinct vectors, so the top-k has no ties for the two to break differently.
let seed = 7;
const rand = (): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
};

const index = new EmbeddingIndex<number>(dim, n);
const chunk = 10_000;
for (let b = 0; b < n; b += chunk)
  index.add(Array.from({ length: chunk }, () => Float32Array.from({ length: dim }, rand)));
const queries = Array.from({ length: 8 }, () => Float32Array.from({ length: dim }, rand));

const require = createRequire(import.meta.url);
setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
await tf.setBackend('wasm');
await tf.ready();
// The index's rows, already unit length, as the one tensor a tfjs app would keep: [n, dim].
const rows = new Float32Array(n * dim);
for (let i = 0; i < n; i++) rows.set(index.entry(i).vector, i * dim);
const db = tf.tensor2d(rows, [n, dim]);

let q = 0;
const ours = async () => index.search(queries[q++ % queries.length]!, k);
let tq = 0;
const peer = async () => {
  const query = queries[tq++ % queries.length]!;
  const norm = Math.hypot(...query);
  const { values, indices } = tf.tidy(() => {
    const unit = tf.tensor2d(
      query.map((x) => x / norm),
      [1, dim],
    );
    const scores = tf.matMul(unit, db, false, true); // [1, n] cosines
    return tf.topk(scores, k);
  });
  const result = { scores: await values.data(), indices: await indices.data() };
  values.dispose();
  indices.dispose();
  return result;
};

// Same answers first: the bench compares two implementations of one search.
for (const query of queries) {
  q = queries.indexOf(query);
  tq = q;
  const mine = (await ours()).map((h) => h.index);
  const theirs = Array.from((await peer()).indices);
  if (mine.join() !== theirs.join()) throw new Error(`the top ${k} differ: ours ${mine} tfjs ${theirs}`);
}

await warmUp(ours, { warmup: 5 });
await warmUp(peer, { warmup: 5 });
const [oursMs, peerMs] = await interleaved([ours, peer], runs);
const gflop = (2 * n * dim) / 1e9;
const name = `search top-${k} of ${n.toLocaleString('en')} x ${dim}`;
const cases: BenchCase[] = [
  {
    name,
    impl: 'vl EmbeddingIndex (JS, float64 scores)',
    medianMs: median(oursMs!),
    gflops: null,
    runsMs: oursMs!,
  },
  { name, impl: 'tfjs-backend-wasm matMul + topk', medianMs: median(peerMs!), gflops: null, runsMs: peerMs! },
];
for (const c of cases) {
  c.gflop = gflop;
  c.gflops = gflop / (c.medianMs / 1000);
}
printTable(cases, (c) => c.impl.startsWith('vl'));
console.log(
  `ratio tfjs / ours: ${(cases[1]!.medianMs / cases[0]!.medianMs).toFixed(2)} (above 1: ours is faster)`,
);
db.dispose();

if (!quick) {
  const machine = `${cpus().length}x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`;
  const out = new URL('./results/index-cpu.json', import.meta.url);
  const results = { machine, date: new Date().toISOString(), loadAverage1m: loadavg()[0], cases };
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${out.pathname}`);
}
