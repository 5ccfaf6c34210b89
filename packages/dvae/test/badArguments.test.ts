// Every exported function, called with a wrong value in each argument (undefined, as a Map lookup
// of a misspelled name gives; null; an object; a string; a number; arrays; a tensor where something
// else belongs), must fail with an error that names the function, never with JavaScript's own
// "Cannot read properties of undefined" from deep inside, a non-Error, or a hang. Arguments before
// the wrong one are f32 [2, 3] tensors, those after it are left out.
import { createBackend, Tensor, tensor } from '@vl/tensor';
import {
  exportedClassCalls,
  exportedFunctions,
  methodCalls,
  trackTensors,
  unclearFailures,
} from '@vl/vitest-config/wrong-arguments';
import { afterAll, expect, test } from 'vitest';
import * as pkg from '../src/index.node.js';
import { TINY_DVAE } from './tinyDvae.js';

// Made at load time: the method checks below list the instances' methods when the file is collected.
const backend = await createBackend('cpu');

afterAll(() => {
  backend.dispose();
});

const valid = () =>
  tensor(
    [0, 1, 2, 3, 4, 5].map((v) => v / 7),
    [2, 3],
    { backend },
  );

/** Frees what a call returned: a tensor, or a params pair (copyParams). */
function dispose(result: unknown): void {
  if (result instanceof Tensor) result.dispose();
  else if ((result as Partial<pkg.DvaeParamsPair> | undefined)?.encoder instanceof Map) {
    for (const half of Object.values(result as pkg.DvaeParamsPair))
      for (const t of half.values()) t.dispose();
  }
}

test.each(exportedFunctions(pkg))('%s names a wrong argument', async (name, f) => {
  const unclear = await unclearFailures(name, f, { valid, dispose, ...trackTensors(backend, Tensor) });
  expect(unclear).toEqual([]);
});

test.each(exportedClassCalls(pkg))('%s names a wrong argument', async (_label, className, call) => {
  const unclear = await unclearFailures(className, call, {
    valid,
    dispose,
    ...trackTensors(backend, Tensor),
  });
  expect(unclear).toEqual([]);
});

// The objects a user holds: a model (from the tiny config's fresh params) and a trainer. `dispose`
// is left out: it takes nothing, and would end the object for the calls after it.
const params = pkg.initDvaeParams(TINY_DVAE, { backend, seed: 1 });
const model = pkg.createDvaeModel(TINY_DVAE, params.encoder, params.decoder, backend, () => {});
const trainer = new pkg.DvaeTrainer(params, TINY_DVAE, { seed: 2 });

afterAll(() => {
  model.dispose();
  trainer.dispose();
  dispose(params);
});

const heldMethods = Object.entries({ model, trainer }).flatMap(([kind, object]) =>
  methodCalls(object, ['dispose']).map(([name, call]) => [`${kind}.${name}`, name, call] as const),
);

test.each(heldMethods)('%s names a wrong argument', async (_label, name, call) => {
  const unclear = await unclearFailures(name, call, { valid, dispose, ...trackTensors(backend, Tensor) });
  expect(unclear).toEqual([]);
});
