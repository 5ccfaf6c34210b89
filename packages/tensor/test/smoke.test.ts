import { expect, test } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import { add, createBackend, tensor } from '../src/index.node.js';

test('add broadcasts on cpu, webgpu and tfjs', async () => {
  for (const kind of ['cpu', 'webgpu', 'tfjs'] as const) {
    const backend = await createBackend(kind);
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend });
    const b = tensor([10, 20, 30], [3], { backend });
    const y = add(a, b);
    expect(Array.from(await y.read())).toEqual([11, 22, 33, 14, 25, 36]);
    backend.dispose();
  }
});
