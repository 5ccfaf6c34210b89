// The browser entry must not lead a bundler to Node's modules (esbuild and webpack refuse node: for
// the browser, and a bare fs or a Node-only package breaks a bundle): what needs Node is reached
// only through src/index.node.ts.
import { fileURLToPath } from 'node:url';
import { isNodeOnly, nodeOnlyImports } from '@vl/vitest-config/browser-graph';
import { expect, test } from 'vitest';

const nodeOnly = (s: string) => isNodeOnly(s) || ['pngjs', 'jpeg-js'].includes(s);

test('nothing reachable from the browser entry imports a Node module or a Node-only package', () => {
  expect(nodeOnlyImports(fileURLToPath(new URL('../src/index.ts', import.meta.url)), nodeOnly)).toEqual([]);
});
