// What a bundler sees from a package's browser entry: the source files reachable through static
// imports and dynamic import() of string literals (what esbuild, webpack and Vite follow), and any
// node: module or Node-only package among them. A specifier held in a variable is invisible to
// bundlers, and to this walk.
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g;

/**
 * Node's built-in modules by their bare names too (`fs`, `stream/promises` as well as `node:fs`): the
 * running Node's own list, so none is missed.
 */
const NODE_BUILTINS = new Set(builtinModules);

/** Node-only by default: node: modules, Node's built-ins by bare name, and the `webgpu` package (Dawn). */
export const isNodeOnly = (s) => s.startsWith('node:') || NODE_BUILTINS.has(s) || s === 'webgpu';

/**
 * The Node-only imports reachable from `entry` (a .ts file): each as `specifier (file <- ... <- entry)`.
 * `nodeOnly` says which bare specifiers count (default: {@link isNodeOnly}).
 */
export function nodeOnlyImports(entry, nodeOnly = isNodeOnly) {
  const found = [];
  const from = new Map([[resolve(entry), undefined]]);
  const queue = [resolve(entry)];
  while (queue.length > 0) {
    const file = queue.shift();
    // Not imports a bundler follows: `import type` lines, `typeof import('...')` in types, and code
    // held in template strings (a worker's source).
    const source = readFileSync(file, 'utf8')
      .replace(/^\s*import\s+type\b.*$/gm, '')
      .replace(/\btypeof\s+import\s*\(\s*['"][^'"]+['"]\s*\)/g, '')
      .replace(/`(?:\\.|[^`\\])*`/gs, '``');
    for (const [, specifier] of source.matchAll(IMPORT)) {
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'));
        if (!from.has(target)) {
          from.set(target, file);
          queue.push(target);
        }
      } else if (nodeOnly(specifier)) {
        const chain = [];
        for (let f = file; f !== undefined; f = from.get(f)) chain.push(relative(dirname(entry), f));
        found.push(`${specifier} (${chain.join(' <- ')})`);
      }
    }
  }
  return found;
}
