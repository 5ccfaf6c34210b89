// CPU cost of encoding a forward pass of 200 small kernels on the WebGPU backend (target: at most
// 2 ms), against tfjs-backend-webgpu encoding the same chain on the same Dawn device.
//   cd packages/tensor && node --conditions=source --import tsx bench/dispatch-webgpu.ts
import { create, globals } from 'webgpu';
import { type Tensor, add, createBackend, mul, relu, tensor, tidy } from '../src/index.node.js';
import { type BenchCase, report } from './util.js';

const KERNELS = 200;
const N = 4096;
const cases: BenchCase[] = [];
const backend = await createBackend('webgpu');
const x = tensor(
  Float32Array.from({ length: N }, (_, i) => Math.sin(i)),
  [N],
  { backend },
);
const chain = (t: Tensor) => {
  let y = t;
  for (let i = 0; i < KERNELS / 2; i++) y = relu(add(mul(y, t), t));
  return y;
};
// Warm-up compiles the pipelines; then time only the encoding (no submit, no readback).
for (let i = 0; i < 3; i++) {
  const y = tidy(() => chain(x));
  await y.read();
  y.dispose();
}
const encodeTimes: number[] = [];
for (let i = 0; i < 15; i++) {
  const t0 = performance.now();
  const y = tidy(() => chain(x));
  encodeTimes.push(performance.now() - t0);
  await y.read();
  y.dispose();
}
encodeTimes.sort((a, b) => a - b);
cases.push({
  name: `encode ${KERNELS + KERNELS / 2} kernels`,
  impl: 'vl webgpu',
  medianMs: encodeTimes[7]!,
  gflops: null,
});
x.dispose();
backend.dispose();

// tfjs-backend-webgpu on Dawn: it registers only when navigator.gpu exists at import time.
Object.assign(globalThis, globals);
(globalThis as { navigator?: unknown }).navigator = { gpu: create([]) };
const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-backend-webgpu');
await tf.setBackend('webgpu');
const tx = tf.tensor(
  Float32Array.from({ length: N }, (_, i) => Math.sin(i)),
  [N],
);
const tchain = () => {
  let y = tx;
  for (let i = 0; i < KERNELS / 2; i++) y = tf.relu(tf.add(tf.mul(y, tx), tx));
  return y;
};
for (let i = 0; i < 3; i++) {
  const y = tf.tidy(tchain);
  await y.data();
  y.dispose();
}
const tfTimes: number[] = [];
for (let i = 0; i < 15; i++) {
  const t0 = performance.now();
  const y = tf.tidy(tchain);
  tfTimes.push(performance.now() - t0);
  await y.data();
  y.dispose();
}
tfTimes.sort((a, b) => a - b);
cases.push({
  name: `encode ${KERNELS + KERNELS / 2} kernels`,
  impl: 'tfjs-webgpu',
  medianMs: tfTimes[7]!,
  gflops: null,
});
report('dispatch-webgpu', cases, 'tfjs-webgpu');
process.exit(0);
