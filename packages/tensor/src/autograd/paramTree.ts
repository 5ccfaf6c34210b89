// Params trees: the nested records and arrays of tensors that models keep their weights in, walked
// with key paths so that gradients and optimizer state line up with checkpoint tensor names.
import { describeValue } from '../describeValue.js';
import { Tensor } from '../tensor.js';

/**
 * Tensors in nested plain objects and arrays, e.g. a model's params keyed by checkpoint names.
 *
 * @example
 * ```ts
 * const params: ParamTree = { 'ln.weight': gamma, 'ln.bias': beta, blocks: [{ w: w0 }, { w: w1 }] };
 * ```
 */
export type ParamTree = Tensor | readonly ParamTree[] | { readonly [key: string]: ParamTree };

/** One tensor of a tree: its dotted key path and where it sits, so it can be replaced in place. */
export interface ParamLeaf {
  readonly path: string;
  readonly tensor: Tensor;
  readonly parent: Record<string, unknown> | unknown[] | undefined;
  readonly key: string | number;
}

/** Whether `value` is an object literal (not an array, a Tensor, a Map or another class's object). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * Every tensor of `tree` in key order, with its path (`blocks.0.w`). Throws on anything else, and
 * on two entries with one path (`{ a: { b } }` and `{ 'a.b': ... }`): gradients and optimizer
 * state are matched by path, so they would be mixed up.
 */
export function flattenParams(tree: unknown, op: string): ParamLeaf[] {
  const leaves: ParamLeaf[] = [];
  const paths = new Set<string>();
  const walk = (node: unknown, path: string, parent: ParamLeaf['parent'], key: string | number): void => {
    if (node instanceof Tensor) {
      if (paths.has(path)) {
        throw new Error(
          `${op}: two params have the key path '${path}' (a key with a dot in it spells the same path as nested keys); ` +
            'gradients and optimizer state are matched by path, so rename one',
        );
      }
      paths.add(path);
      leaves.push({ path, tensor: node, parent, key });
    } else if (Array.isArray(node)) {
      for (const [i, v] of node.entries()) walk(v, path ? `${path}.${i}` : String(i), node, i);
    } else if (isPlainObject(node)) {
      for (const [k, v] of Object.entries(node)) walk(v, path ? `${path}.${k}` : k, node, k);
    } else {
      throw new TypeError(
        `${op}: params${path ? ` entry '${path}'` : ''} must be a Tensor, an array or a plain object of tensors (got ${describeValue(node)})`,
      );
    }
  };
  walk(tree, '', undefined, '');
  return leaves;
}

/** A tree of the same structure as `tree` with each tensor replaced by `fn(leaf index)`. */
export function mapParams(tree: unknown, fn: (index: number) => Tensor): unknown {
  let i = 0;
  const walk = (node: unknown): unknown => {
    if (node instanceof Tensor) return fn(i++);
    if (Array.isArray(node)) return node.map(walk);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) out[k] = walk(v);
    return out;
  };
  return walk(tree);
}

/** Puts `t` where `leaf` was (the root of a tree cannot be replaced). */
export function replaceLeaf(leaf: ParamLeaf, t: Tensor, op: string): void {
  if (leaf.parent === undefined) {
    throw new TypeError(
      `${op}: params must be an array or an object of tensors to be updated in place, not a single Tensor`,
    );
  }
  (leaf.parent as Record<string | number, unknown>)[leaf.key] = t;
}

/** Throws when one tensor appears twice (tied weights must be listed once), naming both paths. */
export function assertDistinct(leaves: readonly ParamLeaf[], op: string): void {
  const seen = new Map<Tensor, string>();
  for (const { path, tensor } of leaves) {
    const first = seen.get(tensor);
    if (first !== undefined) {
      throw new Error(
        `${op}: params '${first}' and '${path}' are the same tensor #${tensor.id}; list a tied weight once`,
      );
    }
    seen.set(tensor, path);
  }
}
