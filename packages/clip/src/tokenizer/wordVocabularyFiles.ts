import { checkIterable } from '../checkArguments.js';
import { ClipTokenizer } from './ClipTokenizer.js';
import { bytesToUnicode } from './bytesToUnicode.js';
import { cleanText } from './cleanText.js';
import { END_OF_TEXT, START_OF_TEXT } from './parseBpeVocabulary.js';

/** HF-style tokenizer files: `vocab.json` as an object and `merges.txt` as text. */
export interface HfVocabFiles {
  vocab: Record<string, number>;
  /**
   * The merge lines, without the `#version: 0.2` header line: write `merges.txt` as
   * `` `#version: 0.2\n${merges}\n` ``, since transformers' `CLIPTokenizer` always skips its first line.
   */
  merges: string;
}

/**
 * Why CLIP's tokenizer never reads `word` as that one word (it cleans it to other text, or splits it
 * into several words), or `undefined` when it does. A tokenizer with only the byte tokens marks each
 * word's last byte with `</w>`, so one word is as many tokens as bytes with `</w>` on the last only.
 */
function notOneWord(word: string, bytes: readonly string[], words: ClipTokenizer): string | undefined {
  const cleaned = cleanText(word);
  if (cleaned !== word) return `CLIP's tokenizer reads it as ${JSON.stringify(cleaned)}`;
  const tokens = words.tokenize(word);
  if (
    tokens.length === bytes.length &&
    tokens.every((t, i) => t.endsWith('</w>') === (i === tokens.length - 1))
  )
    return undefined;
  const text = words.decode(words.encode(word).slice(1, -1), { skipSpecialTokens: false });
  const parts = text.split(' ').filter((part) => part !== '');
  return parts.length === 1
    ? `CLIP's tokenizer reads it as the special token ${JSON.stringify(parts[0])}`
    : `CLIP's tokenizer splits it into ${parts.map((part) => JSON.stringify(part)).join(', ')}`;
}

/**
 * A small byte-level BPE vocabulary whose merges build exactly the given words: the 512 byte tokens, one merge chain per word, then `<|startoftext|>` and
 * `<|endoftext|>`. Models trained on a closed vocabulary (a synthetic world, a test) then get
 * whole-word tokens and an embedding table of a few hundred rows instead of 49,408, while any
 * other text still tokenizes (byte by byte). Each word must be one that CLIP's tokenizer reads as one
 * word (lowercase, unchanged by its cleaner, not split by its pattern: `red`, `$&`, not `Red`, `don't`,
 * `3d` or `a.b`); any other is a `RangeError` naming it. Save the result as `vocab.json` and
 * `merges.txt`, the latter with a `#version: 0.2` first line (see {@link HfVocabFiles.merges}).
 *
 * @example
 * ```ts
 * const files = wordVocabularyFiles(['a', 'red', 'circle']);
 * const tokenizer = ClipTokenizer.fromHfFiles(files);
 * tokenizer.encode('a red circle'); // [start, a, red, circle, end]: five ids
 * ```
 */
export function wordVocabularyFiles(words: Iterable<string>): HfVocabFiles {
  checkIterable('wordVocabularyFiles', 'words', words, 'an iterable of words (an array of strings)');
  const tokens: string[] = [...bytesToUnicode()];
  tokens.push(...tokens.map((c) => `${c}</w>`));
  const byteWords = new ClipTokenizer({ vocab: [...tokens, START_OF_TEXT, END_OF_TEXT], merges: [] });
  const known = new Set(tokens);
  const merges: string[] = [];
  const encoder = new TextEncoder();
  const byteChars = bytesToUnicode();
  for (const word of new Set(words)) {
    if (typeof word !== 'string' || word.length === 0)
      throw new RangeError(`wordVocabularyFiles: ${JSON.stringify(word)} is not a single word`);
    const chars = Array.from(encoder.encode(word), (b) => byteChars[b]!);
    const why = notOneWord(word, chars, byteWords);
    if (why !== undefined)
      throw new RangeError(`wordVocabularyFiles: ${JSON.stringify(word)} is not a single word: ${why}`);
    const parts = chars.map((c, i) => (i === chars.length - 1 ? `${c}</w>` : c));
    let acc = parts[0]!;
    for (const p of parts.slice(1)) {
      const merged = acc + p;
      if (!known.has(merged)) {
        merges.push(`${acc} ${p}`);
        tokens.push(merged);
        known.add(merged);
      }
      acc = merged;
    }
  }
  tokens.push('<|startoftext|>', '<|endoftext|>');
  return { vocab: Object.fromEntries(tokens.map((t, i) => [t, i])), merges: merges.join('\n') };
}
