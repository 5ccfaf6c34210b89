// What VlmTokenizer makes of tokenizer.json files that @huggingface/tokenizers reads wrongly or
// fails on without naming the field, checked against what Rust tokenizers (transformers) does: a
// hand-built Llama-style file (byte fallback, "▁" spaces, a BOS template), then broken copies of it.
import { describe, expect, test } from 'vitest';
import { VlmTokenizer } from '../src/index.js';

// biome-ignore lint/suspicious/noExplicitAny: the tests break the file in ways its types would forbid
type Json = Record<string, any>;

const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

/** Ids: <unk> 0, <s> 1, </s> 2, <0x00>..<0xFF> 3..258, then '▁' 259, 'a' 260, ... */
function llamaStyle(): Json {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  for (const piece of ['▁', 'a', 'b', 'h', 'i', '▁a', '▁b', 'hi', '▁hi'])
    vocab[piece] = Object.keys(vocab).length;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>'), special(300, '<image>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: ['▁ a', '▁ b', 'h i', '▁ hi'],
    },
  };
}

/** A copy of the Llama-style file changed by `change`. */
function broken(change: (json: Json) => void): Json {
  const json = llamaStyle();
  change(json);
  return json;
}

const byte = (b: number) => 3 + b;

describe('tokenizer.json checks', () => {
  test('the Llama-style file loads and round-trips', () => {
    const tokenizer = VlmTokenizer.fromJson(llamaStyle());
    const ids = tokenizer.encode('hi a <image>');
    expect(ids).toEqual([1, 267, 264, 259, 300]);
    expect(tokenizer.decode(ids, { skipSpecialTokens: false })).toBe('<s> hi a <image>');
  });

  test('refuses a malformed tokenizer.json with an error that names the field', () => {
    const cases: [string, (json: Json) => void, string][] = [
      ['no vocab', (j) => delete j.model.vocab, 'tokenizer.json model.vocab: expected an object'],
      [
        'vocab as a list',
        (j) => (j.model.vocab = Object.keys(j.model.vocab)),
        'model.vocab: expected an object',
      ],
      [
        'a fractional id',
        (j) => (j.model.vocab.a = 1.5),
        'model.vocab["a"]: expected a non-negative integer',
      ],
      ['no merges', (j) => delete j.model.merges, 'model.merges: expected an array'],
      ['a number merge', (j) => j.model.merges.push(5), 'model.merges[4]: expected a string "a b"'],
      ['a one-part merge', (j) => j.model.merges.push('ab'), 'model.merges[4]: expected two tokens'],
      ['a three-part merge', (j) => j.model.merges.push('a b c'), 'model.merges[4]: expected two tokens'],
      [
        'a merge of a missing token',
        (j) => j.model.merges.push('a z'),
        'model.merges[4]: token "z" is not in',
      ],
      ['a merge making a missing token', (j) => j.model.merges.push('a b'), 'merged token "ab" is not in'],
      ['mixed merge forms', (j) => (j.model.merges[0] = ['▁', 'a']), 'model.merges[1]: expected a pair'],
      ['an unknown model type', (j) => (j.model.type = 'BPEX'), 'model.type: "BPEX" is not supported'],
      [
        'no model type nor merges',
        (j) => {
          delete j.model.type;
          delete j.model.merges;
        },
        'model.type: missing',
      ],
      ['WordLevel (read as a guess)', (j) => (j.model.type = 'WordLevel'), '"WordLevel" is not supported'],
      ['added_tokens not a list', (j) => (j.added_tokens = {}), 'added_tokens: expected an array'],
      ['an added token with no id', (j) => delete j.added_tokens[3].id, 'added_tokens[3].id: expected'],
      ['an added token with no content', (j) => delete j.added_tokens[3].content, 'added_tokens[3].content'],
      [
        'a Replace with no pattern',
        (j) => delete j.normalizer.normalizers[1].pattern,
        'normalizer.normalizers[1].pattern: expected { String',
      ],
      [
        'a Split with an unknown pattern',
        (j) => (j.pre_tokenizer = { type: 'Split', pattern: { Glob: '*' }, behavior: 'Isolated' }),
        'pre_tokenizer.pattern',
      ],
      [
        'a template token missing from special_tokens',
        (j) => (j.post_processor.single[0].SpecialToken.id = '<bos>'),
        'post_processor.single[0]: special token "<bos>" is not in post_processor.special_tokens',
      ],
      [
        'a template token whose ids the library would not use',
        (j) => (j.post_processor.special_tokens['<s>'].ids = [2]),
        'post_processor.special_tokens["<s>"]: ids [2]',
      ],
      // Left to the library, wrapped so that the file is named.
      [
        'an unknown decoder',
        (j) => (j.decoder.decoders[0].type = 'Foo'),
        'tokenizer.json: Unknown Decoder type: Foo',
      ],
    ];
    for (const [name, change, message] of cases) {
      expect(() => VlmTokenizer.fromJson(broken(change)), name).toThrow(message);
      expect(() => VlmTokenizer.fromJson(broken(change)), name).toThrow(/^VlmTokenizer: tokenizer\.json/);
    }
  });

  test('loads what Rust tokenizers treats as optional, with the same ids', () => {
    const full = VlmTokenizer.fromJson(llamaStyle());
    const noAdded = VlmTokenizer.fromJson(broken((j) => delete j.added_tokens));
    expect(noAdded.encode('hi a')).toEqual(full.encode('hi a'));
    const noDecoder = VlmTokenizer.fromJson(broken((j) => delete j.decoder));
    expect(noDecoder.encode('hi a')).toEqual(full.encode('hi a'));
    // Pair merges, as tokenizers >= 0.20 writes them.
    const pairs = VlmTokenizer.fromJson(
      broken((j) => (j.model.merges = j.model.merges.map((m: string) => m.split(' ')))),
    );
    expect(pairs.encode('hi a b')).toEqual(full.encode('hi a b'));
    // No model type: its merges make it BPE, as Rust reads old files.
    const untyped = VlmTokenizer.fromJson(broken((j) => delete j.model.type));
    expect(untyped.encode('hi a b')).toEqual(full.encode('hi a b'));
  });
});

describe('decode', () => {
  const tokenizer = VlmTokenizer.fromJson(llamaStyle());

  test('decode drops ids that have no token, as Rust tokenizers does', () => {
    // LLaVA-1.5-hf: 32064 embedding rows, 32002 tokens; a sampled padding row has no text.
    expect(tokenizer.decode([9999, 264], { skipSpecialTokens: false })).toBe('a');
    expect(tokenizer.decode([264, 9999, 265], { skipSpecialTokens: false })).toBe('a b');
    expect(tokenizer.decode([-1, 301, 9999])).toBe('');
    expect(tokenizer.decode(Int32Array.of(1, 264, 32063))).toBe('a');
  });

  test('ByteFallback decodes an invalid byte run as one U+FFFD per byte, as Rust does', () => {
    // The first two bytes of 😀 (F0 9F 98 80).
    expect(tokenizer.decode([byte(0xf0), byte(0x9f)])).toBe('\ufffd\ufffd');
    // One invalid byte makes the whole run invalid (Rust decodes the run as one String).
    expect(tokenizer.decode([byte(0xe4), byte(0xb8), byte(0xad), byte(0xff)])).toBe('\ufffd'.repeat(4));
    // A run ends at the next token that is not a byte; valid runs are text.
    expect(tokenizer.decode([byte(0xff), 260, byte(0xe4), byte(0xb8), byte(0xad)])).toBe('\ufffda中');
    expect(tokenizer.decode([byte(0xf0), byte(0x9f), byte(0x98), byte(0x80)])).toBe('😀');
    // A byte-order mark is a character, not dropped.
    expect(tokenizer.decode([260, byte(0xef), byte(0xbb), byte(0xbf)])).toBe('a\ufeff');
  });
});
