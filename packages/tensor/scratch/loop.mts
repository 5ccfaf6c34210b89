import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createBackend, tensor, add, tidy } from '../src/index.node.js';
const useTf = process.argv[2] === 'tf';
const backend = await createBackend('webgpu');
const tfb = useTf ? await createBackend('tfjs', { tfjs: { tf } }) : undefined;
for (let i = 0; i < 300; i++) {
  const y = tidy(() => add(tensor([1, 2, 3], [3], { backend }), tensor([1], [1], { backend })));
  await y.read();
  y.dispose();
  if (tfb) { const z = add(tensor([1, 2, 3], [3], { backend: tfb }), tensor([1], [1], { backend: tfb })); await z.read(); z.dispose(); }
}
backend.dispose();
console.log('done');
