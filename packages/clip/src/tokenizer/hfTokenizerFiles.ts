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

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string'
    ? JSON.stringify(value)
    : typeof value === 'object'
      ? 'an object'
      : String(value);
}

/**
 * A token-by-id array being filled, which refuses an id that is not a non-negative integer and two
 * tokens with one id, naming where each came from (Hugging Face's tokenizers refuse both at load).
 */
class VocabBuilder {
  readonly vocab: string[] = [];
  readonly #where: string[] = [];
  readonly #ids = new Map<string, number>();

  add(token: string, id: unknown, where: string): void {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new Error(
        `ClipTokenizer: ${where} gives token ${JSON.stringify(token)} the id ${describe(id)}, not a non-negative integer`,
      );
    }
    const previous = this.vocab[id];
    if (previous === token) return;
    if (previous !== undefined) {
      throw new Error(
        `ClipTokenizer: ${where}: tokens ${JSON.stringify(previous)} and ${JSON.stringify(token)} share the id ${id}` +
          (this.#where[id] === where ? '' : ` (${JSON.stringify(previous)} from ${this.#where[id]})`),
      );
    }
    const other = this.#ids.get(token);
    if (other !== undefined) {
      throw new Error(
        `ClipTokenizer: ${where}: token ${JSON.stringify(token)} has the id ${id}, but ${this.#where[other]} gives it ${other}`,
      );
    }
    this.vocab[id] = token;
    this.#where[id] = where;
    this.#ids.set(token, id);
  }

  has(token: string): boolean {
    return this.#ids.has(token);
  }
}

function addVocab(builder: VocabBuilder, map: unknown, what: string): void {
  if (!isRecord(map)) {
    throw new Error(`ClipTokenizer: ${what} must be an object of token to id, got ${describe(map)}`);
  }
  const entries = Object.entries(map);
  if (entries.length === 0) throw new Error(`ClipTokenizer: ${what} has no tokens`);
  for (const [token, id] of entries) builder.add(token, id, what);
}

/** Checks that a merge's two parts and the token it makes are all in the vocabulary. */
function checkMerge(
  builder: VocabBuilder,
  [left, right]: readonly [string, string],
  where: string,
  vocabFile: string,
): void {
  for (const part of [left, right]) {
    if (!builder.has(part)) {
      throw new Error(
        `ClipTokenizer: ${where}: the merge "${left} ${right}" uses ${JSON.stringify(part)}, which ${vocabFile} lacks`,
      );
    }
  }
  if (!builder.has(left + right)) {
    throw new Error(
      `ClipTokenizer: ${where}: the merge "${left} ${right}" makes ${JSON.stringify(left + right)}, which ${vocabFile} lacks`,
    );
  }
}

/**
 * Reads a Hugging Face slow-tokenizer vocabulary: `vocab.json` (token to id) and `merges.txt` (a
 * `#version` header line, then one `left right` merge per line, in rank order). Mistakes are refused
 * here, naming the file and line, as Hugging Face's tokenizers do: ids that are not non-negative
 * integers, two tokens with one id, a merge that is not two tokens, or one whose parts or result
 * `vocab.json` lacks.
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
  const map = typeof vocabJson === 'string' ? parseJson<unknown>(vocabJson, 'vocab.json') : vocabJson;
  const builder = new VocabBuilder();
  addVocab(builder, map, 'vocab.json');
  if (typeof mergesText !== 'string') {
    throw new TypeError(`ClipTokenizer: merges.txt must be text, got ${describe(mergesText)}`);
  }
  const lines = mergesText.split(/\r?\n/);
  const start = lines[0]?.startsWith('#version') ? 1 : 0;
  const merges: [string, string][] = [];
  for (let i = start; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const where = `merges.txt line ${i + 1}`;
    const merge = splitMerge(line, where);
    checkMerge(builder, merge, where, 'vocab.json');
    merges.push(merge);
  }
  return { vocab: builder.vocab, merges };
}

/**
 * Reads the BPE model of a Hugging Face `tokenizer.json` (`model.vocab`, `model.merges`, and
 * `added_tokens` for the special tokens). Mistakes are refused here, naming the field, as Hugging
 * Face's tokenizers do: a `model.vocab` that is not an object of non-negative integer ids, two tokens
 * with one id (in `model.vocab` or between it and `added_tokens`), an `added_tokens` entry without an
 * integer `id` and a string `content`, a merge that is not two tokens, or one whose parts or result
 * the vocabulary lacks.
 *
 * @example
 * ```ts
 * const { vocab, merges } = parseHfTokenizerJson(await (await fetch(url)).text());
 * ```
 */
export function parseHfTokenizerJson(json: string | HfTokenizerJson): BpeVocabulary {
  const data = typeof json === 'string' ? parseJson<unknown>(json, 'tokenizer.json') : json;
  const model = isRecord(data) ? data.model : undefined;
  if (!isRecord(model) || !('vocab' in model) || !Array.isArray(model.merges)) {
    throw new Error('ClipTokenizer: tokenizer.json has no BPE model (model.vocab and model.merges)');
  }
  if (model.type !== undefined && model.type !== 'BPE') {
    throw new Error(`ClipTokenizer: tokenizer.json has a ${String(model.type)} model, not BPE`);
  }
  const builder = new VocabBuilder();
  addVocab(builder, model.vocab, 'tokenizer.json model.vocab');
  const added = (data as Record<string, unknown>).added_tokens ?? [];
  if (!Array.isArray(added)) {
    throw new Error(`ClipTokenizer: tokenizer.json added_tokens must be an array, got ${describe(added)}`);
  }
  added.forEach((entry: unknown, i) => {
    const where = `tokenizer.json added_tokens[${i}]`;
    if (!isRecord(entry) || typeof entry.content !== 'string') {
      throw new Error(`ClipTokenizer: ${where} has no string content`);
    }
    if (typeof entry.id !== 'number' || !Number.isInteger(entry.id) || entry.id < 0) {
      throw new Error(
        `ClipTokenizer: ${where} (${JSON.stringify(entry.content)}) has the id ${describe(entry.id)}, not a non-negative integer`,
      );
    }
    builder.add(entry.content, entry.id, where);
  });
  const merges = model.merges.map((m: unknown, i): [string, string] => {
    const where = `tokenizer.json model.merges[${i}]`;
    let merge: [string, string];
    if (typeof m === 'string') merge = splitMerge(m, where);
    else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string')
      merge = [m[0], m[1]];
    else {
      throw new Error(
        `ClipTokenizer: ${where}: expected "left right" or [left, right] (two tokens), got ${JSON.stringify(m)}`,
      );
    }
    checkMerge(builder, merge, where, 'the vocabulary');
    return merge;
  });
  return { vocab: builder.vocab, merges };
}
