import { checkScene } from './checkScene.js';
import { holds, RELATIONS } from './relations.js';
import { describeValue } from './options.js';
import type { Random } from './random.js';
import type { Scene, SceneObject } from './scene.js';
import { COLORS, NUMBER_WORDS, pluralShape, SHAPES } from './world.js';

/**
 * What a question asks about.
 *
 * @example
 * ```ts
 * const colorQuestions = sceneQuestions(scene).filter((q) => q.kind === ('color' satisfies QuestionKind));
 * ```
 */
export type QuestionKind =
  | 'color'
  | 'shape'
  | 'count'
  | 'exists'
  | 'position'
  | 'relation'
  | 'size'
  | 'background';

/**
 * One question about a scene with its one correct answer (one or two lowercase words).
 *
 * @example
 * ```ts
 * const qa: QuestionAnswer = { kind: 'count', question: 'how many stars are there?', answer: 'two' };
 * ```
 */
export interface QuestionAnswer {
  kind: QuestionKind;
  question: string;
  answer: string;
}

/**
 * The shortest name that picks out exactly this object: "the circle" when it is the only circle,
 * else "the red circle" when it is the only red circle, else `null`.
 */
function reference(object: SceneObject, scene: Scene): string | null {
  const same = (test: (o: SceneObject) => boolean): number => scene.objects.filter(test).length;
  if (same((o) => o.shape === object.shape) === 1) return `the ${object.shape}`;
  if (same((o) => o.shape === object.shape && o.color === object.color) === 1) {
    return `the ${object.color} ${object.shape}`;
  }
  return null;
}

/**
 * Every question the scene answers unambiguously, in a fixed order. Counts are answered with number
 * words ("zero" .. "four"), yes/no questions with "yes" or "no", positions with a 3x3-grid region
 * ("top left", "center"), sizes with "small" or "large", backgrounds with their pattern ("striped").
 * A question is only asked when its subject is unique in the scene (the color of "the circle" only
 * when there is one circle) and, for positions and relations, when the centers are clearly apart
 * from the grid lines or from each other. A scene outside what the generator makes throws an error
 * naming the field.
 *
 * @example
 * ```ts
 * for (const { question, answer } of sceneQuestions(generateShapes(5).scene)) {
 *   console.log(question, '->', answer); // "how many circles are there? -> zero", "is there a circle? -> no", ...
 * }
 * ```
 */
export function sceneQuestions(scene: Scene): QuestionAnswer[] {
  checkScene(scene, 'sceneQuestions()');
  const qa: QuestionAnswer[] = [];
  const { objects } = scene;
  for (const shape of SHAPES) {
    const matching = objects.filter((o) => o.shape === shape);
    if (matching.length === 1) {
      qa.push({ kind: 'color', question: `what color is the ${shape}?`, answer: matching[0]!.color });
    }
    qa.push({
      kind: 'count',
      question: `how many ${pluralShape(shape)} are there?`,
      answer: NUMBER_WORDS[matching.length]!,
    });
    qa.push({ kind: 'exists', question: `is there a ${shape}?`, answer: matching.length > 0 ? 'yes' : 'no' });
  }
  for (const color of COLORS) {
    const matching = objects.filter((o) => o.color === color);
    if (matching.length === 1) {
      qa.push({ kind: 'shape', question: `what shape is the ${color} object?`, answer: matching[0]!.shape });
    }
    if (matching.length > 0) {
      qa.push({
        kind: 'count',
        question: `how many ${color} objects are there?`,
        answer: NUMBER_WORDS[matching.length]!,
      });
    }
  }
  qa.push({ kind: 'count', question: 'how many objects are there?', answer: NUMBER_WORDS[objects.length]! });
  const named = objects.map((o) => ({ object: o, name: reference(o, scene) }));
  for (const { object, name } of named) {
    if (name === null) continue;
    qa.push({ kind: 'size', question: `what size is ${name}?`, answer: object.size });
    if (object.region) qa.push({ kind: 'position', question: `where is ${name}?`, answer: object.region });
  }
  for (const a of named) {
    for (const b of named) {
      if (a === b || a.name === null || b.name === null) continue;
      for (const relation of RELATIONS) {
        const answer = holds(relation, a.object, b.object, scene);
        if (answer === null) continue;
        qa.push({
          kind: 'relation',
          question: `is ${a.name} ${relation} ${b.name}?`,
          answer: answer ? 'yes' : 'no',
        });
      }
    }
  }
  qa.push({
    kind: 'background',
    question: 'what pattern is the background?',
    answer: scene.background.pattern,
  });
  return qa;
}

/**
 * Picks one question for training with the kinds balanced: a kind uniformly among those present,
 * then a question of that kind uniformly (so the many "how many hearts are there? zero" questions
 * do not crowd out the rest). An empty list throws a RangeError; a list that is not an array, or a
 * `random` without `pick` (a forgotten `createRandom(seed)`), a TypeError naming the argument.
 *
 * @example
 * ```ts
 * const random = createRandom(1);
 * const { question, answer } = pickQuestion(sceneQuestions(generateShapes(5).scene), random);
 * ```
 */
export function pickQuestion(questions: readonly QuestionAnswer[], random: Random): QuestionAnswer {
  if (!Array.isArray(questions)) {
    throw new TypeError(
      `pickQuestion(): questions must be an array (sceneQuestions(scene)), got ${describeValue(questions)}`,
    );
  }
  if (typeof (random as Partial<Random> | undefined)?.pick !== 'function') {
    throw new TypeError(
      `pickQuestion(): random must be a Random (createRandom(seed)), got ${describeValue(random)}`,
    );
  }
  if (questions.length === 0) throw new RangeError('pickQuestion(): the list of questions is empty');
  const kinds = [...new Set(questions.map((q) => q.kind))];
  const kind = random.pick(kinds);
  return random.pick(questions.filter((q) => q.kind === kind));
}
