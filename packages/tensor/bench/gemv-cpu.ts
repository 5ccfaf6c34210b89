// Decode-time matrix-vector products on the CPU: y = x @ W^T with x [1, K] and a [N, K] weight
// (one LLM decode step's projection), W in f32, q8 and q4 on vl's CPU backend (WASM SIMD, 2
// threads, through the public API: the weight is copied into WebAssembly memory per call), against
// tfjs-backend-wasm's f32 matMul in the same process.
//
//   cd packages/tensor && node --conditions=source --import tsx bench/gemv-cpu.ts [--sizes=4096x4096,...]
//
// Prints median ms over interleaved runs, GB/s of weight bytes read (values and scales), and the
// ratio of tfjs-wasm's median time to each; writes bench/results/gemv-cpu.json on a default run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createBackend, linear, quantizeArray, type Tensor, tensor } from '../src/index.node.js';

const sizesArg = process.argv.find((a) => a.startsWith('--sizes='));
const SIZES: [number, number][] = (sizesArg ? sizesArg.slice(8) : '4096x4096')
  .split(',')
  .map((s) => s.split('x').map(Number) as [number, number]);
const WARMUP = 5;
const RUNS = 25;

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Impl {
  name: string;
  /** Bytes of weight one product reads. */
  weightBytes: number;
  run(): Promise<void> | void;
  dispose(): void;
}

async function main(): Promise<void> {
  const require = createRequire(import.meta.url);
  setWasmPaths(
    `${path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`,
  );
  await tf.setBackend('wasm');
  const backend = await createBackend('cpu');
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores; ${backend.name}; node ${process.version}`;
  console.log(machine);
  const loadBefore = os.loadavg()[0]!;
  const cases: Record<string, unknown>[] = [];
  const header = ['case', 'impl', 'median ms', 'GB/s weights', 'vs tfjs-wasm f32'];
  const rows: string[][] = [];
  for (const [n, k] of SIZES) {
    const w = Float32Array.from({ length: n * k }, () => Math.random() * 2 - 1);
    const x = Float32Array.from({ length: k }, () => Math.random() * 2 - 1);
    const xt = tensor(x, [1, k], { backend });
    const vl = (dtype: 'f32' | 'q8' | 'q4'): Impl => {
      const wt =
        dtype === 'f32'
          ? tensor(w, [n, k], { backend })
          : tensor(quantizeArray(w, dtype), [n, k], { backend, dtype });
      const bytes = { f32: 4, q8: 1.125, q4: 0.625 }[dtype] * n * k;
      let last: Tensor | undefined;
      return {
        name: `vl cpu ${dtype}`,
        weightBytes: bytes,
        async run() {
          last?.dispose();
          last = linear(xt, wt);
          await last.read();
        },
        dispose() {
          last?.dispose();
          wt.dispose();
        },
      };
    };
    const tfx = tf.tensor2d(x, [1, k]);
    const tfw = tf.tensor2d(w, [n, k]);
    const peer: Impl = {
      name: 'tfjs-backend-wasm f32',
      weightBytes: 4 * n * k,
      run() {
        const y = tf.matMul(tfx, tfw, false, true);
        y.dataSync();
        y.dispose();
      },
      dispose() {
        tfx.dispose();
        tfw.dispose();
      },
    };
    const impls = [peer, vl('f32'), vl('q8'), vl('q4')];
    const times = new Map<Impl, number[]>(impls.map((i) => [i, []]));
    for (const impl of impls) for (let i = 0; i < WARMUP; i++) await impl.run();
    // Interleaved, so a noisy neighbour slows every implementation alike.
    for (let r = 0; r < RUNS; r++) {
      for (const impl of impls) {
        const t0 = performance.now();
        await impl.run();
        times.get(impl)!.push(performance.now() - t0);
      }
    }
    const peerMs = median(times.get(peer)!);
    for (const impl of impls) {
      const ms = median(times.get(impl)!);
      const gbs = impl.weightBytes / ms / 1e6;
      const name = `1x${k} @ [${n}, ${k}]^T`;
      cases.push({
        name,
        impl: impl.name,
        medianMs: +ms.toFixed(3),
        weightGBs: +gbs.toFixed(2),
        ratioToTfjsWasm: +(peerMs / ms).toFixed(2),
      });
      rows.push([name, impl.name, ms.toFixed(2), gbs.toFixed(2), `${(peerMs / ms).toFixed(2)}x`]);
      impl.dispose();
    }
    xt.dispose();
  }
  const loadAfter = os.loadavg()[0]!;
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  console.log(`\nload average (1 min) before ${loadBefore.toFixed(2)}, after ${loadAfter.toFixed(2)}`);
  backend.dispose();
  if (sizesArg) return;
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'gemv-cpu.json');
  writeFileSync(
    file,
    `${JSON.stringify({ machine, loadAverage: [loadBefore, loadAfter], cases }, null, 2)}\n`,
  );
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

await main();
