import { createBackend, tensor, pow, add } from '../src/index.node.js';
const backend = await createBackend('webgpu');
console.log(backend.name);
const a = tensor([1, 2, 3], [3], { backend });
const b = tensor([2, 2, 2], [3], { backend });
try { console.log(await pow(a, b).read()); } catch (e) { console.log('ERR', e.message); }
console.log(await add(a, b).read());
backend.dispose();
console.log('done');
