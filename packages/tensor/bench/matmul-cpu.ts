// f32 matmul on the CPU: vl's WebAssembly SIMD kernel (1 and 2 threads; B as a weight, packed once,
// and on 2 threads also B fresh each call, packed every time) against
// @tensorflow/tfjs-backend-wasm and tfjs-backend-cpu in the same process, 256^3 to 1024^3.
//
//   cd packages/tensor && node --conditions=source --import tsx bench/matmul-cpu.ts [options]
//
//   --quick        256^3 and 512^3 only, fewer runs
//   --sizes=N,...  these sizes instead
//   --relaxed      also vl with relaxed SIMD on 2 threads (what Node >= 22 and Chrome >= 114 run by
//                  default; Node 20 needs a V8 flag, which this sets)
//   ONLY=<text>    keep the implementations whose name contains <text> (and tfjs-backend-wasm)
//
// Prints a table (median and best ms over interleaved runs after warm-up, GFLOP/s at the median,
// ratio of medians to tfjs-wasm) and writes bench/results/matmul-cpu.json. Runs are interleaved
// round-robin across implementations so that a noisy neighbour on a shared machine slows all of
// them alike; the load average before and after is recorded so that a busy run can be told apart.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { HostTensor } from '../src/kernel.js';
import {
  type CpuAcceleration,
  createCpuAcceleration,
} from '../src/backends/cpu/wasm/createCpuAcceleration.js';

const quick = process.argv.includes('--quick');
const sizesArg = process.argv.find((a) => a.startsWith('--sizes='));
const SIZES = sizesArg ? sizesArg.slice(8).split(',').map(Number) : quick ? [256, 512] : [256, 512, 1024];

interface Impl {
  name: string;
  /** Prepares inputs for size n; returns a function that runs one matmul (result read back). */
  setup(n: number, a: Float32Array, b: Float32Array): Promise<() => void>;
  teardown?(): void;
}

/**
 * vl's kernel. As a weight (`weight`), B is the same array every call: from its second call it
 * stays in the WebAssembly memory packed, as a model's weights do. Otherwise B arrives as a new
 * view each call, as an activation does: copied in and packed every time.
 */
function vlImpl(acceleration: CpuAcceleration, weight: boolean): Impl {
  return {
    name: `vl wasm (${acceleration.description}${weight ? '' : ', B fresh each call'})`,
    async setup(n, a, b) {
      const matmul = acceleration.accelerated.get('matmul')!;
      const bInput = (): HostTensor => ({ data: weight ? b : b.subarray(0), shape: [n, n], dtype: 'f32' });
      const attrs = { transposeA: false, transposeB: false, activation: 'none' };
      const outputs = [{ shape: [n, n], dtype: 'f32' as const }];
      return () => {
        const inputs: HostTensor[] = [{ data: a, shape: [n, n], dtype: 'f32' }, bInput()];
        if (!matmul(inputs, attrs, outputs)) throw new Error(`${acceleration.description}: fell back`);
      };
    },
  };
}

function tfjsImpl(backend: 'wasm' | 'cpu'): Impl {
  let held: tf.Tensor[] = [];
  return {
    name: `tfjs-backend-${backend}`,
    async setup(n, a, b) {
      await tf.setBackend(backend);
      const ta = tf.tensor2d(a, [n, n]);
      const tb = tf.tensor2d(b, [n, n]);
      held = [ta, tb];
      return () => {
        const c = tf.matMul(ta, tb);
        c.dataSync();
        c.dispose();
      };
    },
    teardown() {
      for (const t of held) t.dispose();
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const require = createRequire(import.meta.url);
  setWasmPaths(
    `${path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`,
  );
  await tf.setBackend('wasm');
  const tfWasmSimd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const tfWasmThreads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');

  const accelerations = [
    await createCpuAcceleration({ threads: 1, relaxedSimd: false }),
    await createCpuAcceleration({ threads: 2, relaxedSimd: false }),
  ];
  if (process.argv.includes('--relaxed')) {
    (await import('node:v8')).setFlagsFromString('--experimental-wasm-relaxed-simd');
    accelerations.push(await createCpuAcceleration({ threads: 2, relaxedSimd: true }));
  }
  const impls = [
    ...accelerations.map((acc) => vlImpl(acc, true)),
    vlImpl(accelerations[1]!, false),
    tfjsImpl('wasm'),
    tfjsImpl('cpu'),
  ].filter((i) => !process.env.ONLY || i.name.includes(process.env.ONLY) || i.name === 'tfjs-backend-wasm');
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores`;
  console.log(
    `${machine}; node ${process.version}; tfjs-backend-wasm simd=${tfWasmSimd} threads=${tfWasmThreads}\n`,
  );

  const loadBefore = os.loadavg()[0]!;
  const cases: {
    name: string;
    impl: string;
    medianMs: number;
    minMs: number;
    gflops: number;
    ratioToTfjsWasm: number;
  }[] = [];
  const rows: string[][] = [];
  for (const n of SIZES) {
    const a = Float32Array.from({ length: n * n }, () => Math.random() * 2 - 1);
    const b = Float32Array.from({ length: n * n }, () => Math.random() * 2 - 1);
    const flops = 2 * n ** 3;
    // Enough warm-up for V8 to tier the wasm up to TurboFan. tfjs-cpu is ~100x slower, so it runs
    // less: one warm-up below 1024 (its JS is warm by then) and 4 runs, or 1 at 1024 (5 s each).
    const warmups = n <= 256 ? 20 : n <= 512 ? 6 : 3;
    const runs = quick ? 5 : n <= 512 ? 15 : 7;
    const times = new Map<Impl, number[]>();
    const runners = new Map<Impl, () => void>();
    for (const impl of impls) {
      const run = await impl.setup(n, a, b);
      const slow = impl.name === 'tfjs-backend-cpu';
      for (let i = 0; i < (slow ? (n >= 1024 ? 0 : 1) : warmups); i++) run();
      runners.set(impl, run);
      times.set(impl, []);
    }
    for (let r = 0; r < runs; r++) {
      for (const impl of impls) {
        const slow = impl.name === 'tfjs-backend-cpu';
        if (slow && r >= Math.min(runs, n >= 1024 ? 1 : 4)) continue;
        if (impl.name.startsWith('tfjs')) await tf.setBackend(impl.name.replace('tfjs-backend-', ''));
        const t0 = performance.now();
        runners.get(impl)!();
        times.get(impl)!.push(performance.now() - t0);
      }
    }
    for (const impl of impls) impl.teardown?.();
    const tfWasmMs = median(times.get(impls.find((i) => i.name === 'tfjs-backend-wasm')!)!);
    for (const impl of impls) {
      const ms = median(times.get(impl)!);
      const best = Math.min(...times.get(impl)!);
      const gflops = flops / ms / 1e6;
      const name = `matmul ${n}x${n}x${n}`;
      cases.push({
        name,
        impl: impl.name,
        medianMs: +ms.toFixed(3),
        minMs: +best.toFixed(3),
        gflops: +gflops.toFixed(2),
        ratioToTfjsWasm: +(tfWasmMs / ms).toFixed(2),
      });
      rows.push([
        name,
        impl.name,
        ms.toFixed(2),
        best.toFixed(2),
        gflops.toFixed(1),
        `${(tfWasmMs / ms).toFixed(2)}x`,
      ]);
    }
  }
  for (const a of accelerations) a.dispose();

  const loadAfter = os.loadavg()[0]!;
  const header = ['case', 'impl', 'median ms', 'best ms', 'GFLOP/s', 'vs tfjs-wasm'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  console.log(`\nload average (1 min) before ${loadBefore.toFixed(2)}, after ${loadAfter.toFixed(2)}`);

  // Only a full run replaces the recorded results.
  if (quick || sizesArg || process.env.ONLY) {
    console.log('\npartial run (--quick, --sizes or ONLY): bench/results/matmul-cpu.json left as it was');
    return;
  }
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'matmul-cpu.json');
  const record = { machine, node: process.version, loadAverage: [loadBefore, loadAfter], cases };
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

await main();
