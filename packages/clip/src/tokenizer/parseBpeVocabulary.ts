import { checkString } from '../checkArguments.js';
import { bytesToUnicode } from './bytesToUnicode.js';

/** CLIP's special tokens, the last two entries of its vocabulary. */
export const START_OF_TEXT = '<|startoftext|>';
/** The end-of-text token, also openai/CLIP's `eot_token`. */
export const END_OF_TEXT = '<|endoftext|>';

/** A BPE vocabulary: token strings by id, and the merges in rank order. */
export interface BpeVocabulary {
  /** Token string for each id (`vocab[id]`). */
  vocab: readonly string[];
  /** Merge rules as `[left, right]`, lowest rank (applied first) first. */
  merges: readonly (readonly [string, string])[];
}

/** Number of merges openai/CLIP keeps: `49152 - 256 - 2`, so the vocabulary has 49,408 entries. */
const OPENAI_MERGES = 49152 - 256 - 2;

/**
 * Parses openai/CLIP's `bpe_simple_vocab_16e6.txt` (the decompressed text) into a vocabulary the
 * way `SimpleTokenizer` builds it: merges are lines 1 to 48,894 (line 0 is a header), and the
 * vocabulary is the 256 byte characters, the same with `</w>`, every merge joined, then
 * `<|startoftext|>` (49406) and `<|endoftext|>` (49407).
 *
 * @example
 * ```ts
 * const { vocab, merges } = parseBpeVocabulary(text);
 * vocab.length; // 49408
 * merges[0]; // ['i', 'n']
 * ```
 */
export function parseBpeVocabulary(text: string): BpeVocabulary {
  checkString('parseBpeVocabulary()', 'text', text);
  const lines = text.split('\n');
  if (lines.length < OPENAI_MERGES + 1) {
    throw new Error(
      `parseBpeVocabulary(): expected openai/CLIP's bpe_simple_vocab_16e6.txt with at least ${OPENAI_MERGES + 1} lines, got ${lines.length}`,
    );
  }
  const merges = lines.slice(1, OPENAI_MERGES + 1).map((line, i) => splitMerge(line, i + 2));
  const bytes = [...bytesToUnicode()].sort();
  const vocab = [
    ...bytes,
    ...bytes.map((c) => c + '</w>'),
    ...merges.map(([a, b]) => a + b),
    START_OF_TEXT,
    END_OF_TEXT,
  ];
  return { vocab, merges };
}

/**
 * Splits a merge rule `"left right"` into its two parts; `where` names it in errors (a line number).
 *
 * @example
 * ```ts
 * splitMerge('t h', 2); // ['t', 'h']
 * ```
 */
export function splitMerge(line: string, where: number | string): [string, string] {
  const space = line.indexOf(' ');
  if (space <= 0 || space === line.length - 1 || line.indexOf(' ', space + 1) !== -1) {
    throw new Error(
      `BPE merge ${where}: expected two tokens separated by one space, got ${JSON.stringify(line)}`,
    );
  }
  return [line.slice(0, space), line.slice(space + 1)];
}
