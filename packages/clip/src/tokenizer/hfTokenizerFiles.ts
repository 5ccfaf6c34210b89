import type { BpeVocabulary } from './parseBpeVocabulary.js';
import { splitMerge } from './parseBpeVocabulary.js';

/** The parts of a Hugging Face `tokenizer.json` that a CLIP BPE tokenizer reads. */
export interface HfTokenizerJson {
  model: {
    type?: string;
    vocab: Record<string, number>;
    /** `"left right"` strings, or `[left, right]` pairs in newer files. */
    merges: readonly (string | readonly [string, string])[];
  };
  added_tokens?: readonly { id: number; content: string }[];
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`ClipTokenizer: ${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Turns a token-to-id map into a token-by-id array, checking that every id is a valid index. */
function vocabArray(map: Record<string, number>, what: string): string[] {
  const entries = Object.entries(map);
  if (entries.length === 0) throw new Error(`ClipTokenizer: ${what} has no tokens`);
  const vocab: string[] = [];
  for (const [token, id] of entries) {
    if (!Number.isInteger(id) || id < 0) {
      throw new Error(`ClipTokenizer: ${what} gives token ${JSON.stringify(token)} the id ${id}`);
    }
    vocab[id] = token;
  }
  return vocab;
}

/**
 * Reads a Hugging Face slow-tokenizer vocabulary: `vocab.json` (token to id) and `merges.txt` (a
 * `#version` header line, then one `left right` merge per line, in rank order).
 *
 * @example
 * ```ts
 * const { vocab, merges } = parseHfVocabFiles(vocabJsonText, mergesText);
 * ```
 */
export function parseHfVocabFiles(
  vocabJson: string | Record<string, number>,
  mergesText: string,
): BpeVocabulary {
  const map =
    typeof vocabJson === 'string' ? parseJson<Record<string, number>>(vocabJson, 'vocab.json') : vocabJson;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw new Error('ClipTokenizer: vocab.json must be an object of token to id');
  }
  const lines = mergesText.split(/\r?\n/);
  const start = lines[0]?.startsWith('#version') ? 1 : 0;
  const merges: [string, string][] = [];
  for (let i = start; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    merges.push(splitMerge(line, `merges.txt line ${i + 1}`));
  }
  return { vocab: vocabArray(map, 'vocab.json'), merges };
}

/**
 * Reads the BPE model of a Hugging Face `tokenizer.json` (`model.vocab`, `model.merges`, and
 * `added_tokens` for the special tokens).
 *
 * @example
 * ```ts
 * const { vocab, merges } = parseHfTokenizerJson(await (await fetch(url)).text());
 * ```
 */
export function parseHfTokenizerJson(json: string | HfTokenizerJson): BpeVocabulary {
  const data = typeof json === 'string' ? parseJson<HfTokenizerJson>(json, 'tokenizer.json') : json;
  const model = data?.model;
  if (!model || typeof model.vocab !== 'object' || !Array.isArray(model.merges)) {
    throw new Error('ClipTokenizer: tokenizer.json has no BPE model (model.vocab and model.merges)');
  }
  if (model.type !== undefined && model.type !== 'BPE') {
    throw new Error(`ClipTokenizer: tokenizer.json has a ${model.type} model, not BPE`);
  }
  const map: Record<string, number> = { ...model.vocab };
  for (const added of data.added_tokens ?? []) map[added.content] = added.id;
  const merges = model.merges.map((m, i): [string, string] =>
    typeof m === 'string' ? splitMerge(m, `tokenizer.json merge ${i}`) : [m[0], m[1]],
  );
  return { vocab: vocabArray(map, 'tokenizer.json'), merges };
}
