// Every exported function, called with a wrong value in each argument (undefined, as a Map lookup
// of a misspelled weight name gives; null; an object; a string; a number; arrays; a disposed tensor;
// an i32 tensor), must fail with an error that names the function, never with JavaScript's own
// "Cannot read properties of undefined" from deep inside, a non-Error, or a hang. Arguments before
// the wrong one are valid f32 tensors, those after it are left out.
import {
  exportedClassCalls,
  exportedFunctions,
  unclearFailures,
  wrongValues,
} from '@vl/vitest-config/wrong-arguments';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as vl from '../src/index.node.js';

/** Functions that write files, start backends or time the GPU: checked by their own tests. */
const SKIP = [
  'createBackend',
  'saveCheckpointTensors',
  'saveSafetensorsFile',
  'setMatmulWebGpuConfig',
  'tuneMatmulShapesWebGpu',
  'tuneMatmulWebGpu',
  'yieldToEventLoop',
];

let backend: vl.Backend;

beforeAll(async () => {
  backend = await vl.createBackend('cpu');
});

afterAll(() => {
  backend.dispose();
});

const values = wrongValues([
  [
    'a disposed tensor',
    () => {
      const d = vl.tensor([1, 2], [2], { backend });
      d.dispose();
      return d;
    },
  ],
  ['an i32 tensor', () => vl.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend, dtype: 'i32' })],
]);

test.each(exportedFunctions(vl, SKIP))('%s names a wrong argument', async (name, f) => {
  const unclear = await unclearFailures(name, f, {
    valid: () =>
      vl.tensor(
        [0, 1, 2, 3, 4, 5].map((v) => v / 7),
        [2, 3],
        { backend },
      ),
    values,
    dispose: (result) => {
      if (result instanceof vl.Tensor) result.dispose();
    },
  });
  expect(unclear).toEqual([]);
});

/** Backends are made by createBackend; a Tensor by tensor() (its constructor is internal). */
const CLASS_SKIP = ['CpuBackend', 'TfjsBackend', 'Tensor', 'WebGpuBackend'];

test.each(exportedClassCalls(vl, CLASS_SKIP))(
  '%s names a wrong argument',
  async (_label, className, call) => {
    const unclear = await unclearFailures(className, call, {
      valid: () =>
        vl.tensor(
          [0, 1, 2, 3, 4, 5].map((v) => v / 7),
          [2, 3],
          { backend },
        ),
      values,
    });
    expect(unclear).toEqual([]);
  },
);
