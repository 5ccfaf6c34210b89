// Every exported function, class constructor and static method, and every method of the objects a
// user holds (a loaded VlmModel, its tokenizer, a VlmTrainer), called with a wrong value in each
// argument (undefined, as a Map lookup of a misspelled name gives; null; an object; a string; a
// number; arrays; a tensor where something else belongs), must fail with an error that names the
// function, never with JavaScript's own "Cannot read properties of undefined" from deep inside, a
// non-Error, or a hang. Arguments before the wrong one are f32 [2, 3] tensors, those after it are
// left out.
import { fileURLToPath } from 'node:url';
import { createBackend, Tensor, tensor } from '@vl/tensor';
import {
  exportedClassCalls,
  exportedFunctions,
  methodCalls,
  trackTensors,
  unclearFailures,
} from '@vl/vitest-config/wrong-arguments';
import { afterAll, describe, expect, test } from 'vitest';
import * as pkg from '../src/index.node.js';

const backend = await createBackend('cpu');

// The objects a user holds: the tiny LLaVA fixture the other tests load, its tokenizer, and a
// trainer over the smallest LLaVA the config allows (never stepped with a right batch here).
const model = await pkg.loadVlm(fileURLToPath(new URL('./fixtures/llava-tiny/', import.meta.url)), {
  backend,
});
const config = pkg.parseLlavaConfig({
  image_token_index: 15,
  vision_config: {
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    image_size: 8,
    patch_size: 4,
    projection_dim: 8,
  },
  text_config: {
    vocab_size: 16,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 32,
  },
});
const trainerParams = pkg.initLlavaParams(config, { backend, seed: 1 });
const trainer = new pkg.VlmTrainer(trainerParams, config, { lr: 1e-3 });

afterAll(() => {
  model.dispose();
  trainer.dispose();
  for (const t of trainerParams.values()) t.dispose();
  backend.dispose();
});

const valid = () =>
  tensor(
    [0, 1, 2, 3, 4, 5].map((v) => v / 7),
    [2, 3],
    { backend },
  );

const dispose = (result: unknown) => {
  if (result instanceof Tensor) result.dispose();
};

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

/**
 * `dispose` frees the object (called here it would break the calls after it) and takes no
 * arguments. What only returns state (`params`, `trainedNames`, `stepCount`, `lr`,
 * `cleansUpSpaces`) is a getter, which methodCalls leaves out.
 */
const METHOD_SKIP = ['dispose'];

describe.each([
  ['VlmModel', model],
  ['VlmTokenizer', model.tokenizer!],
  ['VlmTrainer', trainer],
] as const)('the methods of a %s', (_, object) => {
  test.each(methodCalls(object, METHOD_SKIP))('%s names a wrong argument', async (name, call) => {
    const unclear = await unclearFailures(name, call, { valid, dispose, ...trackTensors(backend, Tensor) });
    expect(unclear).toEqual([]);
  });
});
