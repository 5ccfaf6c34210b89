// The browser entry must not lead a bundler to Node's modules: esbuild refuses to bundle node:fs for
// the browser, webpack fails on the node: scheme, Vite stubs them with warnings. Node's file system
// reaches the loaders through the Node entry (src/io/nodeIo.ts).
import { fileURLToPath } from 'node:url';
import { nodeOnlyImports } from '@vl/vitest-config/browser-graph';
import { expect, test } from 'vitest';

test('nothing reachable from the browser entry imports a node: module or Dawn', () => {
  expect(nodeOnlyImports(fileURLToPath(new URL('../src/index.ts', import.meta.url)))).toEqual([]);
  // The walk finds them where they are: the Node entry reaches both.
  const node = nodeOnlyImports(fileURLToPath(new URL('../src/index.node.ts', import.meta.url)));
  expect(node.some((s) => s.startsWith('node:fs'))).toBe(true);
  expect(node.some((s) => s.startsWith('webgpu '))).toBe(true);
});
