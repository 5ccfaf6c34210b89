import { checkSeed, generateShapes, heldOutSeed, type ShapesSample, trainingSeed } from './generateShapes.js';
import { describeValue, resolveOptions, type ShapesOptions } from './options.js';

/** The keys of {@link SingleObjectOptions}: every option but `layouts`. */
const SINGLE_OBJECT_OPTION_KEYS = ['size', 'textures', 'supersample'] as const;
import { article, COLORS, type ColorName, SHAPES, type ShapeName } from './world.js';

/**
 * A sample with exactly one object and its zero-shot label.
 *
 * @example
 * ```ts
 * const { label, labelIndex }: SingleObjectSample = sampleSingleObject(1);
 * ```
 */
export interface SingleObjectSample extends ShapesSample {
  /** "a red circle": one of {@link shapeLabels}. */
  label: string;
  /** The label's index in {@link shapeLabels}. */
  labelIndex: number;
}

/**
 * Every color-and-shape label, "a {color} {shape}" ("an orange star"), colors outer, shapes inner (8 x 6 = 48):
 * the classes of zero-shot classification on single objects.
 *
 * @example
 * ```ts
 * shapeLabels(); // ["a red circle", "a red square", ..., "an orange circle", ..., "a black heart"]
 * ```
 */
export function shapeLabels(): string[] {
  return COLORS.flatMap((color) => SHAPES.map((shape) => `${article(color)} ${color} ${shape}`));
}

/**
 * The index of "a {color} {shape}" ("an orange star") in {@link shapeLabels}.
 *
 * @example
 * ```ts
 * shapeLabelIndex('red', 'circle'); // 0
 * ```
 */
export function shapeLabelIndex(color: ColorName, shape: ShapeName): number {
  const c = COLORS.indexOf(color);
  const s = SHAPES.indexOf(shape);
  if (c < 0) throw new RangeError(`shapeLabelIndex(): unknown color '${color}'; one of ${COLORS.join(', ')}`);
  if (s < 0) throw new RangeError(`shapeLabelIndex(): unknown shape '${shape}'; one of ${SHAPES.join(', ')}`);
  return c * SHAPES.length + s;
}

function withLabel(sample: ShapesSample): SingleObjectSample {
  const [object] = sample.scene.objects;
  const labelIndex = shapeLabelIndex(object!.color, object!.shape);
  return { ...sample, label: shapeLabels()[labelIndex]!, labelIndex };
}

/**
 * {@link ShapesOptions} for single objects: every option but `layouts`.
 *
 * @example
 * ```ts
 * const options: SingleObjectOptions = { size: 32 };
 * ```
 */
export type SingleObjectOptions = Omit<ShapesOptions, 'layouts'>;

function single(options: SingleObjectOptions | undefined): ShapesOptions {
  return { ...options, layouts: ['single'] };
}

/**
 * One object on a background (any size, position, pattern), with its label: for zero-shot color
 * and shape classification. `options.layouts` does not apply.
 *
 * @example
 * ```ts
 * const { image, label, labelIndex } = sampleSingleObject(7);
 * ```
 */
export function sampleSingleObject(seed: number, options?: SingleObjectOptions): SingleObjectSample {
  // Checked before `single()` spreads them: a stray `layouts` (or a misspelt key) would be dropped
  // or overridden without a word.
  checkSeed(seed, 'sampleSingleObject()');
  resolveOptions(options, 'sampleSingleObject()', SINGLE_OBJECT_OPTION_KEYS);
  return withLabel(generateShapes(seed, single(options)));
}

/**
 * An endless stream of single objects from the training seed domain (see {@link shapesStream}).
 *
 * @example
 * ```ts
 * const stream = singleObjectStream(0);
 * const batch = Array.from({ length: 32 }, () => stream.next().value);
 * ```
 */
export function singleObjectStream(
  seed = 0,
  options?: SingleObjectOptions,
): Generator<SingleObjectSample, never, undefined> {
  checkSeed(seed, 'singleObjectStream()');
  // The checked copy, so a later edit of the caller's object changes nothing (see shapesStream).
  const { size, textures, supersample } = resolveOptions(
    options,
    'singleObjectStream()',
    SINGLE_OBJECT_OPTION_KEYS,
  );
  return stream(seed, { size, textures, supersample });
}

function* stream(
  seed: number,
  options: SingleObjectOptions | undefined,
): Generator<SingleObjectSample, never, undefined> {
  for (let index = 0; ; index++) yield sampleSingleObject(trainingSeed(seed, index), options);
}

/**
 * The fixed held-out single objects (held-out seed domain, see {@link heldOutShapes}).
 *
 * @example
 * ```ts
 * const test = heldOutSingleObjects(480); // zero-shot accuracy over 48 labels
 * ```
 */
export function heldOutSingleObjects(n: number, options?: SingleObjectOptions): SingleObjectSample[] {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`heldOutSingleObjects(): n must be a non-negative integer, got ${describeValue(n)}`);
  }
  resolveOptions(options, 'heldOutSingleObjects()', SINGLE_OBJECT_OPTION_KEYS);
  return Array.from({ length: n }, (_, index) => sampleSingleObject(heldOutSeed(index), options));
}
