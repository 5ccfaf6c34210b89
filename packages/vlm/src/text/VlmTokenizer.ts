// Text in and out of the model: the checkpoint's `tokenizer.json` through @huggingface/tokenizers
// (pure JavaScript, the tokenizer transformers.js uses) and the chat template of
// `tokenizer_config.json` rendered with @huggingface/jinja, the way transformers' apply_chat_template
// renders it (messages with content parts, `add_generation_prompt`, the special tokens by name).
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { argumentError, checkObject, checkString, describe } from '../checkArguments.js';
import { ByteRunDecoder, checkTokenizerJson } from './tokenizerJson.js';

/** Roles a chat message may have. */
export type ChatRole = 'system' | 'user' | 'assistant';

/** One part of a message's content: text, or an image (its pixels are given separately or with it). */
export type ChatContentPart<Image = unknown> =
  | { type: 'text'; text: string }
  | { type: 'image'; image?: Image };

/** A chat message; string content is the same as one text part. */
export interface ChatMessage<Image = unknown> {
  role: ChatRole;
  content: string | readonly ChatContentPart<Image>[];
}

const ROLES: readonly string[] = ['system', 'user', 'assistant'];

type Json = Record<string, unknown>;

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string')
    return (v as Json).content as string;
  return undefined;
}

function parseJson(text: string | object, what: string): Json {
  if (typeof text !== 'string') return text as Json;
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    throw new SyntaxError(`VlmTokenizer: ${what} is not valid JSON (${(e as Error).message})`);
  }
}

/** `v` must be JSON text or its parsed object (not an array, a tensor or a number). */
function checkJsonText(fn: string, name: string, v: unknown, what: string): void {
  if (typeof v !== 'string') checkObject(fn, name, v, what);
}

/**
 * Checks chat messages: known roles, string or part-list content. Errors name the message.
 *
 * @example
 * ```ts
 * checkChatMessages(JSON.parse('[{ "role": "robot", "content": "hi" }]')); // throws: unknown chat role "robot" in message 0
 * ```
 */
export function checkChatMessages(messages: readonly ChatMessage[]): void {
  checkMessages(messages, 'checkChatMessages');
}

/** {@link checkChatMessages} with the messages' errors prefixed `where` (`chat` inside the tokenizer). */
export function checkMessages(messages: readonly ChatMessage[], where: string): void {
  if (!Array.isArray(messages) || messages.length === 0)
    throw new TypeError(`${where}: expected a non-empty array of messages, got ${describe(messages)}`);
  messages.forEach((m, i) => {
    if (!m || typeof m !== 'object') throw new TypeError(`${where}: message ${i} is not an object`);
    if (!ROLES.includes(m.role as string)) {
      throw new RangeError(
        `${where}: unknown chat role ${JSON.stringify(m.role)} in message ${i} (expected one of ${ROLES.join(', ')})`,
      );
    }
    const parts = typeof m.content === 'string' ? [] : m.content;
    if (!Array.isArray(parts))
      throw new TypeError(`${where}: message ${i} content must be a string or an array of parts`);
    parts.forEach((p, j) => {
      if (
        !p ||
        (p.type !== 'text' && p.type !== 'image') ||
        (p.type === 'text' && typeof p.text !== 'string')
      ) {
        throw new TypeError(
          `${where}: message ${i} part ${j} must be { type: 'text', text } or { type: 'image' }, got ${JSON.stringify(p)}`,
        );
      }
    });
  });
}

/** Whether a tokenizer.json decoder (or one in its Sequence) deletes spaces before punctuation. */
function decoderCleansUp(decoder: unknown): boolean {
  if (!decoder || typeof decoder !== 'object') return false;
  const d = decoder as Json;
  if (d.type === 'Sequence' && Array.isArray(d.decoders)) return d.decoders.some(decoderCleansUp);
  // Both default to cleaning up in the tokenizers library.
  return (d.type === 'WordPiece' || d.type === 'CTC') && d.cleanup !== false;
}

/** The fields of the library's decoders (`Tokenizer.decoder`) that useRustByteRuns uses. */
interface LibraryDecoder {
  config?: { type?: unknown };
  decoders?: LibraryDecoder[]; // SequenceDecoder
  text_decoder?: TextDecoder; // ByteFallbackDecoder
}

/**
 * Makes the ByteFallback decoders (also inside a Sequence) decode an invalid byte run as Rust does,
 * through their public `text_decoder`, instead of reimplementing the library's decoder chain.
 */
function useRustByteRuns(decoder: LibraryDecoder | null | undefined): void {
  if (!decoder) return;
  if (decoder.config?.type === 'ByteFallback' && decoder.text_decoder)
    decoder.text_decoder = new ByteRunDecoder();
  for (const d of decoder.decoders ?? []) useRustByteRuns(d);
}

/**
 * A checkpoint's tokenizer and chat template.
 *
 * @example
 * ```ts
 * const tokenizer = VlmTokenizer.fromJson(tokenizerJson, tokenizerConfigJson);
 * const ids = tokenizer.encode('USER: <image>\nWhat is this? ASSISTANT:'); // [1, ...]
 * tokenizer.decode(ids, { skipSpecialTokens: true });
 * ```
 */
export class VlmTokenizer {
  readonly #tokenizer: Tokenizer;
  readonly #config: Json;
  readonly #template: Template | undefined;
  /** The template tests `content is string`, so it reads text content as a string. */
  readonly #templateTakesStrings: boolean;
  readonly #cleansUpSpaces: boolean;
  /** The chat template source, when the checkpoint has one. */
  readonly chatTemplate: string | undefined;

  private constructor(
    tokenizer: Tokenizer,
    config: Json,
    chatTemplate: string | undefined,
    cleansUpSpaces: boolean,
  ) {
    // Private, yet callable from JavaScript: `new VlmTokenizer(json)` names the way to build one.
    if (!(tokenizer instanceof Tokenizer))
      throw new TypeError(
        `VlmTokenizer: build one with VlmTokenizer.fromJson(tokenizerJson, tokenizerConfig), not new VlmTokenizer(), got ${describe(tokenizer)}`,
      );
    this.#tokenizer = tokenizer;
    this.#cleansUpSpaces = cleansUpSpaces;
    this.#config = config;
    this.chatTemplate = chatTemplate;
    this.#template = chatTemplate === undefined ? undefined : new Template(chatTemplate);
    this.#templateTakesStrings = chatTemplate !== undefined && /\bis\s+string\b/.test(chatTemplate);
  }

  /**
   * Builds a tokenizer from `tokenizer.json` and `tokenizer_config.json` (text or parsed), and an
   * optional chat template that overrides the config's `chat_template` (e.g. from `chat_template.jinja`).
   *
   * @example
   * ```ts
   * const tokenizer = VlmTokenizer.fromJson(await readFile('tokenizer.json', 'utf8'), await readFile('tokenizer_config.json', 'utf8'));
   * ```
   */
  static fromJson(
    tokenizerJson: string | object,
    tokenizerConfig: string | object = {},
    chatTemplate?: string,
  ): VlmTokenizer {
    const fn = 'VlmTokenizer.fromJson';
    checkJsonText(fn, 'tokenizerJson', tokenizerJson, 'the text or object of tokenizer.json');
    checkJsonText(fn, 'tokenizerConfig', tokenizerConfig, 'the text or object of tokenizer_config.json');
    checkString(fn, 'chatTemplate', chatTemplate, true);
    const json = checkTokenizerJson(parseJson(tokenizerJson, 'tokenizer.json'));
    const config = parseJson(tokenizerConfig, 'tokenizer_config.json');
    let template = chatTemplate;
    const fromConfig = config.chat_template;
    if (template === undefined && typeof fromConfig === 'string') template = fromConfig;
    if (template === undefined && Array.isArray(fromConfig)) {
      // Several named templates: the `default` one.
      const named = fromConfig as { name?: string; template?: string }[];
      template = (named.find((t) => t.name === 'default') ?? named[0])?.template;
    }
    // transformers (since 4.45) leaves spaces before punctuation alone unless the config says
    // otherwise; @huggingface/tokenizers would clean them up when the key is missing.
    const decoding = {
      ...config,
      clean_up_tokenization_spaces: config.clean_up_tokenization_spaces === true,
    };
    const cleansUp = decoding.clean_up_tokenization_spaces || decoderCleansUp(json.decoder);
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, decoding);
    } catch (e) {
      throw new Error(`VlmTokenizer: tokenizer.json: ${(e as Error).message}`, { cause: e });
    }
    useRustByteRuns(tokenizer.decoder as LibraryDecoder | null);
    return new VlmTokenizer(tokenizer, config, template, cleansUp);
  }

  /**
   * Whether decoding deletes spaces before punctuation ("hello ." -> "hello."): the config's
   * `clean_up_tokenization_spaces` (off when it is missing, as in transformers since 4.45), or a
   * WordPiece or CTC decoder's `cleanup` in tokenizer.json.
   *
   * @example
   * ```ts
   * VlmTokenizer.fromJson(json, { clean_up_tokenization_spaces: true }).cleansUpSpaces; // true
   * ```
   */
  get cleansUpSpaces(): boolean {
    return this.#cleansUpSpaces;
  }

  /** The id of a token string, or undefined. */
  tokenToId(token: string): number | undefined {
    checkString('VlmTokenizer.tokenToId', 'token', token);
    return this.#tokenizer.token_to_id(token);
  }

  /** The special token `name` (`bos_token`, `eos_token`, ...) of tokenizer_config.json. */
  specialToken(name: string): string | undefined {
    checkString('VlmTokenizer.specialToken', 'name', name);
    return tokenContent(this.#config[name]);
  }

  /**
   * Token ids of `text`; `addSpecialTokens` (default true) runs the post-processor (e.g. a BOS).
   *
   * @example
   * ```ts
   * tokenizer.encode('hello', { addSpecialTokens: false });
   * ```
   */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    checkString('VlmTokenizer.encode', 'text', text);
    checkObject('VlmTokenizer.encode', 'options', options);
    return this.#tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /**
   * Text of token ids; special tokens are skipped unless `skipSpecialTokens` is false. Ids with no
   * token (past the vocabulary, as the padded embedding rows of some checkpoints) are dropped, as
   * Rust tokenizers drops them.
   *
   * @example
   * ```ts
   * tokenizer.decode([1, 450, 4796]); // 'The cat'
   * ```
   */
  decode(ids: readonly number[] | Int32Array, options: { skipSpecialTokens?: boolean } = {}): string {
    if (!Array.isArray(ids) && !(ArrayBuffer.isView(ids) && !(ids instanceof DataView)))
      throw argumentError('VlmTokenizer.decode', 'ids', 'an array or Int32Array of token ids', ids);
    checkObject('VlmTokenizer.decode', 'options', options);
    const known = Array.from(ids).filter((id) => this.#tokenizer.id_to_token(id) !== undefined);
    if (known.length === 0) return ''; // as transformers (the tokenizers library refuses an empty list)
    return this.#tokenizer.decode(known, {
      skip_special_tokens: options.skipSpecialTokens ?? true,
    });
  }

  /**
   * Renders messages with the chat template, as transformers' `apply_chat_template(tokenize=False)`:
   * content as a list of parts, the special tokens by name, `add_generation_prompt` (default true).
   * A message's string content reaches the template as one text part (what LLaVA's templates, which
   * loop over the parts, read), or as the string itself when the template tests `is string` (those
   * templates render the two kinds differently, and transformers passes a string as it is).
   *
   * @example
   * ```ts
   * const prompt = tokenizer.applyChatTemplate([
   *   { role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'What is shown?' }] },
   * ]); // with LLAVA_CHAT_TEMPLATE: '<s>USER: <image>\nWhat is shown? ASSISTANT:'
   * ```
   */
  applyChatTemplate(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt?: boolean } = {},
  ): string {
    checkMessages(messages, 'VlmTokenizer.applyChatTemplate');
    checkObject('VlmTokenizer.applyChatTemplate', 'options', options);
    if (!this.#template)
      throw new Error(
        'VlmTokenizer: the checkpoint has no chat template (tokenizer_config.json chat_template)',
      );
    const context: Json = {
      messages: messages.map((m) => ({
        role: m.role,
        content:
          typeof m.content === 'string'
            ? this.#templateTakesStrings
              ? m.content
              : [{ type: 'text', text: m.content }]
            : m.content.map((p) => (p.type === 'text' ? { type: 'text', text: p.text } : { type: 'image' })),
      })),
      add_generation_prompt: options.addGenerationPrompt ?? true,
    };
    for (const name of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const token = this.specialToken(name);
      if (token !== undefined) context[name] = token;
    }
    return this.#template.render(context);
  }

  /**
   * Token ids of a rendered chat: special tokens are added only when the template did not already
   * write the BOS token (templates differ on this; transformers leaves it to the template).
   *
   * @example
   * ```ts
   * const ids = tokenizer.encodeChat(tokenizer.applyChatTemplate(messages));
   * ```
   */
  encodeChat(rendered: string): number[] {
    checkString('VlmTokenizer.encodeChat', 'rendered', rendered);
    const bos = this.specialToken('bos_token');
    return this.encode(rendered, { addSpecialTokens: !(bos !== undefined && rendered.startsWith(bos)) });
  }
}
