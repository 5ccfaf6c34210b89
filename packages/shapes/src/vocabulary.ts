import { RELATIONS } from './relations.js';
import { COLORS, NUMBER_WORDS, PATTERNS, pluralShape, REGIONS, SHAPES, SIZES } from './world.js';

/** The fixed words of the caption and question templates. */
const TEMPLATE_WORDS = [
  'a',
  'an',
  'and',
  'are',
  'background',
  'how',
  'in',
  'is',
  'many',
  'no',
  'object',
  'objects',
  'of',
  'on',
  'pattern',
  'picture',
  'shape',
  'shapes',
  'size',
  'color',
  'the',
  'there',
  'what',
  'where',
  'yes',
];

/**
 * Splits a caption, question or answer into word-level tokens: lowercase words, with "?" and ","
 * as tokens of their own.
 *
 * @example
 * ```ts
 * tokenizeShapesText('What color is the circle?'); // ["what", "color", "is", "the", "circle", "?"]
 * ```
 */
export function tokenizeShapesText(text: string): string[] {
  if (typeof text !== 'string')
    throw new TypeError(`tokenizeShapesText(): text must be a string, got ${typeof text}`);
  return text.toLowerCase().match(/[a-z]+|[?,]/g) ?? [];
}

/**
 * Every token that captions, questions and answers of the shapes world use, sorted (punctuation
 * first), without special tokens: a word-level tokenizer adds its own padding and boundary tokens.
 *
 * @example
 * ```ts
 * const words = shapesVocabulary();
 * const id = new Map(words.map((w, i) => [w, i + 3])); // after <pad>, <bos>, <eos>
 * ```
 */
export function shapesVocabulary(): string[] {
  const words = new Set<string>(['?', ',', ...TEMPLATE_WORDS]);
  const phrases = [
    ...COLORS,
    ...SHAPES,
    ...SHAPES.map(pluralShape),
    ...SIZES,
    ...PATTERNS,
    ...REGIONS,
    ...NUMBER_WORDS,
    ...RELATIONS,
  ];
  for (const phrase of phrases) for (const word of tokenizeShapesText(phrase)) words.add(word);
  return [...words].sort();
}
