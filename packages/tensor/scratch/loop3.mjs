import { createBackend, tensor } from '../dist/index.node.js';
const backend = await createBackend('webgpu');
console.error('created', backend.name);
for (let i = 0; i < 300; i++) {
  const a = tensor([1, 2, 3], [3], { backend });
  const v = await a.read();
  if (i % 20 === 0) console.error('iter', i, v[0]);
  a.dispose();
}
console.log('loop done');
backend.dispose();
console.log('done');
