import { expect, test } from 'vitest';
import { ClipTokenizer, wordVocabularyFiles } from '../src/index.js';

test('a word vocabulary gives one token per known word and still encodes unknown text', () => {
  const tokenizer = ClipTokenizer.fromHfFiles(wordVocabularyFiles(['a', 'red', 'circle', 'above']));
  const ids = tokenizer.encode('A red circle, above!');
  // start, a, red, circle, ",", above, "!", end
  expect(ids).toHaveLength(8);
  expect(ids[0]).toBe(tokenizer.startId);
  expect(ids.at(-1)).toBe(tokenizer.endId);
  expect(tokenizer.decode(ids.slice(1, -1)).trim()).toBe('a red circle , above !');
  expect(tokenizer.vocabSize).toBe(512 + 'red'.length - 1 + 'circle'.length - 1 + 'above'.length - 1 + 2);
  expect(tokenizer.encode('blue').length).toBe(2 + 4); // unknown word: byte tokens
});

test('a word with whitespace is refused by name', () => {
  expect(() => wordVocabularyFiles(['red circle'])).toThrow(/"red circle" is not a single word/);
});
