// The browser entry must not lead a bundler to Node's modules (esbuild and webpack refuse node: for
// the browser): image decoding with pngjs / jpeg-js and the vocabulary file read reach the code
// through src/nodeIo.ts.
import { fileURLToPath } from 'node:url';
import { nodeOnlyImports } from '@vl/vitest-config/browser-graph';
import { expect, test } from 'vitest';

const nodeOnly = (s: string) =>
  s.startsWith('node:') ||
  ['webgpu', 'pngjs', 'jpeg-js', '@cornerstonejs/codec-libjpeg-turbo-8bit'].includes(s);

test('nothing reachable from the browser entry imports a node: module or a Node-only decoder', () => {
  expect(nodeOnlyImports(fileURLToPath(new URL('../src/index.ts', import.meta.url)), nodeOnly)).toEqual([]);
  const node = nodeOnlyImports(fileURLToPath(new URL('../src/index.node.ts', import.meta.url)), nodeOnly);
  expect(node.some((s) => s.startsWith('jpeg-js '))).toBe(true);
});
