// Checks a tokenizer.json before @huggingface/tokenizers reads it. The library trusts its input: a
// malformed file fails with a TypeError that names no field, or loads and gives wrong ids. Rust
// tokenizers (what transformers uses) refuses such files; these checks refuse them too, naming the
// field, and fill in what Rust treats as optional.

type Json = Record<string, unknown>;

/** Model types @huggingface/tokenizers implements (it reads any other type as a guess). */
const MODEL_TYPES: readonly string[] = ['BPE', 'WordPiece', 'Unigram'];

function fail(path: string, message: string, Kind: typeof TypeError = TypeError): never {
  throw new Kind(`VlmTokenizer: tokenizer.json ${path}: ${message}`);
}

const isObject = (v: unknown): v is Json => !!v && typeof v === 'object' && !Array.isArray(v);
const isId = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32;
const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** `model.vocab` of BPE and WordPiece: an object of token -> integer id. */
function checkVocab(vocab: unknown): Json {
  if (!isObject(vocab))
    fail('model.vocab', `expected an object of token -> integer id, got ${show(vocab).slice(0, 40)}`);
  for (const [token, id] of Object.entries(vocab))
    if (!isId(id)) fail(`model.vocab[${show(token)}]`, `expected a non-negative integer id, got ${show(id)}`);
  return vocab;
}

/** `model.merges` of BPE: all "a b" or all [a, b], each part and the merged token in the vocab (as Rust). */
function checkMerges(model: Json, vocab: Json): void {
  const merges = model.merges;
  if (!Array.isArray(merges))
    fail('model.merges', `expected an array of merges, got ${show(merges).slice(0, 40)}`);
  const pairs = Array.isArray(merges[0]);
  const prefix = typeof model.continuing_subword_prefix === 'string' ? model.continuing_subword_prefix : '';
  merges.forEach((merge: unknown, i) => {
    const path = `model.merges[${i}]`;
    let parts: unknown[];
    if (pairs) {
      if (!Array.isArray(merge))
        fail(path, `expected a pair [a, b] like model.merges[0], got ${show(merge)}`);
      parts = merge;
    } else {
      if (typeof merge !== 'string')
        fail(path, `expected a string "a b" like model.merges[0], got ${show(merge)}`);
      parts = merge.split(' ');
    }
    if (parts.length !== 2 || parts.some((p) => typeof p !== 'string'))
      fail(path, `expected two tokens ("a b" or [a, b]), got ${show(merge)}`);
    const [a, b] = parts as [string, string];
    for (const token of [a, b])
      if (!Object.hasOwn(vocab, token)) fail(path, `token ${show(token)} is not in model.vocab`, RangeError);
    const merged = a + b;
    const unprefixed = prefix && b.startsWith(prefix) ? a + b.slice(prefix.length) : merged;
    if (!Object.hasOwn(vocab, merged) && !Object.hasOwn(vocab, unprefixed))
      fail(path, `merged token ${show(unprefixed)} is not in model.vocab`, RangeError);
  });
}

/** `model.vocab` of Unigram: [token, score] pairs, and `unk_id` an index into them. */
function checkUnigram(model: Json): void {
  const vocab = model.vocab;
  if (!Array.isArray(vocab)) fail('model.vocab', 'expected an array of [token, score] pairs (Unigram)');
  vocab.forEach((entry: unknown, i) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number')
      fail(`model.vocab[${i}]`, `expected [token, score], got ${show(entry)}`);
  });
  const unk = model.unk_id;
  if (unk != null && !(isId(unk) && unk < vocab.length))
    fail(
      'model.unk_id',
      `expected an index into model.vocab (0..${vocab.length - 1}) or null, got ${show(unk)}`,
      RangeError,
    );
}

/** Every `pattern` of Replace and Split components: `{ String }` or `{ Regex }`. */
function checkPatterns(component: unknown, path: string): void {
  if (!isObject(component)) return;
  for (const key of ['normalizers', 'pretokenizers', 'decoders']) {
    const list = component[key];
    if (Array.isArray(list)) for (const [i, c] of list.entries()) checkPatterns(c, `${path}.${key}[${i}]`);
  }
  if (component.type !== 'Replace' && component.type !== 'Split') return;
  const p = component.pattern;
  if (!isObject(p) || !(typeof p.String === 'string' || typeof p.Regex === 'string'))
    fail(`${path}.pattern`, `expected { String: "..." } or { Regex: "..." }, got ${show(p)}`);
}

/**
 * TemplateProcessing: every SpecialToken piece names an entry of `special_tokens`, and that entry's
 * id is the one the library will use (it looks the name up in the vocabulary and added tokens).
 */
function checkTemplates(processor: unknown, path: string, idOf: (token: string) => number | undefined): void {
  if (!isObject(processor)) return;
  if (processor.type === 'Sequence' && Array.isArray(processor.processors))
    for (const [i, p] of processor.processors.entries()) checkTemplates(p, `${path}.processors[${i}]`, idOf);
  if (processor.type !== 'TemplateProcessing') return;
  const special = isObject(processor.special_tokens) ? processor.special_tokens : {};
  for (const which of ['single', 'pair']) {
    const pieces = processor[which];
    if (pieces === undefined) continue;
    if (!Array.isArray(pieces)) fail(`${path}.${which}`, `expected an array of pieces, got ${show(pieces)}`);
    pieces.forEach((piece: unknown, i) => {
      if (!isObject(piece) || !isObject(piece.SpecialToken)) return;
      const name = piece.SpecialToken.id;
      const where = `${path}.${which}[${i}]`;
      if (typeof name !== 'string' || !Object.hasOwn(special, name))
        fail(where, `special token ${show(name)} is not in ${path}.special_tokens`, RangeError);
      const entry = special[name];
      const ids = isObject(entry) ? entry.ids : undefined;
      const id = idOf(name);
      if (!Array.isArray(ids) || ids.length !== 1 || ids[0] !== id) {
        fail(
          `${path}.special_tokens[${show(name)}]`,
          `ids ${show(ids)} must be the single id of ${show(name)} in the vocabulary or added_tokens (${show(id)})`,
          RangeError,
        );
      }
    });
  }
}

/**
 * Checks a parsed tokenizer.json and returns it with Rust's defaults filled in (a missing
 * `added_tokens` is empty; a missing normalizer, pre_tokenizer, post_processor or decoder is none).
 * Errors name the field: `VlmTokenizer: tokenizer.json model.merges[3]: ...`.
 *
 * @example
 * ```ts
 * checkTokenizerJson({ model: { type: 'BPE', vocab: { a: 0 }, merges: ['a b'] } });
 * // throws RangeError: VlmTokenizer: tokenizer.json model.merges[0]: token "b" is not in model.vocab
 * ```
 */
export function checkTokenizerJson(json: Json): Json {
  const model = json.model;
  if (!isObject(model)) throw new TypeError('VlmTokenizer: tokenizer.json has no model');
  // Rust tokenizers reads a model without a type by its fields (old files): merges make it BPE,
  // as the library assumes too.
  const type = model.type === undefined && Array.isArray(model.merges) ? 'BPE' : model.type;
  if (typeof type !== 'string' || !MODEL_TYPES.includes(type)) {
    fail(
      'model.type',
      `${type === undefined ? 'missing' : `${show(type)} is not supported`} (@huggingface/tokenizers implements ${MODEL_TYPES.join(', ')})`,
      RangeError,
    );
  }
  let idOfModel: (token: string) => number | undefined;
  if (type === 'Unigram') {
    checkUnigram(model);
    const ids = new Map((model.vocab as [string, number][]).map(([t], i) => [t, i]));
    idOfModel = (t) => ids.get(t);
  } else {
    const vocab = checkVocab(model.vocab);
    if (type === 'BPE') checkMerges(model, vocab);
    idOfModel = (t) => (Object.hasOwn(vocab, t) ? (vocab[t] as number) : undefined);
  }

  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) fail('added_tokens', `expected an array, got ${show(added).slice(0, 40)}`);
  const addedIds = new Map<string, number>();
  added.forEach((token: unknown, i) => {
    if (!isObject(token)) fail(`added_tokens[${i}]`, `expected an object, got ${show(token)}`);
    if (!isId(token.id))
      fail(`added_tokens[${i}].id`, `expected a non-negative integer, got ${show(token.id)}`);
    if (typeof token.content !== 'string')
      fail(`added_tokens[${i}].content`, `expected a string, got ${show(token.content)}`);
    addedIds.set(token.content, token.id);
  });

  checkPatterns(json.normalizer, 'normalizer');
  checkPatterns(json.pre_tokenizer, 'pre_tokenizer');
  checkPatterns(json.decoder, 'decoder');
  checkTemplates(json.post_processor, 'post_processor', (t) => addedIds.get(t) ?? idOfModel(t));

  return {
    ...json,
    added_tokens: added,
    normalizer: json.normalizer ?? null,
    pre_tokenizer: json.pre_tokenizer ?? null,
    post_processor: json.post_processor ?? null,
    decoder: json.decoder ?? null,
  };
}

/**
 * UTF-8 for ByteFallback runs as Rust decodes them: a valid run is its text, an invalid one is one
 * U+FFFD per byte (a TextDecoder would give one per maximal invalid subsequence); a BOM is kept.
 */
export class ByteRunDecoder extends TextDecoder {
  constructor() {
    super('utf-8', { fatal: true, ignoreBOM: true });
  }

  override decode(input?: AllowSharedBufferSource, options?: TextDecodeOptions): string {
    try {
      return super.decode(input, options);
    } catch {
      return '\uFFFD'.repeat(input ? input.byteLength : 0);
    }
  }
}
