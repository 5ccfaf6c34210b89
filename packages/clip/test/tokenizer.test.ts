import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
// Modules are imported directly (not through src/index.ts) so these tests do not depend on the
// model code that the index also exports.
import { ClipTokenizer } from '../src/tokenizer/ClipTokenizer.js';
import { cleanText } from '../src/tokenizer/cleanText.js';
import { htmlUnescape } from '../src/tokenizer/htmlUnescape.js';
import { imagenetClasses, imagenetTemplates } from '../src/tokenizer/imagenetPrompts.js';
import { loadBpeVocabulary } from '../src/tokenizer/loadBpeVocabulary.js';
import { parseBpeVocabulary } from '../src/tokenizer/parseBpeVocabulary.js';

interface ReferenceCase {
  text: string;
  ids: number[];
  decoded: string;
}

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const asset = (name: string) => fileURLToPath(new URL(`../assets/${name}`, import.meta.url));
// openai/CLIP's simple_tokenizer on 22 texts (copied from shared/fixtures/clip-bpe/reference.json).
const reference: ReferenceCase[] = JSON.parse(readFileSync(fixture('tokenizer-reference.json'), 'utf8'));

let vocabularyText: string;
let tokenizer: ClipTokenizer;

beforeAll(async () => {
  vocabularyText = await loadBpeVocabulary();
  tokenizer = ClipTokenizer.fromBpeVocabulary(vocabularyText);
});

describe('ClipTokenizer', () => {
  it('matches openai/CLIP on every reference text', () => {
    expect(reference.length).toBe(22);
    for (const { text, ids, decoded } of reference) {
      expect(tokenizer.encode(text), JSON.stringify(text)).toEqual(ids);
      expect(tokenizer.decode(ids), JSON.stringify(text)).toBe(decoded);
    }
  });

  it('loads the shipped vocabulary with the CLIP sizes and special ids', async () => {
    const loaded = await ClipTokenizer.load();
    expect(loaded.vocabSize).toBe(49408);
    expect(loaded.startId).toBe(49406);
    expect(loaded.endId).toBe(49407);
    expect(loaded.contextLength).toBe(77);
    expect(loaded.tokenize('A cat!')).toEqual(['a</w>', 'cat</w>', '!</w>']);
  });

  it('loads the vocabulary from a path, gzipped bytes and plain bytes', async () => {
    const gz = readFileSync(asset('bpe_simple_vocab_16e6.txt.gz'));
    const plain = new TextEncoder().encode(vocabularyText);
    const texts = [
      await loadBpeVocabulary(asset('bpe_simple_vocab_16e6.txt.gz')),
      await loadBpeVocabulary(new Uint8Array(gz)),
      await loadBpeVocabulary(plain.buffer),
    ];
    for (const text of texts) expect(text).toBe(vocabularyText);
  });

  it('encodes a batch into padded rows with an attention mask', () => {
    const texts = ['a photo of a cat', '', 'an armchair in the shape of an avocado'];
    const { inputIds, attentionMask, shape } = tokenizer.encodeBatch(texts);
    expect(shape).toEqual([3, 77]);
    expect(inputIds).toBeInstanceOf(Int32Array);
    expect(inputIds.length).toBe(3 * 77);
    texts.forEach((text, row) => {
      const ids = tokenizer.encode(text);
      const rowIds = Array.from(inputIds.subarray(row * 77, (row + 1) * 77));
      const rowMask = Array.from(attentionMask.subarray(row * 77, (row + 1) * 77));
      expect(rowIds).toEqual([...ids, ...new Array(77 - ids.length).fill(0)]);
      expect(rowMask).toEqual([...ids.map(() => 1), ...new Array(77 - ids.length).fill(0)]);
      expect(tokenizer.decode(rowIds)).toBe(tokenizer.decode(ids));
    });
  });

  it('takes a context length and pad id', () => {
    const { inputIds, shape } = tokenizer.encodeBatch(['a cat'], { contextLength: 6, padId: 49407 });
    expect(shape).toEqual([1, 6]);
    expect(Array.from(inputIds)).toEqual([49406, 320, 2368, 49407, 49407, 49407]);
    expect(tokenizer.encodeBatch([]).shape).toEqual([0, 77]);
  });

  it("pads to the longest text with padding 'longest' (transformers' padding=True), truncation first", () => {
    const { inputIds, attentionMask, shape } = tokenizer.encodeBatch(['a cat', 'a photo of a dog'], {
      padding: 'longest',
    });
    expect(shape).toEqual([2, 7]); // start, a, photo, of, a, dog, end
    expect(Array.from(inputIds.subarray(0, 7))).toEqual([49406, 320, 2368, 49407, 0, 0, 0]);
    expect(Array.from(attentionMask.subarray(0, 7))).toEqual([1, 1, 1, 1, 0, 0, 0]);
    const long = new Array(90).fill('cat').join(' ');
    expect(tokenizer.encodeBatch([long, 'a'], { padding: 'longest', truncate: true }).shape).toEqual([2, 77]);
    expect(tokenizer.encodeBatch([], { padding: 'longest' }).shape).toEqual([0, 0]);
    expect(() => tokenizer.encodeBatch(['a'], { padding: true } as never)).toThrow(
      `padding must be 'max_length' or 'longest', got true`,
    );
    // Written into an Int32Array, 1.5 became 1 and 2 ** 31 wrapped to a negative id.
    for (const padId of [1.5, 2 ** 31, -1, Number.NaN]) {
      expect(() => tokenizer.encodeBatch(['a'], { padId })).toThrow(
        `ClipTokenizer.encodeBatch(): padId must be a token id (an integer from 0 to 2^31 - 1), got ${padId}`,
      );
    }
    expect(() => tokenizer.encodeBatch(['a'], null as never)).toThrow(
      'ClipTokenizer.encodeBatch(): options must be an object, got null',
    );
    expect(() => tokenizer.encodeBatch(['a'], { pad_id: 1 } as never)).toThrow(
      'ClipTokenizer.encodeBatch(): unknown option "pad_id" (expected contextLength, truncate, padId, padding)',
    );
  });

  it('rejects a text longer than the context unless asked to truncate', () => {
    const long = 'a photo of a very very very very very very very very very very very long cat';
    const ids = tokenizer.encode(long); // 19 tokens
    expect(() => tokenizer.encodeBatch(['ok', long], { contextLength: 10 })).toThrow(
      `text 1 ("a photo of a very very very very very ve…") has ${ids.length} tokens, more than the context length 10`,
    );
    const { inputIds, attentionMask } = tokenizer.encodeBatch([long], { contextLength: 10, truncate: true });
    // openai/CLIP's tokenize(truncate=True): the first 9 tokens, then the end token.
    expect(Array.from(inputIds)).toEqual([...ids.slice(0, 9), 49407]);
    expect(Array.from(attentionMask)).toEqual(new Array(10).fill(1));
    // 75 words plus start and end is 77: fits exactly; one more word does not.
    expect(() => tokenizer.encodeBatch([new Array(75).fill('cat').join(' ')])).not.toThrow();
    expect(() => tokenizer.encodeBatch([new Array(76).fill('cat').join(' ')])).toThrow('has 78 tokens');
  });

  it('reads decomposed accents as composed ones (ftfy.fix_text and the tokenizer.json normalize to NFC)', () => {
    const composed = 'naïve café';
    expect(tokenizer.encode(composed.normalize('NFD'))).toEqual(tokenizer.encode(composed));
    expect(tokenizer.encode('cafe\u0301')).toEqual(tokenizer.encode('café'));
  });

  it('drops C0 control characters as openai/CLIP does (ftfy.fix_text removes them)', () => {
    // Ids from openai/CLIP's simple_tokenizer.py (ftfy 6.3.1, regex 2026.5.9) on the shipped
    // vocabulary: "a\x1cb" is the word "ab". Without ftfy's step U+001C is whitespace (two words,
    // [320, 321]) and U+0000 / U+007F are byte tokens of their own ([320, 444, 322], [343, 477, 344]).
    expect(tokenizer.encode('a\x1cb')).toEqual([tokenizer.startId, 3937, tokenizer.endId]);
    expect(tokenizer.encode('a\x00c')).toEqual([tokenizer.startId, 2816, tokenizer.endId]);
    expect(tokenizer.encode('x\x7fy')).toEqual([tokenizer.startId, 11443, tokenizer.endId]);
    expect(tokenizer.encode('tab\x0bv')).toEqual([tokenizer.startId, 2648, 341, tokenizer.endId]);
  });

  it('decodes with or without special tokens and rejects unknown ids', () => {
    const ids = [49406, 49406, 3306, 49407, 49407];
    expect(tokenizer.decode(ids)).toBe('<|startoftext|>hello <|endoftext|>');
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe('hello ');
    expect(tokenizer.decode(ids, { skipSpecialTokens: false })).toBe(
      '<|startoftext|><|startoftext|>hello <|endoftext|><|endoftext|>',
    );
    expect(tokenizer.decode(new Int32Array([320, 2368]))).toBe('a cat ');
    // A token that ends inside a UTF-8 sequence decodes to U+FFFD, as Python's errors="replace".
    const leadByte = parseBpeVocabulary(vocabularyText).vocab.indexOf('\u00e2'); // byte 0xE2, as in ☕
    expect(tokenizer.decode([320, leadByte])).toBe('a \ufffd');
    expect(() => tokenizer.decode([49408])).toThrow('49408 is not a token id');
    expect(() => tokenizer.decode([1.5])).toThrow('1.5 is not a token id');
  });

  it('builds the same tokenizer from Hugging Face vocab.json + merges.txt and tokenizer.json', () => {
    const { vocab, merges } = parseBpeVocabulary(vocabularyText);
    const vocabJson = JSON.stringify(Object.fromEntries(vocab.map((token, id) => [token, id])));
    const mergesTxt = ['#version: 0.2', ...merges.map(([a, b]) => `${a} ${b}`), ''].join('\n');
    const fromFiles = ClipTokenizer.fromHfFiles({ vocab: vocabJson, merges: mergesTxt });
    const tokenizerJson = {
      model: {
        type: 'BPE',
        vocab: Object.fromEntries(vocab.slice(0, -2).map((token, id) => [token, id])),
        merges: merges.map(([a, b], i) => (i % 2 ? `${a} ${b}` : ([a, b] as const))),
      },
      added_tokens: [
        { id: 49406, content: '<|startoftext|>' },
        { id: 49407, content: '<|endoftext|>' },
      ],
    };
    const fromJson = ClipTokenizer.fromTokenizerJson(tokenizerJson);
    for (const hf of [fromFiles, fromJson]) {
      expect(hf.vocabSize).toBe(49408);
      expect(hf.startId).toBe(49406);
      expect(hf.endId).toBe(49407);
      for (const { text, ids, decoded } of reference) {
        expect(hf.encode(text)).toEqual(ids);
        expect(hf.decode(ids)).toBe(decoded);
      }
    }
  });

  it('explains bad vocabulary files', () => {
    expect(() => ClipTokenizer.fromBpeVocabulary('#version: 0.2\ni n\n')).toThrow('at least 48895 lines');
    expect(() => ClipTokenizer.fromHfFiles({ vocab: '{"a": 0', merges: '' })).toThrow(
      'vocab.json is not valid JSON',
    );
    expect(() => ClipTokenizer.fromHfFiles({ vocab: { a: 0 }, merges: '#version: 0.2\na b c' })).toThrow(
      'merges.txt line 2',
    );
    expect(() => ClipTokenizer.fromHfFiles({ vocab: { a: 0, b: 1 }, merges: '' })).toThrow(
      'no <|startoftext|> token',
    );
    expect(() =>
      ClipTokenizer.fromTokenizerJson({ model: { type: 'WordPiece', vocab: {}, merges: [] } }),
    ).toThrow('WordPiece model, not BPE');
    expect(() => tokenizer.encodeBatch(['a', 3 as unknown as string])).toThrow('text 1 is number');
  });

  it('points a constructor call without a vocabulary to ClipTokenizer.load', () => {
    const Untyped = ClipTokenizer as unknown as new (v?: unknown) => ClipTokenizer;
    for (const bad of [undefined, {}, { vocab: [], merges: 'a b' }]) {
      expect(() => new Untyped(bad)).toThrow('`await ClipTokenizer.load()` loads the one shipped');
    }
  });

  it('names a vocabulary file it cannot read', async () => {
    await expect(ClipTokenizer.load('/nonexistent/bpe_simple_vocab_16e6.txt.gz')).rejects.toThrow(
      'ClipTokenizer.load: cannot read /nonexistent/bpe_simple_vocab_16e6.txt.gz: ENOENT',
    );
  });

  it('accepts gzipped text built in memory', async () => {
    const small = await loadBpeVocabulary(gzipSync(Buffer.from('hello\n')));
    expect(small).toBe('hello\n');
  });
});

describe('cleanText', () => {
  it('unescapes HTML like Python html.unescape', () => {
    // Expected values printed by Python 3.11's html.unescape.
    expect(
      htmlUnescape('&ampx &notit; &notin; &#128; &#0; &#x110000; &#1;|&#xD800;|&constructor;|&toString'),
    ).toBe('&x \u00acit; \u2209 \u20ac \ufffd \ufffd |\ufffd|&constructor;|&toString');
    expect(htmlUnescape('&#X41;&#65&amp;amp;')).toBe('AA&amp;');
  });

  it('unescapes twice, collapses Python whitespace and lowercases', () => {
    expect(cleanText('  A  Photo &amp;amp;\tMore ')).toBe('a photo & more');
    // U+0085 and U+3000 are whitespace to Python.
    expect(cleanText('a\x85c\u3000d\u3000')).toBe('a c d');
  });

  it('deletes the control characters ftfy.fix_text deletes, before the rest', () => {
    // ftfy's remove_control_chars: U+0000-U+0008, U+000B, U+000E-U+001F, U+007F, U+206A-U+206F,
    // U+FEFF, U+FFF9-U+FFFC. Tab, line feed, form feed and carriage return stay whitespace.
    expect(cleanText('a\x1cb\x00c\x7fd\vE\ufeff\u206af\ufffcg')).toBe('abcdefg');
    expect(cleanText('a\tb\nc\fd\re')).toBe('a b c d e');
  });
});

describe('imagenet prompts', () => {
  it('has the 80 templates and 1,000 classes of assets/imagenet_prompts.json', () => {
    const json = JSON.parse(readFileSync(asset('imagenet_prompts.json'), 'utf8'));
    expect(imagenetTemplates).toHaveLength(80);
    expect(imagenetClasses).toHaveLength(1000);
    expect(imagenetTemplates).toEqual(json.imagenet_templates);
    expect(imagenetClasses).toEqual(json.imagenet_classes);
    for (const template of imagenetTemplates) expect(template).toContain('{}');
  });
});
