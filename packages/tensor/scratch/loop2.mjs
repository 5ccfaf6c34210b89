import { createBackend, tensor, add } from '../dist/index.node.js';
const mode = process.argv[2];
const backend = await createBackend('webgpu');
for (let i = 0; i < 300; i++) {
  const a = tensor([1, 2, 3], [3], { backend });
  if (mode === 'add') { const y = add(a, a); await y.read(); y.dispose(); }
  else await a.read();
  a.dispose();
}
console.log('loop done');
backend.dispose();
console.log('done');
