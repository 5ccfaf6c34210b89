// Every exported function, called with a wrong value in each argument (undefined, as a Map lookup
// of a misspelled weight name gives; null; an object; a string; a number; arrays; a disposed tensor;
// an i32 tensor), must fail with an error that names the function, never with JavaScript's own
// "Cannot read properties of undefined" from deep inside, a non-Error, or a hang. Arguments before
// the wrong one are valid f32 tensors, those after it are left out.
import {
  exportedClassCalls,
  exportedFunctions,
  methodCalls,
  trackTensors,
  unclearFailures,
  wrongValues,
} from '@vl/vitest-config/wrong-arguments';
import { afterAll, expect, test } from 'vitest';
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

// Made at load time: the method checks below list each instance's methods when the file is collected.
const backend = await vl.createBackend('cpu');

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

/** A fresh f32 [2, 3] tensor: the valid argument before a wrong one. */
const f32 = () =>
  vl.tensor(
    [0, 1, 2, 3, 4, 5].map((v) => v / 7),
    [2, 3],
    { backend },
  );

test.each(exportedFunctions(vl, SKIP))('%s names a wrong argument', async (name, f) => {
  const unclear = await unclearFailures(name, f, {
    valid: f32,
    values,
    ...trackTensors(backend, vl.Tensor),
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
      valid: f32,
      values,
      ...trackTensors(backend, vl.Tensor),
    });
    expect(unclear).toEqual([]);
  },
);

// The objects a user holds, one small instance each, and the valid argument their methods get before
// a wrong one. `dispose` is left out everywhere: it takes nothing, and would end the instance for the
// calls after it. Methods that take nothing (describe, stats, state, next) run too: extra arguments
// must not break them. The backend's own methods run on a second one, with a host array as the valid
// argument: a release that gets through would skew its stats.
const held = {
  tensor: f32(),
  adamW: new vl.AdamW({ lr: 0.1 }),
  rng: new vl.Rng(1),
  kvCache: vl.createKvCache({ backend, layers: 1, batch: 1, kvHeads: 1, maxLength: 4, headDim: 3 }),
  backend: await vl.createBackend('cpu'),
};

/** The valid argument of each instance's methods: a param tree for AdamW, a layer for KvCache. */
const validFor: Record<keyof typeof held, () => unknown> = {
  tensor: f32,
  adamW: () => ({ w: f32() }),
  rng: f32,
  kvCache: () => 0,
  backend: () => new Float32Array(6),
};

afterAll(() => {
  held.tensor.dispose();
  held.adamW.dispose();
  held.kvCache.dispose();
  held.backend.dispose();
});

/** What a method may return that the check frees: a tensor, AdamW's stateDict (its tensors). */
function disposeResult(result: unknown): void {
  if (result instanceof vl.Tensor) result.dispose();
  else if (result && typeof result === 'object' && 'state' in result) {
    for (const { m, v } of Object.values((result as vl.AdamWStateDict).state)) {
      m.dispose();
      v.dispose();
    }
  }
}

const heldMethods = Object.entries(held).flatMap(([kind, object]) =>
  methodCalls(object, ['dispose']).map(
    ([name, call]) => [`${kind}.${name}`, name, call, validFor[kind as keyof typeof held]] as const,
  ),
);

/** The live tensor count, and an argument the check made freed: a tensor, or AdamW's param tree. */
const { live, release: releaseTensor } = trackTensors(backend, vl.Tensor);
const release = (argument: unknown): void => {
  const tree = argument && typeof argument === 'object' && !(argument instanceof vl.Tensor);
  for (const value of tree ? Object.values(argument) : [argument]) releaseTensor(value);
};

test.each(heldMethods)('%s names a wrong argument', async (_label, name, call, valid) => {
  const unclear = await unclearFailures(name, call, { valid, values, dispose: disposeResult, live, release });
  expect(unclear).toEqual([]);
});
