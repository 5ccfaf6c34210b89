// A word-level tokenizer for models trained on a closed vocabulary (the shapes world), written as
// the HF `tokenizer.json` + `tokenizer_config.json` pair that `loadVlm` and transformers read. The
// model is WordPiece, whose words are all whole (WordPiece is the word-level model every tokenizers
// implementation supports; `WordLevel` is missing from @huggingface/tokenizers), after a Whitespace
// pre-tokenizer (`\w+|[^\w\s]+`), so "what color is the circle?" is six tokens and an unknown word
// is `<unk>`.
import { argumentError, checkInteger, checkObject, checkString } from '../checkArguments.js';
import { bosTemplateProcessing, specialToken } from './tokenizerJsonParts.js';

/** `tokenizer.json` and `tokenizer_config.json` of a checkpoint, as text. */
export interface VlmTokenizerFiles {
  'tokenizer.json': string;
  'tokenizer_config.json': string;
}

/** Options of {@link wordTokenizerFiles}. */
export interface WordTokenizerOptions {
  /** Lowercase the text before splitting it (default true: the words are lowercase). */
  lowercase?: boolean;
  /** The chat template (default {@link LLAVA_CHAT_TEMPLATE}). */
  chatTemplate?: string;
  /** Longest prompt in tokens (tokenizer_config `model_max_length`, default 512). */
  maxLength?: number;
  /**
   * Other spellings of vocabulary words, read as those words: `{ colour: 'color' }` makes "what
   * colour is it?" the same tokens as "what color is it?" (a `Replace` normalizer per pair, whole
   * words only, after lowercasing). Default none.
   */
  spellings?: Readonly<Record<string, string>>;
}

/**
 * LLaVA-1.5's conversation format (llava-hf's template): `USER: <image>\n{question} ASSISTANT:`,
 * with the BOS first and, as LLaVA-1.5 trains, the EOS after each assistant answer. The default
 * chat template of {@link wordTokenizerFiles}.
 *
 * @example
 * ```ts
 * const tokenizer = VlmTokenizer.fromJson(tokenizerJson, tokenizerConfigJson, LLAVA_CHAT_TEMPLATE);
 * const content = [{ type: 'image' as const }, { type: 'text' as const, text: 'What is shown?' }];
 * tokenizer.applyChatTemplate([{ role: 'user', content }]); // '<s>USER: <image>\nWhat is shown? ASSISTANT:'
 * ```
 */
export const LLAVA_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}" +
  "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}" +
  "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' ' }}{% endfor %}" +
  "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}" +
  "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

/**
 * The special tokens of {@link wordTokenizerFiles}, at ids 0..4 in this order.
 *
 * @example
 * ```ts
 * const files = wordTokenizerFiles(['what', 'color', 'is', 'it', '?']);
 * const tokenizer = VlmTokenizer.fromJson(files['tokenizer.json'], files['tokenizer_config.json']);
 * WORD_TOKENIZER_SPECIALS.map((t) => tokenizer.tokenToId(t)); // [0, 1, 2, 3, 4]
 * const image_token_index = WORD_TOKENIZER_SPECIALS.indexOf('<image>'); // 4
 * ```
 */
export const WORD_TOKENIZER_SPECIALS = ['<pad>', '<s>', '</s>', '<unk>', '<image>'] as const;

const WORD = /^(\w+|[^\w\s]+)$/u;

/** Lowercasing, then each spelling replaced by its word (whole words only); null for neither. */
function normalizer(lowercase: boolean, spellings: Readonly<Record<string, string>>): object | null {
  const replaces = Object.entries(spellings).map(([variant, word]) => {
    for (const w of [variant, word])
      if (!/^\w+$/u.test(w) || (lowercase && w !== w.toLowerCase()))
        throw new RangeError(
          `wordTokenizerFiles: spelling ${JSON.stringify(variant)} -> ${JSON.stringify(word)} must map one word to one word${lowercase ? ', lowercase' : ''}`,
        );
    return { type: 'Replace', pattern: { Regex: `\\b${variant}\\b` }, content: word };
  });
  const steps = [...(lowercase ? [{ type: 'Lowercase' }] : []), ...replaces];
  if (steps.length === 0) return null;
  return steps.length === 1 ? steps[0]! : { type: 'Sequence', normalizers: steps };
}

function checkWordArguments(words: unknown, options: unknown): void {
  const fn = 'wordTokenizerFiles';
  if (!Array.isArray(words)) throw argumentError(fn, 'words', 'an array of words', words);
  checkObject(fn, 'options', options);
  const { lowercase, chatTemplate, maxLength, spellings } = options as WordTokenizerOptions;
  if (lowercase !== undefined && typeof lowercase !== 'boolean')
    throw argumentError(fn, 'options.lowercase', 'true or false', lowercase);
  checkString(fn, 'options.chatTemplate', chatTemplate, true);
  checkInteger(fn, 'options.maxLength', maxLength, 1, true);
  checkObject(fn, 'options.spellings', spellings, 'an object of spellings', true);
}

/**
 * Tokenizer files for a closed vocabulary: ids 0..4 are `<pad>`, `<s>` (BOS, added in front of
 * every encoded text), `</s>` (EOS), `<unk>` and `<image>`; then the role words of the LLaVA
 * template (`user`, `assistant`, `:`, lowercase or not as `lowercase` says), then `words` in order
 * (duplicates dropped). Each word must be one pre-token: letters/digits/underscore, or punctuation.
 *
 * @example
 * ```ts
 * const files = wordTokenizerFiles(['what', 'color', 'is', 'the', 'circle', '?', 'red']);
 * const tokenizer = VlmTokenizer.fromJson(files['tokenizer.json'], files['tokenizer_config.json']);
 * tokenizer.encode('What color is the circle?'); // [1, 8, 9, 10, 11, 12, 13]
 * ```
 */
export function wordTokenizerFiles(
  words: readonly string[],
  options: WordTokenizerOptions = {},
): VlmTokenizerFiles {
  checkWordArguments(words, options);
  const lowercase = options.lowercase ?? true;
  const roles = lowercase ? ['user', 'assistant', ':'] : ['USER', 'ASSISTANT', ':'];
  const vocab: Record<string, number> = {};
  let next = 0;
  for (const w of [...WORD_TOKENIZER_SPECIALS, ...roles]) vocab[w] = next++;
  words.forEach((w, i) => {
    if (typeof w !== 'string' || !WORD.test(w))
      throw new RangeError(
        `wordTokenizerFiles: word ${i} ${JSON.stringify(w)} is not one token (letters/digits, or punctuation, no spaces)`,
      );
    if (lowercase && w !== w.toLowerCase())
      throw new RangeError(
        `wordTokenizerFiles: word ${i} ${JSON.stringify(w)} has capitals but the text is lowercased`,
      );
    if (!(w in vocab)) vocab[w] = next++;
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: WORD_TOKENIZER_SPECIALS.map((content) => specialToken(vocab[content]!, content)),
    normalizer: normalizer(lowercase, options.spellings ?? {}),
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: bosTemplateProcessing('<s>', vocab['<s>']!),
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '<unk>',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: '<pad>',
    model_max_length: options.maxLength ?? 512,
    clean_up_tokenization_spaces: true,
    chat_template: options.chatTemplate ?? LLAVA_CHAT_TEMPLATE,
  };
  return {
    'tokenizer.json': `${JSON.stringify(tokenizer, null, 2)}\n`,
    'tokenizer_config.json': `${JSON.stringify(config, null, 2)}\n`,
  };
}
