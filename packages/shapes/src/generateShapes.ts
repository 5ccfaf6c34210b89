import { canonicalCaption, sceneCaptions } from './captions.js';
import { describeValue, resolveOptions, type ShapesOptions } from './options.js';
import { type QuestionAnswer, sceneQuestions } from './questions.js';
import { createRandom, hashSeed } from './random.js';
import { renderScene, type ShapesImage } from './renderScene.js';
import { sampleScene } from './sampleScene.js';
import type { Scene } from './scene.js';

/**
 * One image of the shapes world with everything known about it.
 *
 * @example
 * ```ts
 * const { image, scene, caption, questions }: ShapesSample = generateShapes(1);
 * ```
 */
export interface ShapesSample {
  /** The seed this sample was generated from: `generateShapes(seed, options)` gives it again. */
  seed: number;
  image: ShapesImage;
  scene: Scene;
  /** One of `captions`, picked by the seed (training sees every template). */
  caption: string;
  /** The canonical caption (colors, shapes, counts, relation): `captions[0]`. */
  canonicalCaption: string;
  /** Every template's caption of the scene, all true of it. */
  captions: string[];
  /** Every question the scene answers unambiguously, with its answer. */
  questions: QuestionAnswer[];
}

export function checkSeed(seed: number, caller: string): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`${caller}: seed must be a non-negative integer, got ${describeValue(seed)}`);
  }
}

/**
 * Generates one sample from a seed: the same seed and options give the same bytes, captions and
 * questions on every platform.
 *
 * @example
 * ```ts
 * const { image, scene, caption, questions } = generateShapes(42, { size: 64 });
 * console.log(caption, scene.objects.length, questions[0]);
 * ```
 */
export function generateShapes(seed: number, options?: ShapesOptions): ShapesSample {
  checkSeed(seed, 'generateShapes()');
  const resolved = resolveOptions(options, 'generateShapes()');
  const random = createRandom(seed);
  const scene = sampleScene(random, resolved);
  const image = renderScene(scene, { supersample: resolved.supersample });
  const captions = sceneCaptions(scene);
  return {
    seed,
    image,
    scene,
    caption: random.pick(captions),
    canonicalCaption: canonicalCaption(scene),
    captions,
    questions: sceneQuestions(scene),
  };
}

/** The seed domain of the held-out split (odd seeds); training streams use even seeds. */
const HELD_OUT_STREAM = 0x4e1d0;

/**
 * The seed of sample `index` of the training stream `streamSeed`. Training seeds are always even and
 * held-out seeds ({@link heldOutSeed}) always odd, so the two splits never share a sample.
 *
 * @example
 * ```ts
 * const sample = generateShapes(trainingSeed(0, 123)); // the 124th sample of shapesStream(0)
 * ```
 */
export function trainingSeed(streamSeed: number, index: number): number {
  checkSeed(streamSeed, 'trainingSeed()');
  checkSeed(index, 'trainingSeed()');
  return (hashSeed(streamSeed, index) & ~1) >>> 0;
}

/**
 * The seed of held-out sample `index` (always odd; see {@link trainingSeed}).
 *
 * @example
 * ```ts
 * const fifth = generateShapes(heldOutSeed(4)); // the same as heldOutShapes(5)[4]
 * ```
 */
export function heldOutSeed(index: number): number {
  checkSeed(index, 'heldOutSeed()');
  return (hashSeed(HELD_OUT_STREAM, index) | 1) >>> 0;
}

/**
 * An endless training stream: sample `i` is `generateShapes(trainingSeed(seed, i), options)`.
 *
 * @example
 * ```ts
 * for (const sample of shapesStream(0, { size: 32 })) {
 *   train(sample.image, sample.caption);
 *   if (done()) break;
 * }
 * ```
 */
export function shapesStream(seed = 0, options?: ShapesOptions): Generator<ShapesSample, never, undefined> {
  // Checked here, not inside the generator, so a bad option fails at the call and not at the first next();
  // the stream keeps the checked copy, so a later edit of the caller's object changes nothing.
  checkSeed(seed, 'shapesStream()');
  return stream(seed, resolveOptions(options, 'shapesStream()'));
}

function* stream(
  seed: number,
  options: ShapesOptions | undefined,
): Generator<ShapesSample, never, undefined> {
  for (let index = 0; ; index++) yield generateShapes(trainingSeed(seed, index), options);
}

/**
 * The fixed held-out split: the first `n` held-out samples, the same every time and never in a
 * training stream (their seeds are odd, training seeds even).
 *
 * @example
 * ```ts
 * const test = heldOutShapes(200, { size: 64 });
 * ```
 */
export function heldOutShapes(n: number, options?: ShapesOptions): ShapesSample[] {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`heldOutShapes(): n must be a non-negative integer, got ${describeValue(n)}`);
  }
  resolveOptions(options, 'heldOutShapes()');
  return Array.from({ length: n }, (_, index) => generateShapes(heldOutSeed(index), options));
}
