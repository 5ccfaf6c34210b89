import { FusedQkvParams, type ImageInput, type PreprocessOptions, preprocessToTensor } from '@vl/clip';
import { type Backend, Tensor, concat, reshape, tidy } from '@vl/tensor';
import {
  argumentError,
  checkBoolean,
  checkLlavaConfig,
  checkObject,
  checkTensor,
  checkTensorMap,
  describe,
  isPlainObject,
} from '../checkArguments.js';
import { type LlavaConfig, imageTokenCount } from '../model/config.js';
import { type TokenRows, llavaForward, visionFeatureLayers } from '../model/llava.js';
import type { VlmParams } from '../model/params.js';
import { type ChatMessage, type VlmTokenizer, checkMessages } from '../text/VlmTokenizer.js';
import {
  type GenerateOptions,
  type GeneratedToken,
  type PreparedPrompt,
  checkGenerateOptions,
  generateTokens,
} from './generateTokens.js';
import { TextStream } from './TextStream.js';

/** An image: a decoded picture (preprocessed with the checkpoint's settings) or pixels `[3, S, S]` / `[n, 3, S, S]` already normalized. */
export type VlmImage = ImageInput | Tensor;

/** A prompt as text with one image placeholder (e.g. `<image>`) per image, in order. */
export interface VlmTextPrompt {
  prompt: string;
  images?: readonly VlmImage[];
}

/** A prompt as token ids: one placeholder id per image, or already expanded to one per image token. */
export interface VlmTokenPrompt {
  inputIds: readonly number[] | Int32Array;
  images?: readonly VlmImage[];
}

/** What the model answers: chat messages (images in their content parts), text or token ids. */
export type VlmPrompt = readonly ChatMessage<VlmImage>[] | VlmTextPrompt | VlmTokenPrompt;

/** The parts a {@link VlmModel} is made of (see `loadVlm`). */
export interface VlmModelParts {
  config: LlavaConfig;
  params: VlmParams;
  backend: Backend;
  /** Dispose the backend with the model. */
  ownsBackend?: boolean;
  tokenizer?: VlmTokenizer;
  preprocess?: PreprocessOptions;
  /**
   * Stop tokens of generation_config.json (default: the text config's eos_token_id). Ids outside
   * the vocabulary, which can never be generated, are ignored (as transformers ignores them).
   */
  eosTokenId?: readonly number[];
  /**
   * Run each vision-tower block's q, k and v as one product (`FusedQkvParams` of `@vl/clip`); costs a
   * second copy of those weights. Default on.
   */
  fuseQkv?: boolean;
}

/** Images in a list: a `[n, 3, S, S]` tensor counts n. */
function imageCount(images: readonly VlmImage[]): number {
  return images.reduce<number>((n, im) => n + (im instanceof Tensor && im.rank === 4 ? im.shape[0]! : 1), 0);
}

/** Chat messages: a list whose first entry looks like a message (a role, or content without one). */
function isMessages(p: unknown): p is readonly ChatMessage<VlmImage>[] {
  if (!Array.isArray(p) || p.length === 0) return false;
  const m: unknown = p[0];
  return typeof m === 'object' && m !== null && !Array.isArray(m) && ('role' in m || 'content' in m);
}

/** The prompt of `fn`, `which` (`prompt`, `prompt 1` in a batch), must have one of the three forms. */
function checkPrompt(fn: string, p: unknown, which: string): void {
  if (isMessages(p) || (isPlainObject(p) && ('inputIds' in p || typeof p.prompt === 'string'))) return;
  throw new TypeError(
    `${fn}: ${which} must be chat messages, { prompt: string, images? } or { inputIds, images? }, got ${describe(p)}`,
  );
}

/** The prompts of a `generate` call: one prompt, or a batch of them (not empty), each checked. */
function promptsOf(fn: string, prompt: unknown): readonly VlmPrompt[] {
  if (isMessages(prompt) || !Array.isArray(prompt)) {
    checkPrompt(fn, prompt, 'prompt');
    return [prompt as VlmPrompt];
  }
  if (prompt.length === 0) throw new TypeError(`${fn}: no prompts`);
  for (const [i, p] of prompt.entries()) checkPrompt(fn, p, `prompt ${i}`);
  return prompt as readonly VlmPrompt[];
}

/** The parts of `new VlmModel(parts)`, checked before any is read. */
function checkParts(parts: unknown): asserts parts is VlmModelParts {
  const fn = 'VlmModel';
  checkObject(fn, 'parts', parts, 'an object { config, params, backend, ... } (or use loadVlm)');
  const { config, params, backend, ownsBackend, tokenizer, preprocess, eosTokenId, fuseQkv } =
    parts as Record<string, unknown>;
  checkLlavaConfig(fn, config, 'parts.config');
  checkTensorMap(fn, 'parts.params', params);
  if (typeof (backend as { upload?: unknown } | null)?.upload !== 'function')
    throw argumentError(fn, 'parts.backend', 'a Backend (createBackend())', backend);
  checkBoolean(fn, 'parts.ownsBackend', ownsBackend, true);
  if (tokenizer !== undefined && typeof (tokenizer as { decode?: unknown } | null)?.decode !== 'function')
    throw argumentError(fn, 'parts.tokenizer', 'a VlmTokenizer or undefined', tokenizer);
  checkObject(fn, 'parts.preprocess', preprocess, 'PreprocessOptions or undefined', true);
  if (eosTokenId !== undefined && !Array.isArray(eosTokenId) && !(eosTokenId instanceof Int32Array))
    throw argumentError(fn, 'parts.eosTokenId', 'an array of token ids or undefined', eosTokenId);
  checkBoolean(fn, 'parts.fuseQkv', fuseQkv, true);
}

/**
 * Runs `f` for prompt `index` of a batch: an error it throws comes back with `prompt ${index}: ` after
 * the `VlmModel: ` of its message, the prefix of the batch's own checks, so that the message says
 * which prompt (errors of the tokenizer and of preprocessing included). Outside a batch, as is.
 */
function inPrompt<T>(index: number | undefined, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (index === undefined || !(e instanceof Error)) throw e;
    const rest = e.message.startsWith('VlmModel: ') ? e.message.slice('VlmModel: '.length) : e.message;
    const message = `VlmModel: prompt ${index}: ${rest}`;
    const Kind = e instanceof RangeError ? RangeError : e instanceof TypeError ? TypeError : Error;
    throw new Kind(message, { cause: e });
  }
}

/**
 * A loaded LLaVA model: `forward` for logits, `generate` for streamed answers.
 *
 * @example
 * ```ts
 * const vlm = await loadVlm('/models/llava-1.5-7b-hf', { backend });
 * for await (const { text } of vlm.generate([
 *   { role: 'user', content: [{ type: 'image', image: await loadImage('cat.jpg') }, { type: 'text', text: 'What is this?' }] },
 * ], { maxNewTokens: 64 })) process.stdout.write(text);
 * vlm.dispose();
 * ```
 */
export class VlmModel {
  readonly config: LlavaConfig;
  readonly params: VlmParams;
  readonly backend: Backend;
  readonly tokenizer: VlmTokenizer | undefined;
  readonly preprocess: PreprocessOptions;
  /** Decoder positions one image takes. */
  readonly imageTokens: number;
  readonly #ownsBackend: boolean;
  readonly #eos: readonly number[] | undefined;
  /** What the forward passes read: `params`, plus the vision tower's fused qkv weights when fuseQkv. */
  readonly #weights: FusedQkvParams;
  #disposed = false;

  constructor(parts: VlmModelParts) {
    checkParts(parts);
    this.config = parts.config;
    this.params = parts.params;
    this.backend = parts.backend;
    this.tokenizer = parts.tokenizer;
    const S = parts.config.vision_config.image_size;
    this.preprocess = parts.preprocess ?? { size: S, crop: S };
    this.imageTokens = imageTokenCount(parts.config);
    this.#ownsBackend = parts.ownsBackend ?? false;
    // An id past vocab_size never comes out of the sampler; as a stop token it would only make
    // every generate() fail the stopTokens check, for an option the caller never passed.
    const V = parts.config.text_config.vocab_size;
    const kept = parts.eosTokenId?.filter((id) => Number.isInteger(id) && id >= 0 && id < V);
    // None left: the text config's eos_token_id, as without a generation_config (an empty list
    // would stop on nothing).
    this.#eos = kept?.length ? kept : undefined;
    // The tower runs only up to its deepest feature layer: blocks past it are never fused.
    this.#weights = new FusedQkvParams(parts.params, parts.fuseQkv ?? true, {
      layers: Math.max(...visionFeatureLayers(parts.config)),
    });
  }

  /**
   * Logits `[B, T, V]` for token ids `[B, T]` (image placeholders expanded, `imageTokens` per image)
   * and the images' pixels `[N, 3, S, S]`, as HF's `LlavaForConditionalGeneration` returns them.
   * Each id must be an integer in `[0, vocab_size)` or the image token id; rows given as arrays are
   * checked like `generate`'s `{ inputIds }`, and a bad one is named (`inputIds[0][1]`).
   *
   * @example
   * ```ts
   * const logits = await vlm.forward(inputIds, pixelValues); // [1, 24, V]
   * ```
   */
  async forward(inputIds: Tensor | TokenRows, pixelValues?: Tensor): Promise<Tensor> {
    this.#check();
    let rows: TokenRows;
    if (!(inputIds instanceof Tensor) && !Array.isArray(inputIds))
      throw new TypeError(
        `VlmModel.forward: inputIds must be an i32 tensor [B, T] or an array of token id rows, got ${describe(inputIds)}`,
      );
    checkTensor('VlmModel.forward', 'pixelValues', pixelValues, true);
    if (inputIds instanceof Tensor) {
      if (inputIds.rank !== 2 || inputIds.dtype !== 'i32')
        throw new TypeError(`VlmModel.forward: inputIds must be i32 [B, T], got ${inputIds.describe()}`);
      const [B, T] = inputIds.shape as [number, number];
      const flat = (await inputIds.read()) as Int32Array;
      rows = Array.from({ length: B }, (_, b) => flat.subarray(b * T, (b + 1) * T));
      this.#check(); // the model may have been disposed while the ids were read
    } else rows = inputIds;
    this.#checkRows(rows);
    return tidy(() => llavaForward(this.#weights.params, rows, pixelValues, this.config)); // [B, T, V]
  }

  /**
   * Token ids of a prompt, with each image placeholder expanded to `imageTokens` positions.
   *
   * @example
   * ```ts
   * const ids = vlm.encodePrompt({ prompt: 'USER: <image>\nWhat is it? ASSISTANT:', images: [image] });
   * ```
   */
  encodePrompt(prompt: VlmPrompt): number[] {
    checkPrompt('VlmModel.encodePrompt', prompt, 'prompt');
    const { ids, images } = this.#tokens(prompt);
    return this.#expand(ids, imageCount(images));
  }

  /**
   * Streams the answer to one prompt, or to a batch of prompts (`index` says which), token by
   * token: greedy by default, or sampled (temperature, top-k, top-p, repetition penalty, seeded).
   * Stops at a stop token, after `maxNewTokens`, when the context is full, or when `signal` aborts
   * (the iterator then throws the reason). The KV cache lives for one call and is released however
   * it ends, breaking out of the loop included.
   *
   * @example
   * ```ts
   * let answer = '';
   * for await (const piece of vlm.generate({ prompt: 'USER: <image>\nDescribe it. ASSISTANT:', images: [image] })) {
   *   answer += piece.text;
   * }
   * ```
   */
  async *generate(
    prompt: VlmPrompt | readonly VlmPrompt[],
    options: GenerateOptions = {},
  ): AsyncGenerator<GeneratedToken, void, undefined> {
    this.#check();
    checkGenerateOptions(options, this.config.text_config.vocab_size);
    const batch = promptsOf('VlmModel.generate', prompt);
    const owned: Tensor[] = [];
    try {
      const prepared: PreparedPrompt[] = batch.map((p, i) =>
        inPrompt(batch.length > 1 ? i : undefined, () => {
          const { ids, images } = this.#tokens(p);
          const expanded = this.#expand(ids, imageCount(images));
          const pixelValues = this.#pixels(images, owned);
          return { ids: expanded, ...(pixelValues ? { pixelValues } : {}) };
        }),
      );
      const tokenizer = this.tokenizer;
      // Stop strings are found in the text: without a tokenizer there is none, and they would never stop.
      if (options.stop?.length && !tokenizer)
        throw new Error(
          'VlmModel.generate: stop strings need a tokenizer, and this model has none; use stopTokens',
        );
      const newTextStream = () =>
        new TextStream(
          (ids) => tokenizer?.decode(ids) ?? '',
          tokenizer?.cleansUpSpaces ?? false,
          options.stop ?? [],
        );
      // `stopTokens: undefined` is not given: the stop tokens of generation_config.json stay.
      const stopTokens = options.stopTokens ?? this.#eos;
      yield* generateTokens(
        this.#weights.params,
        this.config,
        this.backend,
        prepared,
        { ...options, ...(stopTokens ? { stopTokens } : {}) },
        newTextStream,
        () => {
          if (this.#disposed) throw new Error('VlmModel: the model was disposed during generation');
        },
      );
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  /**
   * The whole answer to each prompt as text (a convenience over {@link VlmModel.generate}).
   *
   * @example
   * ```ts
   * const [answer] = await vlm.generateText({ prompt: 'USER: <image>\nWhat is it? ASSISTANT:', images: [image] });
   * ```
   */
  async generateText(
    prompt: VlmPrompt | readonly VlmPrompt[],
    options: GenerateOptions = {},
  ): Promise<string[]> {
    this.#check();
    // generate() checks them again, but its messages would name generate.
    checkGenerateOptions(options, this.config.text_config.vocab_size, 'VlmModel.generateText');
    promptsOf('VlmModel.generateText', prompt);
    // Without a tokenizer every piece's text is '' and the answer would silently be empty.
    if (!this.tokenizer)
      throw new Error(
        'VlmModel.generateText: turning the answer into text needs a tokenizer (tokenizer.json); without one, use generate() for the token ids',
      );
    const texts: string[] = [];
    for await (const { index, text } of this.generate(prompt, options))
      texts[index] = (texts[index] ?? '') + text;
    const n = isMessages(prompt) || !Array.isArray(prompt) ? 1 : prompt.length;
    return Array.from({ length: n }, (_, i) => texts[i] ?? '');
  }

  /** Frees the parameters (and the backend when the model created it). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of new Set(this.params.values())) t.dispose();
    this.#weights.dispose();
    if (this.#ownsBackend) this.backend.dispose();
  }

  #check(): void {
    if (this.#disposed) throw new Error('VlmModel: the model was disposed');
  }

  #needTokenizer(what: string): VlmTokenizer {
    if (!this.tokenizer)
      throw new Error(`VlmModel: ${what} needs a tokenizer (tokenizer.json); pass { inputIds } instead`);
    return this.tokenizer;
  }

  #tokens(prompt: VlmPrompt): { ids: number[]; images: VlmImage[] } {
    if (isMessages(prompt)) {
      // checkMessages would call a missing role an unknown one ("undefined").
      prompt.forEach((m, i) => {
        if (typeof m === 'object' && m !== null && !('role' in m))
          throw new TypeError(`chat: message ${i} has no role (expected one of system, user, assistant)`);
      });
      checkMessages(prompt, 'chat');
      const images: VlmImage[] = [];
      prompt.forEach((m, i) => {
        if (typeof m.content === 'string') return;
        m.content.forEach((part, j) => {
          if (part.type !== 'image') return;
          if (part.image === undefined)
            throw new TypeError(`chat: message ${i} part ${j} is an image part without an image`);
          images.push(part.image);
        });
      });
      const tokenizer = this.#needTokenizer('a chat prompt');
      return { ids: tokenizer.encodeChat(tokenizer.applyChatTemplate(prompt)), images };
    }
    if (!prompt || typeof prompt !== 'object')
      throw new TypeError(`VlmModel: a prompt must be messages, { prompt } or { inputIds }`);
    if (prompt.images !== undefined && !Array.isArray(prompt.images))
      throw new TypeError(`VlmModel: images must be an array of images, got ${describe(prompt.images)}`);
    const images = [...(prompt.images ?? [])];
    if ('inputIds' in prompt) return { ids: this.#checkIds(prompt.inputIds, 'VlmModel: inputIds'), images };
    if ('prompt' in prompt && typeof prompt.prompt === 'string')
      return { ids: this.#needTokenizer('a text prompt').encode(prompt.prompt), images };
    throw new TypeError('VlmModel: a prompt must be messages, { prompt: string } or { inputIds }');
  }

  /**
   * Token ids of `{ inputIds }` or of a row of forward's: an array (or Int32Array) of integer ids in
   * the vocabulary or the image token; `name` is what the messages call it.
   */
  #checkIds(inputIds: unknown, name: string): number[] {
    if (!Array.isArray(inputIds) && !(inputIds instanceof Int32Array))
      throw new TypeError(`${name} must be an array or Int32Array of token ids, got ${describe(inputIds)}`);
    const V = this.config.text_config.vocab_size;
    const imageId = this.config.image_token_index;
    const ids = Array.from(inputIds as ArrayLike<unknown>);
    ids.forEach((id, j) => {
      if (id === imageId) return;
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= V)
        throw new RangeError(
          `${name}[${j}] must be an integer token id in [0, ${V}) (vocab_size), got ${describe(id)}`,
        );
    });
    return ids as number[];
  }

  /** forward's rows, checked as generate checks `{ inputIds }` (llavaForward would read a string as a number). */
  #checkRows(rows: TokenRows): void {
    for (let b = 0; b < rows.length; b++) this.#checkIds(rows[b], `VlmModel.forward: inputIds[${b}]`);
  }

  /** One placeholder per image becomes `imageTokens` placeholders; already expanded ids pass. */
  #expand(ids: number[], images: number): number[] {
    const id = this.config.image_token_index;
    const P = this.imageTokens;
    const count = ids.reduce((n, t) => n + (t === id ? 1 : 0), 0);
    if (count === images * P) return ids;
    if (count === images) return ids.flatMap((t) => (t === id ? new Array<number>(P).fill(id) : [t]));
    throw new RangeError(
      `VlmModel: the prompt has ${count} image placeholder tokens (id ${id}) for ${images} image(s); expected one per image, or ${P} per image`,
    );
  }

  /** `[n, 3, S, S]` for the images of one prompt (new tensors are added to `owned`). */
  #pixels(images: readonly VlmImage[], owned: Tensor[]): Tensor | undefined {
    if (images.length === 0) return undefined;
    const S = this.config.vision_config.image_size;
    const parts = images.map((image, i) => {
      if (!(image instanceof Tensor)) {
        const t = preprocessToTensor([image], this.backend, this.preprocess); // [1, 3, S, S]
        owned.push(t);
        return t;
      }
      const shape = image.rank === 3 ? [1, ...image.shape] : image.shape;
      if (shape.length !== 4 || shape[1] !== 3 || shape[2] !== S || shape[3] !== S)
        throw new RangeError(
          `VlmModel: image ${i} must be pixels [3, ${S}, ${S}] or [n, 3, ${S}, ${S}], got ${image.describe()}`,
        );
      // The vision tower's first product would otherwise name only its own operand.
      if (image.dtype !== 'f32')
        throw new TypeError(`VlmModel: image ${i} must be f32 pixels, got ${image.describe()}`);
      if (image.backend !== this.backend)
        throw new Error(`VlmModel: image ${i} is on another backend than the model`);
      if (image.rank === 4) return image;
      const view = reshape(image, shape); // [1, 3, S, S]
      owned.push(view);
      return view;
    });
    if (parts.length === 1) return parts[0];
    const all = concat(parts, 0); // [n, 3, S, S]
    owned.push(all);
    return all;
  }
}
