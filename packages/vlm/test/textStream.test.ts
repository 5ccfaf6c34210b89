// Streamed text: the pieces of an answer must add up to the tokenizer's decode of its tokens, with
// no piece handing out text that a later token changes. Real tokenizers: llava-tiny's byte-level
// BPE (characters split across byte tokens) and the word tokenizer the project trains with, whose
// WordPiece decoder deletes spaces before punctuation.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { TextStream } from '../src/task/TextStream.js';
import { VlmTokenizer, wordTokenizerFiles } from '../src/index.js';

const dir = fileURLToPath(new URL('./fixtures/llava-tiny/', import.meta.url));
const llavaTiny = VlmTokenizer.fromJson(
  readFileSync(`${dir}tokenizer.json`, 'utf8'),
  readFileSync(`${dir}tokenizer_config.json`, 'utf8'),
);
const wordFiles = wordTokenizerFiles(['a', 'b', 'do', "'", 'n', 't', 'it', 'is', '?', '.', 'hello']);
const words = VlmTokenizer.fromJson(wordFiles['tokenizer.json'], wordFiles['tokenizer_config.json']);

/** Streams `ids`; checks every prefix's pieces against the decode; returns the pieces. */
function stream(tokenizer: VlmTokenizer, ids: number[]): string[] {
  const s = new TextStream((x) => tokenizer.decode(x), tokenizer.cleansUpSpaces);
  const pieces: string[] = [];
  ids.forEach((id, i) => {
    pieces.push(s.push(id));
    // What was handed out is never changed by the tokens still to come.
    for (let j = i + 1; j <= ids.length; j++)
      expect(tokenizer.decode(ids.slice(0, j)).startsWith(pieces.join('')), `${i} ${j}`).toBe(true);
  });
  pieces.push(s.finish());
  expect(s.holding).toBe(false);
  expect(pieces.join('')).toBe(tokenizer.decode(ids));
  return pieces;
}

describe('TextStream', () => {
  test('a character split across byte tokens comes out whole, once its last byte is in', () => {
    const ids = llavaTiny.encode('a é 🙂 b', { addSpecialTokens: false });
    const pieces = stream(llavaTiny, ids);
    expect(pieces.some((p) => p.includes('\ufffd'))).toBe(false);
    expect(pieces.join('')).toBe(llavaTiny.decode(ids));
  });

  test('an answer that ends inside a character ends as the decode does (U+FFFD)', () => {
    const ids = llavaTiny.encode('a 🙂', { addSpecialTokens: false });
    const cut = ids.slice(0, -1); // the emoji's last byte never comes
    const s = new TextStream((x) => llavaTiny.decode(x), false);
    const out = cut.map((id) => s.push(id)).join('');
    expect(out.includes('\ufffd')).toBe(false);
    expect(s.holding).toBe(true);
    expect(out + s.finish()).toBe(llavaTiny.decode(cut));
    expect(llavaTiny.decode(cut).endsWith('\ufffd')).toBe(true);
  });

  test('spaces that clean-up deletes later are held back until they are final', () => {
    expect(words.cleansUpSpaces).toBe(true);
    expect(llavaTiny.cleansUpSpaces).toBe(false);
    const id = (w: string) => words.tokenToId(w)!;
    // "a ' b" decodes as "a'b", "do n ' t" as "don't", "hello ." as "hello.".
    for (const seq of [
      ['a', "'", 'b'],
      ['do', 'n', "'", 't', 'it', 'is', 'a', 'b'],
      ['hello', '.', 'hello', '?', 'is', 'it', '?'],
    ])
      stream(words, seq.map(id));
    expect(words.decode(['a', "'", 'b'].map(id))).toBe("a'b");
  });

  test('a WordPiece decoder that cleans up counts as cleaning up, whatever the config says', () => {
    const config = { ...JSON.parse(wordFiles['tokenizer_config.json']), clean_up_tokenization_spaces: false };
    expect(VlmTokenizer.fromJson(wordFiles['tokenizer.json'], config).cleansUpSpaces).toBe(true);
    const json = JSON.parse(wordFiles['tokenizer.json']);
    const off = { ...json, decoder: { ...json.decoder, cleanup: false } };
    expect(VlmTokenizer.fromJson(off, config).cleansUpSpaces).toBe(false);
    const seq = { ...json, decoder: { type: 'Sequence', decoders: [json.decoder] } };
    expect(VlmTokenizer.fromJson(seq, config).cleansUpSpaces).toBe(true);
  });

  test('text far from the end is not held back', () => {
    const id = (w: string) => words.tokenToId(w)!;
    const seq = ['hello', 'is', 'it', 'a', 'b', 'hello', 'hello'].map(id);
    const s = new TextStream((x) => words.decode(x), true);
    const out = seq.map((t) => s.push(t)).join('');
    expect(words.decode(seq).startsWith(out)).toBe(true);
    expect(out.length).toBeGreaterThan(words.decode(seq).length - 13);
  });

  describe('stop strings', () => {
    /** One character per id: id c decodes as String.fromCharCode(c). */
    const chars = (ids: number[]) => String.fromCharCode(...ids);
    const idsOf = (text: string) => Array.from(text, (c) => c.charCodeAt(0));

    /** Streams `text` a character at a time with `stops`; the pieces, and whether it stopped. */
    function streamStops(text: string, stops: string[]) {
      const s = new TextStream(chars, false, stops);
      const pieces: string[] = [];
      for (const id of idsOf(text)) {
        pieces.push(s.push(id));
        if (s.stopped) break;
      }
      if (!s.stopped) pieces.push(s.finish());
      return { pieces, text: pieces.join(''), stopped: s.stopped };
    }

    test('the text ends before the first stop string, which is not handed out', () => {
      expect(streamStops('red, USER: more', ['USER:'])).toMatchObject({ text: 'red, ', stopped: true });
      // The earliest of several wins, whichever is listed first.
      expect(streamStops('a. b\n\nc', ['\n\n', '.'])).toMatchObject({ text: 'a', stopped: true });
      expect(streamStops('no stop here', ['USER:'])).toMatchObject({ text: 'no stop here', stopped: false });
    });

    test('the start of a stop string waits until the next tokens tell, then goes out if it was not one', () => {
      const { pieces, text } = streamStops('US and USA', ['USER:']);
      expect(text).toBe('US and USA');
      // "U" and "US" were held back; they came out with the space that proved them no stop.
      expect(pieces.slice(0, 3)).toEqual(['', '', 'US ']);
      expect(pieces.slice(-2)).toEqual(['USA', '']); // "US" held again, out with the "A"; nothing left
      const end = streamStops('ends in US', ['USER:']);
      expect(end.pieces.slice(-3)).toEqual(['', '', 'US']); // held to the end, handed out by finish
      expect(end.stopped).toBe(false);
    });

    test('a stop string inside one token, or across several, stops the same', () => {
      const whole = new TextStream((ids) => ids.map((i) => ['ab', 'c ', 'STOP', 'x'][i]).join(''), false, [
        'STOP',
      ]);
      expect([0, 1, 2].map((i) => whole.push(i))).toEqual(['ab', 'c ', '']);
      expect(whole.stopped).toBe(true);
      const split = new TextStream((ids) => ids.map((i) => ['ab', 'ST', 'OPx'][i]).join(''), false, ['STOP']);
      expect([0, 1, 2].map((i) => split.push(i))).toEqual(['ab', '', '']);
      expect(split.stopped).toBe(true);
      expect(split.finish()).toBe('');
    });
  });
});
