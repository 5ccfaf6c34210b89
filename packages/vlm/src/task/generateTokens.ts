// The generation loop: one prefill pass over the (left-padded) prompts with the image features
// merged in, then one decode pass per token, each writing its keys and values into a KV cache
// allocated once for the whole run. Sampling runs on the backend; only the chosen ids come back.
import {
  type Backend,
  type Tensor,
  Rng,
  checkOptionKeys,
  concat,
  createKvCache,
  embedding,
  repetitionPenalty,
  reshape,
  sample,
  tensor,
  tidy,
  yieldToEventLoop,
} from '@vl/tensor';
import type { LlavaConfig } from '../model/config.js';
import { llamaForward } from '../model/llama.js';
import { llavaImageFeatures, llavaInputEmbeddings } from '../model/llava.js';
import { type VlmParams, vlmParam } from '../model/params.js';
import type { TextStream } from './TextStream.js';

/** Sampling and stopping options of generation. */
export interface GenerateOptions {
  /** New tokens per prompt at most (default 128); fewer when the context fills up. */
  maxNewTokens?: number;
  /** 0 (the default) is greedy decoding; above 0 samples from softmax(logits / temperature). */
  temperature?: number;
  /** Keep only the k most likely tokens when sampling (0: all). */
  topK?: number;
  /** Nucleus sampling: the smallest set of tokens whose probability reaches topP (1: all). */
  topP?: number;
  /** CTRL / HF repetition penalty over the prompt and the tokens so far (1: none). */
  repetitionPenalty?: number;
  /** Seed of the sampling stream (default 0): the same seed draws the same tokens. */
  seed?: number;
  /**
   * Token ids that end a prompt's answer (default, also for `undefined`: the checkpoint's
   * eos_token_id, from generation_config.json when it lists them). Not emitted.
   */
  stopTokens?: readonly number[];
  /**
   * Strings that end a prompt's answer where they first appear in its text (OpenAI's `stop`,
   * transformers' `stop_strings`); the text before one is the answer, the string itself is not
   * emitted. Text that could be the start of one waits until the next tokens tell. Needs a
   * tokenizer.
   */
  stop?: readonly string[];
  /** Stops generation: the iterator throws the abort reason and the cache is released. */
  signal?: AbortSignal;
}

/** One generated token of one prompt. */
export interface GeneratedToken {
  /** Which prompt of the batch (0 for a single prompt). */
  index: number;
  token: number;
  /**
   * The text this token adds. Text that a later token could still change (the start of a
   * multi-byte character, a space that clean-up may delete before punctuation) comes with a
   * later piece; the pieces of an answer add up to the tokenizer's decode of its tokens.
   * Always empty for a model without a tokenizer.
   */
  text: string;
}

/** A prompt ready for the model: token ids with image placeholders expanded, and its images. */
export interface PreparedPrompt {
  ids: number[];
  /** `[n, 3, S, S]` pixels of the prompt's images, in placeholder order, or undefined. */
  pixelValues?: Tensor;
}

const MAX_F32 = 3.4e38;

/**
 * Checks generation options before any work: each bad option is an error naming it and its value
 * (the sampler would otherwise reject it only after the prefill); `fn` opens the messages.
 *
 * @internal
 */
export function checkGenerateOptions(options: GenerateOptions, vocabSize: number, fn = 'generate'): void {
  // A misspelt option (HF's max_new_tokens, say) would otherwise be ignored without a word.
  checkOptionKeys(fn, options, [
    'maxNewTokens',
    'temperature',
    'topK',
    'topP',
    'repetitionPenalty',
    'seed',
    'stopTokens',
    'stop',
    'signal',
  ]);
  const { maxNewTokens, temperature, topK, topP, repetitionPenalty, seed, stopTokens, stop, signal } =
    options;
  const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  if (maxNewTokens !== undefined && (!Number.isInteger(maxNewTokens) || maxNewTokens < 0))
    throw new RangeError(`${fn}: maxNewTokens must be a non-negative integer, got ${show(maxNewTokens)}`);
  if (
    temperature !== undefined &&
    !(typeof temperature === 'number' && temperature >= 0 && temperature <= MAX_F32)
  )
    throw new RangeError(`${fn}: temperature must be a number in [0, ${MAX_F32}], got ${show(temperature)}`);
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 0))
    throw new RangeError(`${fn}: topK must be a non-negative integer (0: all tokens), got ${show(topK)}`);
  if (topP !== undefined && !(typeof topP === 'number' && topP > 0 && topP <= 1))
    throw new RangeError(`${fn}: topP must be a number in (0, 1], got ${show(topP)}`);
  if (
    repetitionPenalty !== undefined &&
    !(typeof repetitionPenalty === 'number' && repetitionPenalty > 0 && Number.isFinite(repetitionPenalty))
  )
    throw new RangeError(
      `${fn}: repetitionPenalty must be a positive number, got ${show(repetitionPenalty)}`,
    );
  if (seed !== undefined && !Number.isSafeInteger(seed))
    throw new RangeError(`${fn}: seed must be a safe integer, got ${show(seed)}`);
  if (stopTokens !== undefined) {
    if (!Array.isArray(stopTokens) && !(stopTokens instanceof Int32Array))
      throw new TypeError(`${fn}: stopTokens must be an array of token ids, got ${show(stopTokens)}`);
    Array.from(stopTokens as ArrayLike<unknown>).forEach((id, i) => {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize)
        throw new RangeError(
          `${fn}: stopTokens[${i}] must be a token id in [0, ${vocabSize}) (vocab_size), got ${show(id)}`,
        );
    });
  }
  if (stop !== undefined) {
    if (!Array.isArray(stop))
      throw new TypeError(`${fn}: stop must be an array of strings, got ${show(stop)}`);
    stop.forEach((s: unknown, i) => {
      if (typeof s !== 'string' || s === '')
        throw new TypeError(`${fn}: stop[${i}] must be a non-empty string, got ${show(s)}`);
    });
  }
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new TypeError(`${fn}: signal must be an AbortSignal, got ${show(signal)}`);
}

/**
 * Runs generation over prepared prompts. The caller owns the prompts' pixel tensors.
 * `newTextStream` gives each prompt the stream that turns its ids into text pieces; `alive`, called
 * before each pass over the weights, throws when they may no longer be read (the model was disposed).
 *
 * @internal
 */
export async function* generateTokens(
  params: VlmParams,
  config: LlavaConfig,
  backend: Backend,
  prompts: readonly PreparedPrompt[],
  options: GenerateOptions,
  newTextStream: () => TextStream,
  alive?: () => void,
): AsyncGenerator<GeneratedToken, void, undefined> {
  const c = config.text_config;
  checkGenerateOptions(options, c.vocab_size);
  const { signal } = options;
  const B = prompts.length;
  if (B === 0) return;
  const context = c.max_position_embeddings;
  const lengths = prompts.map((p) => p.ids.length);
  lengths.forEach((n, i) => {
    if (n === 0) throw new RangeError(`generate: prompt ${i} has no tokens`);
    if (n > context) {
      throw new RangeError(
        `generate: prompt ${i} has ${n} tokens (image tokens included) but the context is ${context} (max_position_embeddings)`,
      );
    }
  });
  const maxNew = options.maxNewTokens ?? 128;
  const penalty = options.repetitionPenalty ?? 1;
  const temperature = options.temperature ?? 0;
  const eos = c.eos_token_id;
  const stops = new Set(options.stopTokens ?? (eos === null ? [] : Array.isArray(eos) ? eos : [eos]));
  const L = Math.max(...lengths);
  // The last token chosen is never fed back, so it needs no cache slot.
  const steps = Math.min(maxNew, context - L + 1);
  if (steps <= 0) return;
  signal?.throwIfAborted();

  // Left padding and the rows that have finished are masked, so their id only has to be a word of
  // the vocabulary that is not the image token: pad_token_id may be either (or missing).
  const imageId = config.image_token_index;
  const padId = c.pad_token_id;
  const pad =
    padId !== null && Number.isInteger(padId) && padId >= 0 && padId < c.vocab_size && padId !== imageId
      ? padId
      : imageId === 0
        ? 1
        : 0;
  const padded = prompts.map((p) => [...new Array<number>(L - p.ids.length).fill(pad), ...p.ids]);
  const ragged = lengths.some((n) => n !== L);
  const maxLength = L + steps - 1;
  // Left padding: a key padding mask over the cache and per-row positions (HF: cumsum(mask) - 1).
  let mask: Tensor | undefined;
  const next = lengths.slice(); // the position of each row's next token
  const owned: Tensor[] = [];
  let logits: Tensor | undefined; // [B, V] of the step being sampled
  const cache = createKvCache({
    backend,
    layers: c.num_hidden_layers,
    batch: B,
    kvHeads: c.num_key_value_heads,
    maxLength: Math.max(1, maxLength),
    headDim: c.head_dim,
  });
  try {
    let positions: Tensor | undefined;
    if (ragged) {
      const m = new Uint8Array(B * cache.maxLength).fill(1);
      const pos = new Int32Array(B * L);
      for (let b = 0; b < B; b++) {
        const off = L - lengths[b]!;
        m.fill(0, b * cache.maxLength, b * cache.maxLength + off);
        for (let t = off; t < L; t++) pos[b * L + t] = t - off;
      }
      mask = tensor(m, [B, cache.maxLength], { backend, dtype: 'bool' }); // [B, maxLength]
      positions = tensor(pos, [B, L], { backend, dtype: 'i32' }); // [B, L]
      owned.push(mask, positions);
    }
    const images = prompts.flatMap((p) => (p.pixelValues ? [p.pixelValues] : []));
    alive?.();
    logits = tidy(() => {
      const pixels = images.length === 0 ? undefined : images.length === 1 ? images[0] : concat(images, 0); // [N, 3, S, S]
      const features = pixels ? llavaImageFeatures(params, pixels, config) : undefined; // [N, P, C]
      const embeds = llavaInputEmbeddings(params, padded, features, config); // [B, L, C]
      const out = llamaForward(params, embeds, c, {
        cache,
        lastOnly: true,
        ...(positions ? { positions } : {}),
        ...(mask ? { mask } : {}),
      }); // [B, 1, V]
      return reshape(out, [B, c.vocab_size]); // [B, V]
    });
    const history = padded.map((row) => row.slice());
    const generated: number[][] = prompts.map(() => []);
    const streams = prompts.map(() => newTextStream());
    const heldBack: (GeneratedToken | undefined)[] = prompts.map(() => undefined);
    const done = new Array<boolean>(B).fill(false);
    const rng = new Rng(options.seed ?? 0);
    const table = vlmParam(params, 'language_model.model.embed_tokens.weight'); // [V, C]
    for (let step = 0; step < steps; step++) {
      // A turn for the event loop each token: on the CPU backend reads resolve as microtasks, and
      // a page would neither paint the streamed text nor see a Stop button's abort until the end.
      await yieldToEventLoop();
      signal?.throwIfAborted();
      alive?.();
      const current: Tensor = logits!;
      logits = undefined;
      let chosen: Tensor;
      try {
        chosen = tidy(() => {
          let l = current; // [B, V]
          if (penalty !== 1) {
            const H = history[0]!.length;
            const flat = new Int32Array(B * H);
            history.forEach((row, b) => {
              flat.set(row, b * H);
              // Left padding is not part of the prompt.
              flat.fill(-1, b * H, b * H + (L - lengths[b]!));
            });
            l = repetitionPenalty(l, tensor(flat, [B, H], { backend, dtype: 'i32' }), penalty); // [B, V]
          }
          return sample(l, {
            temperature,
            ...(options.topK !== undefined ? { topK: options.topK } : {}),
            ...(options.topP !== undefined ? { topP: options.topP } : {}),
            ...(temperature > 0 ? { seed: rng.next() } : {}),
          }); // i32 [B]
        });
      } finally {
        current.dispose();
      }
      let ids: number[];
      try {
        ids = Array.from((await chosen.read()) as Int32Array);
      } finally {
        chosen.dispose();
      }
      signal?.throwIfAborted();
      const last = step === steps - 1;
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const token = ids[b]!;
        const held = heldBack[b];
        heldBack[b] = undefined;
        if (stops.has(token) || token < 0) {
          done[b] = true;
          // The answer ends: the text held back goes out with its last token.
          if (held) {
            yield { ...held, text: held.text + streams[b]!.finish() };
            signal?.throwIfAborted();
          }
          continue;
        }
        if (held) {
          yield held;
          signal?.throwIfAborted();
        }
        generated[b]!.push(token);
        history[b]!.push(token);
        const stream = streams[b]!;
        const piece = { index: b, token, text: stream.push(token) };
        if (stream.stopped) {
          // A stop string appeared: the text before it is the answer's end.
          done[b] = true;
          yield piece;
          signal?.throwIfAborted();
          continue;
        }
        if (last) piece.text += stream.finish();
        // A piece whose text is partly held back waits for the next token, which either ends the
        // answer (and the piece takes the rest) or goes on (and will carry what became final).
        if (stream.holding) heldBack[b] = piece;
        else yield piece;
        signal?.throwIfAborted();
      }
      if (done.every(Boolean) || step === steps - 1) break;
      for (let b = 0; b < B; b++) if (done[b]) history[b]!.push(pad);
      const feed = ids.map((id, b) => (done[b] || id < 0 ? pad : id));
      alive?.();
      const stepPositions = ragged ? Int32Array.from(next) : undefined;
      for (let b = 0; b < B; b++) next[b]!++;
      logits = tidy(() => {
        const embeds = embedding(table, tensor(Int32Array.from(feed), [B, 1], { backend, dtype: 'i32' })); // [B, 1, C]
        const out = llamaForward(params, embeds, c, {
          cache,
          ...(stepPositions ? { positions: tensor(stepPositions, [B, 1], { backend, dtype: 'i32' }) } : {}),
          ...(mask ? { mask } : {}),
        }); // [B, 1, V]
        return reshape(out, [B, c.vocab_size]); // [B, V]
      });
    }
  } finally {
    logits?.dispose();
    cache.dispose();
    for (const t of owned) t.dispose();
  }
}
