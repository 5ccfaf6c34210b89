// Every exported function, called with a wrong value in each argument (undefined, as a Map lookup
// of a misspelled name gives; null; an object; a string; a number; arrays; a tensor where something
// else belongs), must fail with an error that names the function, never with JavaScript's own
// "Cannot read properties of undefined" from deep inside, a non-Error, or a hang. Arguments before
// the wrong one are f32 [2, 3] tensors, those after it are left out.
import { type Backend, createBackend, Tensor, tensor } from '@vl/tensor';
import { exportedFunctions, unclearFailures } from '@vl/vitest-config/wrong-arguments';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as pkg from '../src/index.node.js';

let backend: Backend;

beforeAll(async () => {
  backend = await createBackend('cpu');
});

afterAll(() => {
  backend.dispose();
});

test.each(exportedFunctions(pkg))('%s names a wrong argument', async (name, f) => {
  const unclear = await unclearFailures(name, f, {
    valid: () =>
      tensor(
        [0, 1, 2, 3, 4, 5].map((v) => v / 7),
        [2, 3],
        { backend },
      ),
    dispose: (result) => {
      if (result instanceof Tensor) result.dispose();
    },
  });
  expect(unclear).toEqual([]);
});
