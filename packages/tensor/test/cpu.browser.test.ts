// The CPU backend in Chromium: relaxed SIMD whether or not the page is cross-origin isolated (a
// page without isolation has no SharedArrayBuffer and runs the single-thread build).
import { expect, test } from 'vitest';
import { createBackend, matmul, tensor } from '../src/index.js';

test('createBackend("cpu") runs relaxed SIMD in the page, and multiplies right', async () => {
  const backend = await createBackend('cpu');
  try {
    expect(backend.name).toMatch(/relaxed-simd/);
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend });
    const b = tensor([1, 0, 0, 1, 1, 1], [3, 2], { backend });
    expect(Array.from(await matmul(a, b).read())).toEqual([4, 5, 10, 11]);
  } finally {
    backend.dispose();
  }
});
