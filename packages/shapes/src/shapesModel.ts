/** The model families trained on the shapes world and shipped with this package. */
export type ShapesModelKind = 'clip' | 'dvae' | 'vlm';

const KINDS: readonly ShapesModelKind[] = ['clip', 'dvae', 'vlm'];

/**
 * The folder of the embedded model of `kind` trained on the shapes world (a checkpoint folder in the
 * family's usual layout: `config.json`, safetensors, tokenizer files, `vl.json` task defaults). Pass
 * it to the family's loader; `file:` in Node, an http(s) URL next to the module in browsers (an app
 * that bundles vl serves the package's `models/` folder there itself).
 *
 * @example
 * ```ts
 * const clip = await loadClip(shapesModel('clip'), { backend });
 * ```
 */
export function shapesModel(kind: ShapesModelKind): URL {
  if (!KINDS.includes(kind)) {
    throw new RangeError(`shapesModel: kind must be one of ${KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  }
  // The same depth from src/ and dist/: the package's models/ folder. The base goes through a
  // variable: bundlers (Vite) rewrite `new URL(\`...${x}\`, import.meta.url)` into a glob of the
  // files they find, which left `.../src/undefined` for a folder.
  const here = import.meta.url;
  return new URL(`../models/${kind}/`, here);
}
