// Every exported function, called with a wrong value in each argument (undefined, null, an object,
// a string, a number, arrays), must fail with an error that names the function, never with
// JavaScript's own "Cannot read properties of undefined" from deep inside, a non-Error, or a hang.
// Arguments before the wrong one are the number 1 (a seed, a count), those after it are left out.
import { exportedFunctions, unclearFailures } from '@vl/vitest-config/wrong-arguments';
import { expect, test } from 'vitest';
import * as pkg from '../src/index.node.js';

test.each(exportedFunctions(pkg))('%s names a wrong argument', async (name, f) => {
  expect(await unclearFailures(name, f, { valid: () => 1 })).toEqual([]);
});
