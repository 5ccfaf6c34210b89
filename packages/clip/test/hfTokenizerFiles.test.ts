import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../src/tokenizer/ClipTokenizer.js';
import type { HfTokenizerJson } from '../src/tokenizer/hfTokenizerFiles.js';
import { wordVocabularyFiles } from '../src/tokenizer/wordVocabularyFiles.js';

// 512 byte tokens, the merges "c a" and "ca t</w>" (so "cat</w>" has id 513), then the two specials.
const base = wordVocabularyFiles(['cat']);
const catId = base.vocab['cat</w>']!;
const mergesTxt = `#version: 0.2\n${base.merges}\n`;

function tokenizerJson(
  merges: unknown[],
  extra: Record<string, unknown> = {},
  vocab: unknown = base.vocab,
): HfTokenizerJson {
  return { model: { type: 'BPE', vocab, merges }, ...extra } as unknown as HfTokenizerJson;
}

describe('Hugging Face tokenizer files are checked when they are loaded', () => {
  it('refuses a merge whose result or parts the vocabulary lacks, naming the file and the merge', () => {
    const noCat: Record<string, number> = { ...base.vocab };
    delete noCat['cat</w>'];
    expect(() => ClipTokenizer.fromHfFiles({ vocab: noCat, merges: mergesTxt })).toThrow(
      'merges.txt line 3: the merge "ca t</w>" makes "cat</w>", which vocab.json lacks',
    );
    expect(() => ClipTokenizer.fromHfFiles({ vocab: base.vocab, merges: `${mergesTxt}ca qq\n` })).toThrow(
      'merges.txt line 4: the merge "ca qq" uses "qq", which vocab.json lacks',
    );
    const noCa: Record<string, number> = { ...base.vocab };
    delete noCa.ca;
    expect(() => ClipTokenizer.fromTokenizerJson(tokenizerJson(['c a', ['ca', 't</w>']], {}, noCa))).toThrow(
      'tokenizer.json model.merges[0]: the merge "c a" makes "ca", which the vocabulary lacks',
    );
  });

  it('refuses two tokens with one id, in vocab.json, model.vocab, or model.vocab and added_tokens', () => {
    expect(() =>
      ClipTokenizer.fromHfFiles({ vocab: { ...base.vocab, 'dog</w>': catId }, merges: mergesTxt }),
    ).toThrow(`vocab.json: tokens "cat</w>" and "dog</w>" share the id ${catId}`);
    expect(() =>
      ClipTokenizer.fromTokenizerJson(
        tokenizerJson(['c a', 'ca t</w>'], { added_tokens: [{ id: catId, content: '<|pad|>' }] }),
      ),
    ).toThrow(
      `tokenizer.json added_tokens[0]: tokens "cat</w>" and "<|pad|>" share the id ${catId} ("cat</w>" from tokenizer.json model.vocab)`,
    );
    // The same token with the same id in both, as in openai/clip-vit-base-patch32's tokenizer.json, is fine.
    const endId = base.vocab['<|endoftext|>']!;
    const same = ClipTokenizer.fromTokenizerJson(
      tokenizerJson(['c a', 'ca t</w>'], { added_tokens: [{ id: endId, content: '<|endoftext|>' }] }),
    );
    expect(same.endId).toBe(endId);
  });

  it('refuses a vocabulary that is not an object of integer ids, and malformed added_tokens and merges', () => {
    const specials = [
      { id: 0, content: '<|startoftext|>' },
      { id: 1, content: '<|endoftext|>' },
    ];
    expect(() =>
      ClipTokenizer.fromTokenizerJson(tokenizerJson([], { added_tokens: specials }, null)),
    ).toThrow('tokenizer.json model.vocab must be an object of token to id, got null');
    expect(() => ClipTokenizer.fromTokenizerJson(tokenizerJson([], {}, [['a', 0]]))).toThrow(
      'tokenizer.json model.vocab must be an object of token to id, got an array',
    );
    expect(() => ClipTokenizer.fromHfFiles({ vocab: '[["a", 0]]', merges: '' })).toThrow(
      'vocab.json must be an object of token to id, got an array',
    );
    expect(() => ClipTokenizer.fromHfFiles({ vocab: { ...base.vocab, x: 1.5 }, merges: '' })).toThrow(
      'vocab.json gives token "x" the id 1.5, not a non-negative integer',
    );
    expect(() =>
      ClipTokenizer.fromTokenizerJson(tokenizerJson([], { added_tokens: [{ content: '<|startoftext|>' }] })),
    ).toThrow(
      'tokenizer.json added_tokens[0] ("<|startoftext|>") has the id undefined, not a non-negative integer',
    );
    expect(() =>
      ClipTokenizer.fromTokenizerJson(tokenizerJson([], { added_tokens: [{ id: 600, content: 7 }] })),
    ).toThrow('tokenizer.json added_tokens[0] has no string content');
    expect(() => ClipTokenizer.fromTokenizerJson(tokenizerJson([['c']]))).toThrow(
      'tokenizer.json model.merges[0]: expected "left right" or [left, right] (two tokens), got ["c"]',
    );
    expect(() => ClipTokenizer.fromTokenizerJson(tokenizerJson(['c a', ['c', 'a', 'x']]))).toThrow(
      'tokenizer.json model.merges[1]: expected',
    );
    expect(() => ClipTokenizer.fromTokenizerJson(tokenizerJson([[1, 2]]))).toThrow(
      'tokenizer.json model.merges[0]: expected',
    );
  });

  it('still loads the shapes CLIP shipped in @vl/shapes (vocab.json and merges.txt)', () => {
    const folder = new URL('../../shapes/models/clip/', import.meta.url);
    const read = (name: string) => readFileSync(fileURLToPath(new URL(name, folder)), 'utf8');
    const merges = read('merges.txt');
    expect(merges.startsWith('#version: 0.2\n')).toBe(true);
    const tokenizer = ClipTokenizer.fromHfFiles({ vocab: read('vocab.json'), merges });
    // Whole words: start, a, red, circle, end.
    expect(tokenizer.encode('a red circle')).toHaveLength(5);
  });
});

describe('wordVocabularyFiles takes only words that CLIP reads as one word', () => {
  it.each([
    ['Red', 'reads it as "red"'],
    ["don't", 'splits it into "don", "\'t"'],
    ['3d', 'splits it into "3", "d"'],
    ['a.b', 'splits it into "a", ".", "b"'],
    ['&amp;', 'reads it as "&"'],
    ['<|endoftext|>', 'reads it as the special token "<|endoftext|>"'],
  ])('refuses %j by name', (word, why) => {
    expect(() => wordVocabularyFiles(['a', word])).toThrow(
      `wordVocabularyFiles: ${JSON.stringify(word)} is not a single word: CLIP's tokenizer ${why}`,
    );
  });

  it('accepts lowercase words, punctuation runs and accented words, each one token', () => {
    const words = ['a', 'red', '?', ',', '$&', "'s", 'naïve', 'x'];
    const tokenizer = ClipTokenizer.fromHfFiles(wordVocabularyFiles(words));
    for (const word of words) {
      const ids = tokenizer.encode(word).slice(1, -1);
      expect(ids).toHaveLength(1);
      expect(tokenizer.decode(ids)).toBe(`${word} `);
    }
  });
});
