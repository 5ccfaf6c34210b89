// conv2d on the CPU at the DALL-E dVAE's shapes: vl's cpu backend (tiled im2col + WASM SIMD
// matmul, NCHW) against tfjs-backend-wasm (XNNPACK, NHWC, bias fused) in the same process, runs
// interleaved so that a busy neighbour slows both alike. Also the two gradient kernels (the input
// gradient against tfjs's conv2dTranspose; tfjs-backend-wasm has no filter-gradient kernel).
//
//   cd packages/tensor && nice -n 10 node --conditions=source --import tsx bench/conv-cpu.ts [--quick]
//
//   --quick   the 64x64 cases only (no 128x128, no full-size layer); results file left as it was
//   VL_CONV_TILE_FLOATS=<n>  the column block size to try (tuning; results file left as it was)
//
// Prints median ms, GFLOP/s and the ratio tfjs ms / vl ms (above 1: vl is faster), and writes
// bench/results/conv-cpu.json.
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { type Backend, conv2d, createBackend, runKernel, type Tensor, tensor } from '../src/index.node.js';
import { setConvTileFloats } from '../src/backends/cpu/conv2dIm2col.js';
import { conv2dAttrs, conv2dGradFilterKernel, conv2dGradInputKernel } from '../src/kernels/conv2d.js';
import { type BenchCase, machine } from './util.js';

const quick = process.argv.includes('--quick');
const tileOverride = Number(process.env.VL_CONV_TILE_FLOATS ?? 0);
if (tileOverride > 0) setConvTileFloats(tileOverride);
const require = createRequire(import.meta.url);
setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);

const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);

/** One conv: [N, C, S, S] input, O filters of k x k, 'same' padding, stride 1 unless given. */
interface Shape {
  S: number;
  C: number;
  O: number;
  k: number;
  stride?: number;
  what: string;
}

// Encoder group 1 (n_hid 256, hidden 64), group 2 (hidden 128), the 7x7 input conv; the decoder
// runs the same 3x3 / 1x1 shapes in the other direction.
const layer = (k: number, C: number, O: number, S: number, what: string, stride = 1): Shape => ({
  S,
  C,
  O,
  k,
  stride,
  what,
});
const shapes: Shape[] = [];
for (const S of quick ? [64] : [64, 128]) {
  shapes.push(
    layer(7, 3, 256, S, 'encoder input'),
    layer(3, 256, 64, S, 'res conv_1'),
    layer(3, 64, 64, S, 'res conv_2/3'),
    layer(1, 64, 256, S, 'res conv_4'),
    layer(3, 256, 128, S, 'group 2 conv_1'),
    layer(1, 256, 512, S, 'id path'),
    layer(3, 64, 64, S, 'stride 2', 2),
  );
}
if (!quick) shapes.push(layer(3, 256, 64, 256, 'full-size encoder conv_1'));

const outSize = (s: Shape) => Math.floor((s.S - 1) / (s.stride ?? 1)) + 1;
const flopsOf = (s: Shape) => 2 * s.O * s.C * s.k * s.k * outSize(s) ** 2;
const label = (s: Shape) =>
  `${s.k}x${s.k} ${s.C}->${s.O} @${s.S}${(s.stride ?? 1) > 1 ? ` s${s.stride}` : ''} (${s.what})`;

/** Median ms of `runs` interleaved rounds over the runners, after `warmup` rounds. */
async function interleaved(
  runners: (() => Promise<void>)[],
  runs: number,
  warmup: number,
): Promise<number[]> {
  const times = runners.map(() => [] as number[]);
  for (let r = 0; r < warmup + runs; r++) {
    for (const [i, run] of runners.entries()) {
      const t0 = performance.now();
      await run();
      if (r >= warmup) times[i]!.push(performance.now() - t0);
    }
  }
  return times.map((t) => t.sort((a, b) => a - b)[t.length >> 1]!);
}

async function main(): Promise<void> {
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs-backend-wasm did not initialize');
  const tfImpl = `tfjs-backend-wasm (${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 'threads' : 'one thread'})`;
  const backend: Backend = await createBackend('cpu');
  const ours = `vl ${backend.name}`;
  console.log(`${machine()}\n${ours} vs ${tfImpl}; ratio = tfjs ms / vl ms (above 1: vl faster)\n`);
  const cases: (BenchCase & { ratioToTfjsWasm: number | null })[] = [];
  const print = (name: string, vlMs: number, tfMs: number | undefined, flops: number) => {
    const ratio = tfMs === undefined ? null : +(tfMs / vlMs).toFixed(2);
    cases.push({
      name,
      impl: ours,
      medianMs: +vlMs.toFixed(2),
      gflops: +(flops / vlMs / 1e6).toFixed(2),
      ratioToTfjsWasm: ratio,
    });
    if (tfMs !== undefined) {
      cases.push({
        name,
        impl: tfImpl,
        medianMs: +tfMs.toFixed(2),
        gflops: +(flops / tfMs / 1e6).toFixed(2),
        ratioToTfjsWasm: 1,
      });
    }
    const gf = (ms: number) => (flops / ms / 1e6).toFixed(1).padStart(6);
    console.log(
      `${name.padEnd(52)} vl ${vlMs.toFixed(1).padStart(8)} ms ${gf(vlMs)} GFLOP/s` +
        (tfMs === undefined
          ? ''
          : `   tfjs ${tfMs.toFixed(1).padStart(8)} ms ${gf(tfMs)} GFLOP/s   x${ratio!.toFixed(2)}`),
    );
  };

  for (const s of shapes) {
    const stride = s.stride ?? 1;
    const Ho = outSize(s);
    const xd = rand(s.C * s.S * s.S);
    const wd = rand(s.O * s.C * s.k * s.k);
    const bd = rand(s.O);
    const dyd = rand(s.O * Ho * Ho);
    const x = tensor(xd, [1, s.C, s.S, s.S], { backend });
    const w = tensor(wd, [s.O, s.C, s.k, s.k], { backend });
    const b = tensor(bd, [s.O], { backend });
    const dy = tensor(dyd, [1, s.O, Ho, Ho], { backend });
    const options = { stride, padding: (s.k - 1) / 2 };
    const attrs = conv2dAttrs(w.shape, options);
    // tfjs: NHWC input, HWIO filters (the values need not match: only the time is compared).
    const tx = tf.tensor4d(xd, [1, s.S, s.S, s.C]);
    const tw = tf.tensor4d(wd, [s.k, s.k, s.C, s.O]);
    const tb = tf.tensor1d(bd);
    const tdy = tf.tensor4d(dyd, [1, Ho, Ho, s.O]);
    const big = flopsOf(s) > 5e9;
    const [runs, warmup] = big ? [3, 1] : [7, 2];

    const vlForward = async () => {
      const y = conv2d(x, w, b, options);
      await y.read();
      y.dispose();
    };
    const tfForward = async () => {
      const y = tf.fused.conv2d({ x: tx, filter: tw, strides: stride, pad: 'same', bias: tb });
      await y.data();
      y.dispose();
    };
    const [vlMs, tfMs] = await interleaved([vlForward, tfForward], runs, warmup);
    print(`conv2d ${label(s)}`, vlMs!, tfMs!, flopsOf(s));

    if (s.k > 1 && !big) {
      const vlGradInput = async () => {
        const [g] = runKernel(conv2dGradInputKernel, [dy, w], { ...attrs, shape: x.shape }) as Tensor[];
        await g!.read();
        g!.dispose();
      };
      const tfGradInput = async () => {
        const g = tf.conv2dTranspose(tdy, tw, [1, s.S, s.S, s.C], stride, 'same');
        await g.data();
        g.dispose();
      };
      const vlGradFilter = async () => {
        const [g] = runKernel(conv2dGradFilterKernel, [x, dy], { ...attrs, shape: w.shape }) as Tensor[];
        await g!.read();
        g!.dispose();
      };
      const [gi, tgi, gf] = await interleaved([vlGradInput, tfGradInput, vlGradFilter], runs, warmup);
      print(`conv2dGradInput ${label(s)}`, gi!, tgi!, flopsOf(s));
      print(`conv2dGradFilter ${label(s)}`, gf!, undefined, flopsOf(s));
    }
    for (const t of [x, w, b, dy]) t.dispose();
    for (const t of [tx, tw, tb, tdy]) t.dispose();
  }
  backend.dispose();

  if (quick || tileOverride > 0) {
    console.log('\n--quick or VL_CONV_TILE_FLOATS: bench/results/conv-cpu.json left as it was');
    return;
  }
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'conv-cpu.json');
  writeFileSync(file, `${JSON.stringify({ machine: machine(), cases }, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

await main();
