// Every exported function, called with a wrong value in each argument (undefined, as a Map lookup
// of a misspelled weight name gives; null; an object; a string; a number; arrays; a disposed tensor;
// an i32 tensor), must fail with an error that names the function, never with JavaScript's own
// "Cannot read properties of undefined" from deep inside, a non-Error, or a hang. Arguments before
// the wrong one are valid f32 tensors, those after it are left out.
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as vl from '../src/index.node.js';

/** Functions that write files, start backends or time the GPU: checked by their own tests. */
const SKIP = new Set([
  'createBackend',
  'saveCheckpointTensors',
  'saveSafetensorsFile',
  'setMatmulWebGpuConfig',
  'tuneMatmulShapesWebGpu',
  'tuneMatmulWebGpu',
  'yieldToEventLoop',
]);

/** What a failure inside the library, rather than a check of its input, says. */
const RAW =
  /Cannot read propert|is not a function|is not iterable|Cannot convert|Cannot destructure|Invalid array length|Invalid typed array length|Maximum call stack|is not a constructor|Cannot create property|Cannot use 'in' operator|Reduce of empty|undefined is not|null is not|Array buffer allocation|Invalid string length/;

let backend: vl.Backend;

beforeAll(async () => {
  backend = await vl.createBackend('cpu');
});

afterAll(() => {
  backend.dispose();
});

const wrongValues: [string, () => unknown][] = [
  ['undefined', () => undefined],
  ['null', () => null],
  ['{}', () => ({})],
  ["'x'", () => 'x'],
  ['3.5', () => 3.5],
  ['[]', () => []],
  ['NaN', () => Number.NaN],
  ['-1', () => -1],
  ["[1, 'a']", () => [1, 'a']],
  [
    'a disposed tensor',
    () => {
      const d = vl.tensor([1, 2], [2], { backend });
      d.dispose();
      return d;
    },
  ],
  ['an i32 tensor', () => vl.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend, dtype: 'i32' })],
];

const functions = Object.entries(vl).filter(
  (entry): entry is [string, (...args: unknown[]) => unknown] =>
    typeof entry[1] === 'function' && !/^[A-Z]/.test(entry[0]) && !SKIP.has(entry[0]),
);

/** The error a call threw or rejected with (undefined when it returned), dropping any tensors made. */
async function failureOf(f: (...args: unknown[]) => unknown, args: unknown[]): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('HANG: no answer in 5 s')), 5000);
  });
  try {
    const result = await Promise.race([(async () => f(...args))(), hang]);
    if (result instanceof vl.Tensor) result.dispose();
    return undefined;
  } catch (e) {
    return e;
  } finally {
    clearTimeout(timer);
  }
}

test.each(functions)('%s names a wrong argument', async (name, f) => {
  const unclear: string[] = [];
  const count = Math.max(1, f.length) + 1;
  for (let at = 0; at < count; at++) {
    for (const [label, wrong] of wrongValues) {
      const args = Array.from({ length: at + 1 }, (_, k) =>
        k === at
          ? wrong()
          : vl.tensor(
              [0, 1, 2, 3, 4, 5].map((v) => v / 7),
              [2, 3],
              { backend },
            ),
      );
      const e = await failureOf(f, args);
      if (e === undefined) continue;
      const message = e instanceof Error ? e.message : `a thrown ${typeof e}: ${String(e)}`;
      if (
        !(e instanceof Error) ||
        RAW.test(message) ||
        message.startsWith('HANG') ||
        !message.includes(name)
      ) {
        unclear.push(`argument ${at} = ${label}: ${message.slice(0, 160)}`);
      }
    }
  }
  expect(unclear).toEqual([]);
});
