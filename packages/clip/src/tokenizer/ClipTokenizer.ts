import { argumentError, checkObject } from '../checkArguments.js';
import { rewordError } from '../rewordError.js';
import { bytePairEncode } from './bytePairEncode.js';
import { bytesToUnicode } from './bytesToUnicode.js';
import { cleanText } from './cleanText.js';
import { type HfTokenizerJson, parseHfTokenizerJson, parseHfVocabFiles } from './hfTokenizerFiles.js';
import { type BpeVocabularySource, loadBpeVocabulary } from './loadBpeVocabulary.js';
import { type BpeVocabulary, END_OF_TEXT, parseBpeVocabulary, START_OF_TEXT } from './parseBpeVocabulary.js';

/** Options for {@link ClipTokenizer.encodeBatch}. */
export interface EncodeBatchOptions {
  /** Tokens per row, start and end tokens included. Defaults to the tokenizer's (77 for CLIP). */
  contextLength?: number;
  /**
   * Cut texts that do not fit, keeping the first `contextLength - 1` tokens and ending with the end
   * token (openai/CLIP's `tokenize(truncate=True)`). Without it such a text is an error.
   */
  truncate?: boolean;
  /**
   * Id written after the end token, a non-negative integer. openai/CLIP pads with 0; HF checkpoints
   * often use the end token. Decoding a row padded with the end token keeps those end tokens but the
   * last (`decode` drops `ids[-1]`, as openai/CLIP's reference does): cut the row by its attention
   * mask first.
   */
  padId?: number;
  /**
   * `'max_length'` (the default): every row has `contextLength` tokens, as openai/CLIP's `tokenize`.
   * `'longest'`: rows as long as the longest text (after truncation), as transformers' `padding=True`;
   * CLIP's text tower is causal, so the pooled features are the same, for less work.
   */
  padding?: 'max_length' | 'longest';
}

/** A batch of token ids, row-major `[batch, contextLength]`. */
export interface EncodedBatch {
  /** Token ids, padded with `padId`. */
  inputIds: Int32Array;
  /** 1 for real tokens (start and end included), 0 for padding. */
  attentionMask: Int32Array;
  /** `[batch, contextLength]`. */
  shape: [number, number];
}

/** Options for {@link ClipTokenizer.decode}. */
export interface DecodeOptions {
  /**
   * Which start and end tokens to drop. `'outer'` (the default) drops one leading start token and the
   * last end token with everything after it (padding), like decoding `ids[1:-1]`; `true` drops every
   * start and end token; `false` keeps them all.
   */
  skipSpecialTokens?: boolean | 'outer';
}

/** Options for creating a {@link ClipTokenizer}. */
export interface ClipTokenizerOptions {
  /** Default context length for {@link ClipTokenizer.encodeBatch}; 77 for every released CLIP. */
  contextLength?: number;
}

// openai/CLIP's split pattern, compiled by Python's `regex` module with IGNORECASE. The text is
// already lowercased, so case-insensitivity only matters where case folding reaches past lowercase:
// `'ſ` (long s) is a contraction and U+0345 (which folds to a letter) matches no alternative. Python's
// `\s` is Unicode White_Space, which JavaScript's `\s` is not (it adds U+FEFF), so the class is spelled
// out. Checked code point by code point against `regex` 2.5; characters added in Unicode versions
// newer than Python's tables can still differ.
const whiteSpace = '\\t\\n\\v\\f\\r\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const wordPattern = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'[s\\u017f]|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${whiteSpace}\\p{L}\\p{N}\\u0345]+`,
  'gu',
);

const BATCH_OPTION_KEYS = ['contextLength', 'truncate', 'padId', 'padding'];

/** Words cached before the cache is cleared, so a long-running process does not grow without bound. */
const CACHE_LIMIT = 100_000;

/** `options`, when given, must be an object (`fn` names the call in the error). */
function checkOptions(fn: string, options: unknown): void {
  if (options !== undefined) checkObject(fn, 'options', options, 'an object { contextLength? }');
}

/** `e` said again by `fn`, the API called, in place of its helper's name (`loadBpeVocabulary(): `). */
function saidBy(fn: string, e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  return rewordError(e, `${fn}: ${e.message.replace(/^(load|parse)BpeVocabulary\(\): /, '')}`);
}

/** {@link parseBpeVocabulary}, its errors said by `fn`. */
function parseVocabulary(fn: string, text: string): BpeVocabulary {
  try {
    return parseBpeVocabulary(text);
  } catch (e) {
    throw saidBy(fn, e);
  }
}

function preview(text: string): string {
  const chars = Array.from(text);
  return JSON.stringify(chars.length > 40 ? chars.slice(0, 40).join('') + '…' : text);
}

/**
 * CLIP's byte-level BPE tokenizer, exactly as openai/CLIP's `simple_tokenizer.py` (without ftfy; see
 * {@link cleanText}): text is HTML-unescaped, whitespace-normalized and lowercased, split into words by
 * CLIP's pattern, each word's UTF-8 bytes are mapped to the byte alphabet and merged by rank with a
 * `</w>` word end. `encode` adds `<|startoftext|>` (49406) and `<|endoftext|>` (49407).
 *
 * Create one with {@link ClipTokenizer.load} (the vocabulary shipped in this package),
 * {@link ClipTokenizer.fromBpeVocabulary}, or from a checkpoint's Hugging Face files with
 * {@link ClipTokenizer.fromHfFiles} or {@link ClipTokenizer.fromTokenizerJson}.
 *
 * @example
 * ```ts
 * const tokenizer = await ClipTokenizer.load();
 * tokenizer.encode('a photo of a cat'); // [49406, 320, 1125, 539, 320, 2368, 49407]
 * const { inputIds, attentionMask, shape } = tokenizer.encodeBatch(['a cat', 'a dog']); // shape [2, 77]
 * tokenizer.decode([49406, 320, 2368, 49407]); // 'a cat '
 * ```
 */
export class ClipTokenizer {
  /** Id of `<|startoftext|>` (49406 for CLIP). */
  readonly startId: number;
  /** Id of `<|endoftext|>` (49407 for CLIP). */
  readonly endId: number;
  /** Number of ids (49408 for CLIP). */
  readonly vocabSize: number;
  /** Default row length of {@link ClipTokenizer.encodeBatch} (77 for CLIP). */
  readonly contextLength: number;

  readonly #vocab: readonly string[];
  readonly #encoder: Map<string, number>;
  readonly #ranks: Map<string, number>;
  readonly #byteEncoder: readonly string[];
  readonly #byteDecoder: Map<string, number>;
  readonly #textEncoder = new TextEncoder();
  readonly #cache = new Map<string, readonly number[]>();

  /**
   * Builds a tokenizer from a vocabulary (token strings by id, which must include `<|startoftext|>` and
   * `<|endoftext|>`) and merges in rank order.
   *
   * @example
   * ```ts
   * const tokenizer = new ClipTokenizer(parseBpeVocabulary(text));
   * ```
   */
  constructor(vocabulary: BpeVocabulary, options: ClipTokenizerOptions = {}) {
    if (!Array.isArray(vocabulary?.vocab) || !Array.isArray(vocabulary?.merges)) {
      throw new TypeError(
        'ClipTokenizer: the constructor takes a vocabulary { vocab, merges } (parseBpeVocabulary); ' +
          '`await ClipTokenizer.load()` loads the one shipped with @vl/clip',
      );
    }
    checkOptions('ClipTokenizer', options);
    const { vocab, merges } = vocabulary;
    this.#vocab = vocab;
    this.vocabSize = vocab.length;
    this.#encoder = new Map();
    vocab.forEach((token, id) => {
      if (token !== undefined) this.#encoder.set(token, id);
    });
    this.#ranks = new Map();
    // A repeated merge keeps its last rank, as Python's dict(zip(merges, range(...))) does.
    merges.forEach(([a, b], rank) => {
      this.#ranks.set(a + ' ' + b, rank);
    });
    const startId = this.#encoder.get(START_OF_TEXT);
    const endId = this.#encoder.get(END_OF_TEXT);
    if (startId === undefined || endId === undefined) {
      throw new Error(
        `ClipTokenizer: the vocabulary has no ${startId === undefined ? START_OF_TEXT : END_OF_TEXT} token`,
      );
    }
    this.startId = startId;
    this.endId = endId;
    this.contextLength = options.contextLength ?? 77;
    if (!Number.isInteger(this.contextLength) || this.contextLength < 2) {
      throw new RangeError(
        `ClipTokenizer: contextLength must be an integer of at least 2, got ${this.contextLength}`,
      );
    }
    this.#byteEncoder = bytesToUnicode();
    this.#byteDecoder = new Map(this.#byteEncoder.map((c, b) => [c, b]));
    for (const c of this.#byteEncoder) {
      if (!this.#encoder.has(c)) {
        throw new Error(
          `ClipTokenizer: the vocabulary lacks the byte token ${JSON.stringify(c)}; is it byte-level BPE?`,
        );
      }
    }
  }

  /**
   * Loads openai/CLIP's vocabulary: the copy shipped in this package by default, or
   * `bpe_simple_vocab_16e6.txt(.gz)` from a URL, a path (Node) or bytes.
   *
   * @example
   * ```ts
   * const tokenizer = await ClipTokenizer.load();
   * const fromUrl = await ClipTokenizer.load(new URL('/models/bpe_simple_vocab_16e6.txt.gz', location.href));
   * ```
   */
  static async load(source?: BpeVocabularySource, options?: ClipTokenizerOptions): Promise<ClipTokenizer> {
    const isSource = (v: unknown) =>
      typeof v === 'string' || v instanceof URL || v instanceof Uint8Array || v instanceof ArrayBuffer;
    if (source !== undefined && !isSource(source)) {
      const what = 'a URL, a path, a Uint8Array or an ArrayBuffer (or left out for the bundled vocabulary)';
      throw argumentError('ClipTokenizer.load', 'source', what, source);
    }
    checkOptions('ClipTokenizer.load', options); // before the 1.3 MB read
    let text: string;
    try {
      text = await loadBpeVocabulary(source);
    } catch (e) {
      throw saidBy('ClipTokenizer.load', e);
    }
    return new ClipTokenizer(parseVocabulary('ClipTokenizer.load', text), options);
  }

  /**
   * Builds the tokenizer from the text of openai/CLIP's `bpe_simple_vocab_16e6.txt`.
   *
   * @example
   * ```ts
   * const tokenizer = ClipTokenizer.fromBpeVocabulary(await loadBpeVocabulary());
   * ```
   */
  static fromBpeVocabulary(text: string, options?: ClipTokenizerOptions): ClipTokenizer {
    checkOptions('ClipTokenizer.fromBpeVocabulary', options);
    return new ClipTokenizer(parseVocabulary('ClipTokenizer.fromBpeVocabulary', text), options);
  }

  /**
   * Builds the tokenizer from a Hugging Face checkpoint's `vocab.json` and `merges.txt` (text, or the
   * parsed vocab object). All merges in the file are used.
   *
   * @example
   * ```ts
   * const tokenizer = ClipTokenizer.fromHfFiles({ vocab: vocabJsonText, merges: mergesText });
   * ```
   */
  static fromHfFiles(
    files: { vocab: string | Record<string, number>; merges: string },
    options?: ClipTokenizerOptions,
  ): ClipTokenizer {
    checkObject('ClipTokenizer.fromHfFiles', 'files', files, 'an object { vocab, merges }');
    checkOptions('ClipTokenizer.fromHfFiles', options);
    return new ClipTokenizer(parseHfVocabFiles(files.vocab, files.merges), options);
  }

  /**
   * Builds the tokenizer from a Hugging Face `tokenizer.json` (its BPE `model.vocab` and
   * `model.merges`). The normalizer and pre-tokenizer in the file are not read: CLIP's are applied.
   *
   * @example
   * ```ts
   * const tokenizer = ClipTokenizer.fromTokenizerJson(await (await fetch(tokenizerJsonUrl)).text());
   * ```
   */
  static fromTokenizerJson(json: string | HfTokenizerJson, options?: ClipTokenizerOptions): ClipTokenizer {
    checkOptions('ClipTokenizer.fromTokenizerJson', options);
    return new ClipTokenizer(parseHfTokenizerJson(json), options);
  }

  /**
   * The BPE tokens of a text, without start and end tokens (`</w>` marks word ends).
   *
   * @example
   * ```ts
   * tokenizer.tokenize('A cat!'); // ['a</w>', 'cat</w>', '!</w>']
   * ```
   */
  tokenize(text: string): string[] {
    return this.#ids(text, 'tokenize').map((id) => this.#vocab[id]!);
  }

  /**
   * The id of one vocabulary entry (a BPE token, `</w>` marking a word end), or undefined when the
   * vocabulary has no such entry; as transformers' `convert_tokens_to_ids`, without the unknown id.
   *
   * @example
   * ```ts
   * tokenizer.tokenId('cat</w>'); // 2368
   * tokenizer.tokenId('cat'); // 1481 (the piece that starts a longer word, as in 'cats')
   * ```
   */
  tokenId(token: string): number | undefined {
    // A number (an id) never matches: said, rather than an undefined that reads as "not in the vocabulary".
    if (typeof token !== 'string') throw argumentError('ClipTokenizer.tokenId', 'token', 'a string', token);
    return this.#encoder.get(token);
  }

  /**
   * Token ids of a text, starting with `<|startoftext|>` and ending with `<|endoftext|>`, with no
   * length limit (see {@link ClipTokenizer.encodeBatch} for fixed-length rows).
   *
   * @example
   * ```ts
   * tokenizer.encode('a photo of a cat'); // [49406, 320, 1125, 539, 320, 2368, 49407]
   * ```
   */
  encode(text: string): number[] {
    return [this.startId, ...this.#ids(text, 'encode'), this.endId];
  }

  /**
   * Encodes texts into fixed-length rows `[texts.length, contextLength]`, padded with `padId` (0), with
   * an attention mask. A text longer than the context is an error unless `truncate` is set.
   *
   * @example
   * ```ts
   * const { inputIds, attentionMask, shape } = tokenizer.encodeBatch(['a cat', 'a dog']);
   * shape; // [2, 77]
   * Array.from(inputIds.subarray(0, 4)); // [49406, 320, 2368, 49407]
   * ```
   */
  encodeBatch(texts: readonly string[], options: EncodeBatchOptions = {}): EncodedBatch {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new TypeError(
        `ClipTokenizer.encodeBatch(): options must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`,
      );
    }
    for (const key of Object.keys(options)) {
      if (!BATCH_OPTION_KEYS.includes(key))
        throw new TypeError(
          `ClipTokenizer.encodeBatch(): unknown option ${JSON.stringify(key)} (expected ${BATCH_OPTION_KEYS.join(', ')})`,
        );
    }
    const contextLength = options.contextLength ?? this.contextLength;
    const { truncate = false, padId = 0, padding = 'max_length' } = options;
    if (!Number.isInteger(contextLength) || contextLength < 2) {
      throw new RangeError(
        `ClipTokenizer.encodeBatch(): contextLength must be an integer of at least 2, got ${contextLength}`,
      );
    }
    if (!Number.isInteger(padId) || padId < 0 || padId > 0x7fffffff) {
      // Written into an Int32Array: 1.5 became 1 and 2 ** 31 wrapped to -2147483648.
      throw new RangeError(
        `ClipTokenizer.encodeBatch(): padId must be a token id (an integer from 0 to 2^31 - 1), got ${typeof padId === 'number' ? padId : JSON.stringify(padId)}`,
      );
    }
    if (padding !== 'max_length' && padding !== 'longest') {
      throw new RangeError(
        `ClipTokenizer.encodeBatch(): padding must be 'max_length' or 'longest', got ${JSON.stringify(padding)}`,
      );
    }
    if (!Array.isArray(texts)) {
      throw new TypeError('ClipTokenizer.encodeBatch(): expected an array of strings');
    }
    const rows = texts.map((text, row) => {
      if (typeof text !== 'string') {
        throw new TypeError(`ClipTokenizer.encodeBatch(): text ${row} is ${typeof text}, not a string`);
      }
      let ids = this.encode(text);
      if (ids.length > contextLength) {
        if (!truncate) {
          throw new RangeError(
            `ClipTokenizer.encodeBatch(): text ${row} (${preview(text)}) has ${ids.length} tokens, more than the context length ${contextLength}; shorten it or pass { truncate: true }`,
          );
        }
        ids = ids.slice(0, contextLength);
        ids[contextLength - 1] = this.endId;
      }
      return ids;
    });
    const T = padding === 'longest' ? Math.max(0, ...rows.map((ids) => ids.length)) : contextLength;
    const inputIds = new Int32Array(texts.length * T).fill(padId); // [B, T]
    const attentionMask = new Int32Array(texts.length * T); // [B, T]
    rows.forEach((ids, row) => {
      inputIds.set(ids, row * T);
      attentionMask.fill(1, row * T, row * T + ids.length);
    });
    return { inputIds, attentionMask, shape: [texts.length, T] };
  }

  /**
   * Turns ids back into text: tokens are joined, their bytes decoded as UTF-8 (invalid sequences become
   * U+FFFD) and each `</w>` becomes a space, so the text is the cleaned, lowercased input with spaces
   * around punctuation and a trailing space.
   *
   * @example
   * ```ts
   * tokenizer.decode(tokenizer.encode('A Photo of a DOG!')); // 'a photo of a dog ! '
   * tokenizer.decode([49406, 2368, 49407], { skipSpecialTokens: false }); // '<|startoftext|>cat <|endoftext|>'
   * ```
   */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    if (typeof ids !== 'object' || ids === null)
      throw argumentError('ClipTokenizer.decode', 'ids', 'an array of token ids', ids);
    checkObject('ClipTokenizer.decode', 'options', options, 'an object { skipSpecialTokens? }');
    const skip = options.skipSpecialTokens ?? 'outer';
    let list = Array.from(ids);
    if (skip === 'outer') {
      const start = list[0] === this.startId ? 1 : 0;
      const end = list.lastIndexOf(this.endId);
      list = list.slice(start, end >= start ? end : list.length);
    } else if (skip === true) {
      list = list.filter((id) => id !== this.startId && id !== this.endId);
    }
    const text = list
      .map((id) => {
        const token = Number.isInteger(id) ? this.#vocab[id] : undefined;
        if (token === undefined) {
          throw new RangeError(
            `ClipTokenizer.decode(): ${id} is not a token id (the vocabulary has ${this.vocabSize})`,
          );
        }
        return token;
      })
      .join('');
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const byte = this.#byteDecoder.get(text[i]!);
      if (byte === undefined) {
        throw new RangeError(
          `ClipTokenizer.decode(): the token character ${JSON.stringify(text[i])} is not a byte`,
        );
      }
      bytes[i] = byte;
    }
    return new TextDecoder('utf-8').decode(bytes).replaceAll('</w>', ' ');
  }

  /** Ids of a text's BPE tokens, without start and end; `method` names the caller in errors. */
  #ids(text: string, method: string): number[] {
    if (typeof text !== 'string') throw argumentError(`ClipTokenizer.${method}`, 'text', 'a string', text);
    const ids: number[] = [];
    for (const match of cleanText(text).matchAll(wordPattern)) {
      for (const id of this.#word(match[0])) ids.push(id);
    }
    return ids;
  }

  #word(word: string): readonly number[] {
    const cached = this.#cache.get(word);
    if (cached) return cached;
    let ids: number[];
    if (word === START_OF_TEXT) ids = [this.startId];
    else if (word === END_OF_TEXT) ids = [this.endId];
    else {
      let mapped = '';
      for (const byte of this.#textEncoder.encode(word)) mapped += this.#byteEncoder[byte];
      ids = bytePairEncode(mapped, this.#ranks).map((token) => {
        const id = this.#encoder.get(token);
        if (id === undefined)
          throw new Error(
            `ClipTokenizer: the merges produced ${JSON.stringify(token)}, which the vocabulary lacks`,
          );
        return id;
      });
    }
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(word, ids);
    return ids;
  }
}
