import { bytesToUnicode } from './bytesToUnicode.js';

/** HF-style tokenizer files: `vocab.json` as an object and `merges.txt` as text. */
export interface HfVocabFiles {
  vocab: Record<string, number>;
  merges: string;
}

/**
 * A small byte-level BPE vocabulary whose merges build exactly the given words (lowercase, as CLIP's
 * cleaner leaves them): the 512 byte tokens, one merge chain per word, then `<|startoftext|>` and
 * `<|endoftext|>`. Models trained on a closed vocabulary (a synthetic world, a test) then get
 * whole-word tokens and an embedding table of a few hundred rows instead of 49,408, while any
 * other text still tokenizes (byte by byte). Save the result as `vocab.json` and `merges.txt`.
 *
 * @example
 * ```ts
 * const files = wordVocabularyFiles(['a', 'red', 'circle']);
 * const tokenizer = ClipTokenizer.fromHfFiles(files);
 * tokenizer.encode('a red circle'); // [start, a, red, circle, end]: five ids
 * ```
 */
export function wordVocabularyFiles(words: Iterable<string>): HfVocabFiles {
  const tokens: string[] = [...bytesToUnicode()];
  tokens.push(...tokens.map((c) => `${c}</w>`));
  const known = new Set(tokens);
  const merges: string[] = [];
  const encoder = new TextEncoder();
  const byteChars = bytesToUnicode();
  for (const word of new Set(words)) {
    if (word.length === 0 || /\s/.test(word))
      throw new RangeError(`wordVocabularyFiles: "${word}" is not a single word`);
    const chars = Array.from(encoder.encode(word), (b) => byteChars[b]!);
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
