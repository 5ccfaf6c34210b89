// Attention, layerNorm and conv2d on the CPU: vl's cpu backend against tfjs-backend-wasm and
// tfjs-backend-cpu (the same shapes through tf ops) in the same process.
//   cd packages/tensor && node --conditions=source --import tsx bench/ops-cpu.ts
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { type Tensor, attention, conv2d, createBackend, layerNorm, tensor, tidy } from '../src/index.node.js';
import { type BenchCase, medianMs, report } from './util.js';

const require = createRequire(import.meta.url);
setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);

const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);

interface Op {
  name: string;
  flops: number;
  shapes: number[][];
  vl: (...xs: Tensor[]) => Tensor;
  tf: (...xs: tf.Tensor[]) => tf.Tensor;
}

const B = 1;
const H = 12;
const T = 50;
const D = 64;
const ops: Op[] = [
  {
    name: `attention [${B},${H},${T},${D}]`,
    flops: 4 * B * H * T * T * D,
    shapes: [
      [B, H, T, D],
      [B, H, T, D],
      [B, H, T, D],
    ],
    vl: (q, k, v) => attention(q!, k!, v!),
    tf: (q, k, v) => tf.matMul(tf.softmax(tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(D))), v!),
  },
  {
    name: 'layerNorm [50, 768]',
    flops: 8 * 50 * 768,
    shapes: [[50, 768], [768], [768]],
    vl: (x, g, b) => layerNorm(x!, g, b, 1e-5),
    tf: (x, g, b) => {
      const { mean, variance } = tf.moments(x!, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(x!, mean), tf.sqrt(tf.add(variance, 1e-5))), g!), b!);
    },
  },
  {
    name: 'conv2d 3x3 [1,64,56,56]x[64,64,3,3]',
    flops: 2 * 64 * 56 * 56 * 64 * 9,
    shapes: [
      [1, 64, 56, 56],
      [64, 64, 3, 3],
    ],
    vl: (x, w) => conv2d(x!, w!, undefined, { padding: 1 }),
    // tfjs-backend-cpu/wasm take NHWC input and HWIO filters.
    tf: (x, w) =>
      tf.conv2d(
        tf.transpose(x!, [0, 2, 3, 1]) as tf.Tensor4D,
        tf.transpose(w!, [2, 3, 1, 0]) as tf.Tensor4D,
        1,
        'same',
      ),
  },
];

const cases: BenchCase[] = [];
const backend = await createBackend('cpu');
for (const op of ops) {
  const data = op.shapes.map((s) => rand(s.reduce((a, b) => a * b, 1)));
  const inputs = op.shapes.map((s, i) => tensor(data[i]!, s, { backend }));
  const ms = await medianMs(async () => {
    const y = tidy(() => op.vl(...inputs));
    await y.read();
    y.dispose();
  });
  cases.push({ name: op.name, impl: backend.name, medianMs: ms, gflops: op.flops / ms / 1e6 });
  for (const t of inputs) t.dispose();
  for (const tfBackend of ['wasm', 'cpu']) {
    await tf.setBackend(tfBackend);
    const ts = op.shapes.map((s, i) => tf.tensor(data[i]!, s));
    const tms = await medianMs(async () => {
      const y = tf.tidy(() => op.tf(...ts));
      await y.data();
      y.dispose();
    });
    cases.push({ name: op.name, impl: `tfjs-${tfBackend}`, medianMs: tms, gflops: op.flops / tms / 1e6 });
    for (const t of ts) t.dispose();
  }
}
backend.dispose();
report('ops-cpu', cases, 'tfjs-wasm');
