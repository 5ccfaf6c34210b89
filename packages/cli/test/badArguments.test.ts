// runCli, given a wrong argv or io (undefined, null, an object, a string, a number, arrays), throws
// an error that names it, never JavaScript's own "argv is not iterable" or "Cannot read properties
// of null (reading 'stderr')". The argv before a wrong io is ['--version'].
import { exportedFunctions, unclearFailures } from '@vl/vitest-config/wrong-arguments';
import { expect, test } from 'vitest';
import * as pkg from '../src/index.js';

test.each(exportedFunctions(pkg))('%s names a wrong argument', async (name, f) => {
  expect(await unclearFailures(name, f, { valid: () => ['--version'] })).toEqual([]);
});
