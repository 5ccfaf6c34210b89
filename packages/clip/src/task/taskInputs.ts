// Checks of what callers pass to the task API (ClipModel, EmbeddingIndex): each names the
// argument and what was wrong, before any work starts.
import { Tensor } from '@vl/tensor';
import { checkString } from '../checkArguments.js';

/** `value` (default `fallback`) as a positive integer batch size, else a RangeError naming `what`. */
export function batchSizeOf(value: number | undefined, fallback: number, what: string): number {
  const batch = value ?? fallback;
  if (!Number.isInteger(batch) || batch < 1)
    throw new RangeError(`${what}: batchSize must be a positive integer, got ${batch}`);
  return batch;
}

/** Throws unless `list` is a non-empty array of strings (labels, templates, texts). */
export function checkStrings(list: unknown, what: string, noun: string): asserts list is readonly string[] {
  if (!Array.isArray(list)) {
    throw new TypeError(`${what}: the ${noun}s must be an array of strings, got ${describe(list)}`);
  }
  if (list.length === 0) throw new RangeError(`${what}: the ${noun} list is empty`);
  const bad = list.findIndex((s) => typeof s !== 'string');
  if (bad >= 0) throw new TypeError(`${what}: ${noun} ${bad} is ${describe(list[bad])}, not a string`);
}

/** Throws unless every template holds the `{}` the label goes into. */
export function checkTemplates(templates: readonly string[], what: string): void {
  const bad = templates.findIndex((t) => !t.includes('{}'));
  if (bad >= 0) {
    throw new RangeError(
      `${what}: template ${bad} (${JSON.stringify(templates[bad])}) has no {} for the label`,
    );
  }
}

/**
 * A prompt: the template with every `{}` replaced by the label, taken literally (`$&` and the like
 * too), as {@link ClipModel.zeroShot} builds them.
 *
 * @example
 * ```ts
 * fillTemplate('a photo of a {}.', 'cat'); // 'a photo of a cat.'
 * ```
 */
export function fillTemplate(template: string, label: string): string {
  checkString('fillTemplate', 'template', template);
  checkString('fillTemplate', 'label', label);
  return template.split('{}').join(label);
}

/** Throws unless `images` is one image input or a `[1, 3, H, W]` tensor (what zeroShot scores). */
export function checkOneImage(image: unknown, what: string): void {
  if (Array.isArray(image)) {
    throw new TypeError(
      `${what}: takes one image, got an array of ${image.length}; call it once per image (or embedImages for many)`,
    );
  }
  if (image instanceof Tensor && image.rank === 3) {
    // One image without its batch dim, not several.
    throw new RangeError(
      `${what}: a pixel tensor is [1, 3, H, W], got [${image.shape.join(', ')}]; add the batch dim with reshape`,
    );
  }
  if (image instanceof Tensor && image.shape[0] !== 1) {
    throw new RangeError(
      `${what}: takes one image, got a tensor of shape [${image.shape.join(', ')}]; call it once per image`,
    );
  }
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `the string ${JSON.stringify(x)}`;
  return typeof x === 'object' ? `a ${x.constructor?.name ?? 'object'}` : `${typeof x} ${String(x)}`;
}
