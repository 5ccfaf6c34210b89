// Every exported function, class constructor and static method, and every method of the objects a
// user holds (a model, a tokenizer, an index, a trainer), called with a wrong value in each argument
// (undefined, as a Map lookup of a misspelled name gives; null; an object; a string; a number;
// arrays; a tensor where something else belongs), must fail with an error that names the function,
// class or method, never with JavaScript's own "Cannot read properties of undefined" from deep
// inside, a non-Error, or a hang. For functions the arguments before the wrong one are f32 [2, 3]
// tensors; for classes and methods they are real, valid ones (see validArgs), those after it are
// left out.
import { type Backend, createBackend, Tensor, tensor } from '@vl/tensor';
import {
  exportedClassCalls,
  exportedFunctions,
  methodCalls,
  trackTensors,
  unclearFailures,
  wrongValues,
} from '@vl/vitest-config/wrong-arguments';
import { afterAll, describe, expect, test } from 'vitest';
import * as pkg from '../src/index.node.js';
import { type SmallInstances, smallInstances } from './smallInstances.js';

// Built at collection time, so that each method gets a test of its own.
const backend: Backend = await createBackend('cpu');
const small: SmallInstances = await smallInstances(backend);

afterAll(() => {
  small.dispose();
  backend.dispose();
});

const f32 = () =>
  tensor(
    [0, 1, 2, 3, 4, 5].map((v) => v / 7),
    [2, 3],
    { backend },
  );

/** Frees what a call that did not fail made (a model shares the fixture's params: left alone). */
function disposeResult(result: unknown): void {
  if (result instanceof Tensor || result instanceof pkg.ClipTrainer || result instanceof pkg.FusedQkvParams)
    result.dispose();
}

/** The live tensor count, and what a call was given disposed after it (withValid's too). */
const track = trackTensors(backend, Tensor);
const made: unknown[] = []; // the valid arguments withValid made for the call that just ran
const release = (argument: unknown): void => {
  track.release(argument);
  for (const value of made.splice(0)) track.release(value);
};

/** Stands for "a valid argument here": `withValid` puts in the real one for that position. */
const VALID = Symbol('valid');

/**
 * `f`, with each VALID argument replaced by `valid[i]()` (a fresh f32 tensor past the list), so a
 * wrong value at position i follows valid ones and its own check is the one that answers.
 */
function withValid(f: (...args: unknown[]) => unknown, valid: readonly (() => unknown)[] = []) {
  const make = (i: number) => {
    const value = (valid[i] ?? f32)();
    made.push(value);
    return value;
  };
  const call = (...args: unknown[]) => f(...args.map((a, i) => (a === VALID ? make(i) : a)));
  Object.defineProperty(call, 'length', { value: f.length });
  return call;
}

async function expectClearFailures(
  name: string,
  f: (...args: unknown[]) => unknown,
  valid?: readonly (() => unknown)[],
): Promise<void> {
  const unclear = await unclearFailures(name, withValid(f, valid), {
    valid: () => VALID,
    values: wrongValues([['a Tensor', f32]]),
    dispose: disposeResult,
    live: track.live,
    release,
  });
  expect(unclear).toEqual([]);
}

test.each(exportedFunctions(pkg))('%s names a wrong argument', async (name, f) => {
  const unclear = await unclearFailures(name, f, { valid: f32, dispose: disposeResult, ...track });
  expect(unclear).toEqual([]);
});

// Error subclasses are left out by the harness; no other class is skipped.
test.each(exportedClassCalls(pkg))('%s names a wrong argument', async (label, className, f) => {
  await expectClearFailures(className, f, small.validArgs[label]);
});

// dispose() is skipped: it takes no arguments and frees the object the other calls use. The state
// readers (embeddingDim, size, params, stepCount) are getters, which methodCalls leaves out.
describe.each(['model', 'tokenizer', 'index', 'trainer'] as const)('%s', (instance) => {
  test.each(methodCalls(small[instance], ['dispose']))('.%s names a wrong argument', async (name, f) => {
    await expectClearFailures(name, f, small.validArgs[`${instance}.${name}`]);
  });
});
