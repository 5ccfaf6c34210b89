// Lists what a GPU machine needs of this checkout's node_modules (pnpm layout): the links in the
// root, package and tooling node_modules folders, and the .pnpm entries they reach, transitively,
// minus the large ones no GPU check loads (onnxruntime, biome, turbo, typescript, playwright,
// api-extractor, changesets). Prints paths relative to the repository root, one per line.
//   node tooling/device/closure.mjs > list
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const skip =
  /\.pnpm\/(onnxruntime|@biomejs|@turbo|turbo@|typescript@|prettier@|playwright|@microsoft|@rushstack|@changesets|lightningcss|@vitest\+browser|@types)/;
const seen = new Set();
const stack = [];
const listed = [];

/** Queues the .pnpm entries that the links in one node_modules folder point into. */
function visit(nm, keepLinks) {
  if (!fs.existsSync(nm)) return;
  for (const e of fs.readdirSync(nm)) {
    if (e === '.pnpm') continue;
    const names = e.startsWith('@') ? fs.readdirSync(path.join(nm, e)).map((x) => path.join(e, x)) : [e];
    for (const n of names) {
      const p = path.join(nm, n);
      if (keepLinks) listed.push(path.relative(root, p));
      let real;
      try {
        real = fs.realpathSync(p);
      } catch {
        continue;
      }
      const top = real.match(/^(.*\/\.pnpm\/[^/]+)\//)?.[1];
      if (!top || skip.test(top) || seen.has(top)) continue;
      seen.add(top);
      stack.push(top);
    }
  }
}

const workspaces = ['packages', 'tooling'].flatMap((d) =>
  fs.readdirSync(path.join(root, d)).map((p) => path.join(root, d, p, 'node_modules')),
);
for (const nm of [path.join(root, 'node_modules'), ...workspaces]) visit(nm, true);
while (stack.length) visit(path.join(stack.pop(), 'node_modules'), false);
for (const p of [...listed, ...[...seen].map((s) => path.relative(root, s))]) console.log(p);
