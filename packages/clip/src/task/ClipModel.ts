import {
  type Backend,
  type MatmulShapeTuneOptions,
  type MatmulShapeTuneResult,
  Tensor,
  checkOptionKeys,
  randomNormal,
  tensor,
  tidy,
  tuneMatmulShapesWebGpu,
  yieldToEventLoop,
} from '@vl/tensor';
import {
  argumentError,
  checkConfigArg,
  checkObject,
  checkOptionalTensor,
  checkParamsMap,
  checkTensor,
} from '../checkArguments.js';
import { type PreprocessOptions, calledBy, preprocess } from '../image/preprocess.js';
import type { ImageInput } from '../image/toRgbImage.js';
import { getImageFeatures, getTextFeatures, l2Normalize } from '../model/clipModel.js';
import { FusedQkvParams } from '../model/fuseQkv.js';
import type { ClipConfig } from '../model/config.js';
import type { ClipParams } from '../model/params.js';
import { ClipTokenizer } from '../tokenizer/ClipTokenizer.js';
import { isBundled } from '../tokenizer/bundledTokenizers.js';
import { imagenetTemplates } from '../tokenizer/imagenetPrompts.js';
import { textBatches } from './textBatches.js';
import { batchSizeOf, checkOneImage, checkStrings, checkTemplates, fillTemplate } from './taskInputs.js';
import { rewordError } from '../rewordError.js';

/** A zero-shot label and its probability. */
export interface LabelScore {
  label: string;
  score: number;
}

/** Options for {@link ClipModel.zeroShot}. */
export interface ZeroShotOptions {
  /**
   * Prompt templates with `{}` for the label; default: the model's {@link ClipModel.templates} (the
   * 80 ImageNet templates of the CLIP paper, unless its checkpoint's `vl.json` names others).
   */
  templates?: readonly string[];
}

/** Options for embedding texts. */
export interface EmbedTextOptions {
  /** Truncate texts longer than the context instead of throwing (default false). */
  truncate?: boolean;
  /** Texts encoded per forward pass (default 64). */
  batchSize?: number;
}

/**
 * Options for {@link ClipModel.tuneWebGpu}: the batch sizes the app's forward passes run, and the
 * tuner's options.
 *
 * @example
 * ```ts
 * const options: ClipTuneOptions = { imageBatch: 32, textBatch: 0 }; // embedImages(..., { batchSize: 32 })
 * ```
 */
export interface ClipTuneOptions extends MatmulShapeTuneOptions {
  /** Images per forward pass (default 16, embedImages' batch); 0 leaves the image tower out. */
  imageBatch?: number;
  /** Texts per forward pass (default 64, embedTexts' batch); 0 leaves the text tower out. */
  textBatch?: number;
  /**
   * Token positions per text pass (default 16). {@link ClipModel.embedTexts} runs each batch only
   * up to its longest text's end token: 16 suits prompts like the ImageNet templates' (most have 8
   * to 16 tokens); 77 tunes for full-context texts.
   */
  textLength?: number;
}

/** Label embeddings {@link ClipModel.labelEmbeddings} keeps (the most recently used); older ones are recomputed. */
const PROMPT_CACHE_SIZE = 4096;

/**
 * Checks that the preprocessing gives `S x S` images, the vision tower's input size, where the
 * options say so (a crop, or the resize when `crop` is false).
 */
function checkInputSize(options: PreprocessOptions, S: number): void {
  const out = options.crop === false ? options.size : options.crop;
  // Neither a resize nor a crop (HF do_resize and do_center_crop false): images of S x S fit, others
  // are refused by pixelValues, naming their size.
  if (options.crop === false && out === false) return;
  if (typeof out !== 'number' && (typeof out !== 'object' || out === null)) return; // default: S
  if (typeof out === 'object' && 'longestEdge' in out) {
    throw new RangeError(
      `ClipModel: the preprocessing resizes the longer side to ${out.longestEdge} without a crop, so images are not ${S}x${S}; give crop ${S}`,
    );
  }
  if (options.crop === false && typeof out === 'number') {
    // A number resizes the shorter side: without a crop, square images come out out x out, others
    // longer one way (pixelValues refuses those, naming their size).
    if (out === S) return;
    throw new RangeError(
      `ClipModel: the preprocessing resizes the shorter side to ${out} without a crop, so no image comes out ${S}x${S}; give crop ${S} (or size ${S})`,
    );
  }
  const { height, width } = typeof out === 'number' ? { height: out, width: out } : out;
  if (height !== S || width !== S) {
    throw new RangeError(
      `ClipModel: the preprocessing ${options.crop === false ? 'resizes' : 'crops'} images to ${height}x${width} but vision_config.image_size is ${S}`,
    );
  }
}

/**
 * A preprocessing error about image `imageIndex` of a batch that starts at `first`, said as the
 * caller's about the image's index in the caller's list (or, for a caller that takes one image,
 * about the image).
 */
function atImageOf(e: unknown, first: number, caller: string, oneImage = false): unknown {
  const index = (e as { imageIndex?: unknown } | null)?.imageIndex;
  if (!(e instanceof Error) || typeof index !== 'number') return e;
  const message = e.message.replace(/^preprocess\(\): image \d+: /, '');
  return rewordError(e, `${caller}: ${oneImage ? '' : `image ${first + index}: `}${message}`);
}

/**
 * A tower's refusal of its input tensor (`CLIP vision: pixelValues must be [B, 3, 224, 224] ...`),
 * said by `caller`, the method called.
 */
function asCallers(e: unknown, caller: string): unknown {
  const tower = e instanceof Error ? /^(CLIP vision|CLIP text|ModifiedResNet): /.exec(e.message) : null;
  return tower ? rewordError(e as Error, `${caller}: ${(e as Error).message.slice(tower[0].length)}`) : e;
}

/** A text for an error message: JSON, its first 40 characters when it is longer. */
function preview(text: string): string {
  const chars = Array.from(text);
  return JSON.stringify(chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : text);
}

/** Pieces a {@link ClipModel} is made of (see {@link loadClip}). */
export interface ClipModelParts {
  config: ClipConfig;
  params: ClipParams;
  tokenizer: ClipTokenizer;
  backend: Backend;
  /** How images are preprocessed; the crop (or the resize, without crop) must be `image_size` square. */
  preprocess?: PreprocessOptions;
  /** Dispose the backend with the model (true when loadClip created it). */
  ownsBackend?: boolean;
  /**
   * The prompt templates {@link ClipModel.zeroShot} uses when a call names none (default: the 80
   * ImageNet templates of the CLIP paper); a checkpoint's `vl.json` may carry them.
   */
  templates?: readonly string[];
  /**
   * Run each block's q, k and v as one product (see {@link fuseQkvProjections}); costs a second copy
   * of those weights (a sixth of a ViT's). Default on: on WebGPU one product fills three times as
   * many tiles, and on the CPU ViT-B/32's towers took 2-8% less time in A/B runs.
   */
  fuseQkv?: boolean;
}

/**
 * A loaded CLIP model: encoders, normalized embeddings, zero-shot classification.
 *
 * @example
 * ```ts
 * const clip = await loadClip('/models/clip-vit-base-patch32', { backend });
 * const ranked = await clip.zeroShot(image, ['cat', 'dog'], { templates: ['a photo of a {}.'] });
 * console.log(ranked[0]); // { label: 'cat', score: 0.97 }
 * clip.dispose();
 * ```
 */
export class ClipModel {
  readonly config: ClipConfig;
  readonly params: ClipParams;
  readonly tokenizer: ClipTokenizer;
  readonly backend: Backend;
  readonly preprocessOptions: PreprocessOptions;
  /** What {@link ClipModel.zeroShot} uses without `templates`: the model's own, or the 80 ImageNet ones. */
  readonly templates: readonly string[];
  readonly #ownsBackend: boolean;
  /** What the forward passes read: `params`, plus the fused qkv weights when fuseQkv. */
  readonly #weights: FusedQkvParams;
  /** Label embeddings by label and templates, least recently used first (at most PROMPT_CACHE_SIZE). */
  readonly #promptCache = new Map<string, Float32Array>();
  #disposed = false;

  constructor(parts: ClipModelParts) {
    checkObject('ClipModel', 'parts', parts, 'an object { config, params, tokenizer, backend }');
    checkConfigArg('ClipModel', parts.config);
    checkParamsMap('ClipModel', parts.params, 'parts.params');
    if (!(parts.tokenizer instanceof ClipTokenizer))
      throw argumentError('ClipModel', 'parts.tokenizer', 'a ClipTokenizer', parts.tokenizer);
    checkObject('ClipModel', 'parts.backend', parts.backend, 'a Backend (createBackend)');
    this.config = parts.config;
    this.params = parts.params;
    this.tokenizer = parts.tokenizer;
    this.backend = parts.backend;
    this.preprocessOptions = parts.preprocess ?? {};
    if (parts.templates !== undefined) {
      checkStrings(parts.templates, 'ClipModel', 'template');
      checkTemplates(parts.templates, 'ClipModel');
    }
    this.templates = Object.freeze([...(parts.templates ?? imagenetTemplates)]);
    checkInputSize(this.preprocessOptions, this.config.vision_config.image_size);
    this.#ownsBackend = parts.ownsBackend ?? false;
    this.#weights = new FusedQkvParams(parts.params, parts.fuseQkv ?? true);
  }

  /** Dimension of the joint embedding space. */
  get embeddingDim(): number {
    return this.config.projection_dim;
  }

  #check(): void {
    if (this.#disposed) throw new Error('ClipModel: used after dispose()');
    for (const [name, t] of this.params) {
      if (!t.isDisposed) continue;
      // Without this, the forward pass fails in its first kernel, naming a tensor id.
      throw new Error(
        `ClipModel: weight ${name} was disposed. fineTuneClip and ClipTrainer take over the params they are given: ` +
          'make a new ClipModel with the trained params ({ ...parts, params: trained })',
      );
    }
  }

  /** Projected, unnormalized image features `[B, P]` from normalized pixels `[B, 3, S, S]` (HF `get_image_features`). */
  encodeImage(pixelValues: Tensor): Tensor {
    this.#check();
    checkTensor('ClipModel.encodeImage', 'pixelValues', pixelValues);
    try {
      return tidy(() => getImageFeatures(this.#weights.params, pixelValues, this.config));
    } catch (e) {
      throw asCallers(e, 'ClipModel.encodeImage');
    }
  }

  /** Projected, unnormalized text features `[B, P]` (HF `get_text_features`). */
  encodeText(inputIds: Tensor, attentionMask?: Tensor): Tensor {
    this.#check();
    checkTensor('ClipModel.encodeText', 'inputIds', inputIds);
    checkOptionalTensor('ClipModel.encodeText', 'attentionMask', attentionMask);
    try {
      return tidy(() => getTextFeatures(this.#weights.params, inputIds, attentionMask, this.config));
    } catch (e) {
      throw asCallers(e, 'ClipModel.encodeText');
    }
  }

  /** Normalized pixels for images, at the model's input size, as a tensor `[B, 3, S, S]`. */
  pixelValues(images: readonly ImageInput[]): Tensor {
    try {
      return this.#pixelValues(images, 'pixelValues');
    } catch (e) {
      throw calledBy(e, 'pixelValues'); // preprocess's errors about the images, as this method's
    }
  }

  /** {@link ClipModel.pixelValues}, its errors said by `caller`. */
  #pixelValues(images: readonly ImageInput[], caller: string): Tensor {
    const S = this.config.vision_config.image_size;
    const { size = S, crop = S, ...rest } = this.preprocessOptions; // an explicit undefined is the default too
    const { pixelValues, shape } = preprocess(images, { ...rest, size, crop });
    const [, , H, W] = shape; // [B, 3, H, W]
    if (H !== S || W !== S) {
      // A preprocessing without a crop keeps the aspect ratio: only square images come out S x S.
      throw new RangeError(
        `${caller}: the images come out of this checkpoint's preprocessing at ${H}x${W} (it does not crop), but the vision tower takes ${S}x${S}; pass square images, or preprocess with crop ${S}`,
      );
    }
    return tensor(pixelValues, shape, { backend: this.backend });
  }

  /** L2-normalized image embeddings, one row per image. Also accepts an already-normalized `[B, 3, S, S]` tensor. */
  async embedImages(
    images: readonly ImageInput[] | Tensor,
    options: { batchSize?: number } = {},
  ): Promise<Float32Array[]> {
    this.#check();
    if (images instanceof Tensor) return this.#embedPixels(images, 'embedImages');
    if (!Array.isArray(images)) {
      throw new TypeError(
        'embedImages: takes an array of images (or a [B, 3, S, S] tensor); wrap a single image in [ ]',
      );
    }
    if (images.length === 0) throw new RangeError('embedImages: no images given');
    checkOptionKeys('embedImages', options, ['batchSize']);
    const batch = batchSizeOf(options.batchSize, 16, 'embedImages');
    return this.#embedImageList(images, batch, 'embedImages');
  }

  /** Rows of normalized embeddings of a pixel tensor `[B, 3, S, S]`; `caller` names the API in errors. */
  async #embedPixels(pixels: Tensor, caller: string): Promise<Float32Array[]> {
    let embeds: Tensor;
    try {
      embeds = tidy(() => l2Normalize(getImageFeatures(this.#weights.params, pixels, this.config)));
    } catch (e) {
      throw asCallers(e, caller);
    }
    return this.#rows(embeds);
  }

  /**
   * {@link ClipModel.embedImages} on a checked, non-empty list; `caller` names the API in errors
   * about an image (zeroShot's about its one image).
   */
  async #embedImageList(
    images: readonly ImageInput[],
    batch: number,
    caller: string,
  ): Promise<Float32Array[]> {
    const rows: Float32Array[] = [];
    for (let i = 0; i < images.length; i += batch) {
      if (i > 0) await this.#between();
      let pixels: Tensor;
      try {
        pixels = this.#pixelValues(images.slice(i, i + batch), caller);
      } catch (e) {
        throw atImageOf(e, i, caller, caller === 'zeroShot');
      }
      let embeds: Tensor;
      try {
        embeds = tidy(() => l2Normalize(getImageFeatures(this.#weights.params, pixels, this.config)));
      } finally {
        pixels.dispose();
      }
      rows.push(...(await this.#rows(embeds)));
    }
    return rows;
  }

  /**
   * Between batches: a turn for the event loop (on the CPU backend reads resolve as microtasks, so
   * a page would not paint or take input through a long call), then the model must still be there.
   */
  async #between(): Promise<void> {
    await yieldToEventLoop();
    this.#check();
  }

  /**
   * L2-normalized text embeddings, one row per text, in the order given. The texts run shortest
   * first, in batches of `batchSize`, each batch only up to its longest text's end token: the text
   * tower is causal, so the positions after it cannot change the pooled state, and a 10-token prompt
   * costs an eighth of a full 77-token pass.
   */
  async embedTexts(texts: readonly string[], options: EmbedTextOptions = {}): Promise<Float32Array[]> {
    this.#check();
    checkStrings(texts, 'embedTexts', 'text');
    checkOptionKeys('embedTexts', options, ['truncate', 'batchSize']);
    const batch = batchSizeOf(options.batchSize, 64, 'embedTexts');
    const vocab = this.config.text_config.vocab_size;
    const size = this.tokenizer.vocabSize;
    if (size > vocab || (isBundled(this.tokenizer) && size !== vocab)) {
      // A larger tokenizer would fail on an embedding index. A checkpoint without tokenizer files
      // gets the bundled 49,408-token vocabulary, which only fits text towers of that size: with
      // another (MetaCLIP 2's XLM-V) its ids would mean nothing. A checkpoint's own tokenizer may
      // be smaller than its embedding table.
      throw new RangeError(
        `embedTexts: the tokenizer has ${this.tokenizer.vocabSize} tokens but text_config.vocab_size is ${vocab}; ` +
          'give the checkpoint its own tokenizer files (vocab.json and merges.txt, or tokenizer.json)',
      );
    }
    const context = this.config.text_config.max_position_embeddings;
    // The padding is masked, and after a text's end token (the tower is causal), so its id changes
    // nothing, but it is looked up in the embedding table: a pad_token_id outside it (the config
    // parser does not check token ids against vocab_size) failed in gather for a batch of texts of
    // different lengths. Such a config pads with 0.
    const pad = this.config.text_config.pad_token_id;
    // All texts at once (only ids): a text that does not fit is named by its index in `texts`.
    const enc = this.tokenizer.encodeBatch(texts, {
      contextLength: context,
      truncate: options.truncate ?? false,
      padId: Number.isInteger(pad) && pad >= 0 && pad < vocab ? pad : 0,
    });
    const out = new Array<Float32Array>(texts.length);
    let first = true;
    for (const b of textBatches(enc, batch, this.config.text_config)) {
      if (!first) await this.#between();
      first = false;
      const shape = [b.rows.length, b.length];
      const embeds = tidy(() => {
        const ids = tensor(b.inputIds, shape, { backend: this.backend }); // i32 [n, L]
        const mask = tensor(b.attentionMask, shape, { backend: this.backend }); // i32 [n, L]
        return l2Normalize(getTextFeatures(this.#weights.params, ids, mask, this.config)); // [n, P]
      });
      const rows = await this.#rows(embeds);
      b.rows.forEach((i, r) => {
        out[i] = rows[r]!;
      });
    }
    return out;
  }

  async #rows(t: Tensor): Promise<Float32Array[]> {
    const [B, P] = t.shape as [number, number];
    let data: Float32Array;
    try {
      data = (await t.read()) as Float32Array;
    } finally {
      t.dispose(); // a failed read (device lost, a flagged kernel) frees it too
    }
    return Array.from({ length: B }, (_, b) => data.slice(b * P, (b + 1) * P));
  }

  /**
   * Throws unless every prompt of `label` (label `index` of the caller's list) fits the text
   * context, naming the label and the template in the caller's words (embedTexts would name the
   * prompt by its index among the templates, and suggest a `truncate` option zeroShot does not take).
   */
  #checkPromptLengths(
    label: string,
    index: number,
    templates: readonly string[],
    prompts: readonly string[],
    caller: string,
  ): void {
    const context = this.config.text_config.max_position_embeddings;
    for (const [t, prompt] of prompts.entries()) {
      const tokens = this.tokenizer.encode(prompt).length;
      if (tokens <= context) continue;
      throw new RangeError(
        `${caller}: label ${index} (${preview(label)}) in template ${t} (${preview(templates[t]!)}) makes a prompt of ` +
          `${tokens} tokens, more than the context of ${context}; shorten the label`,
      );
    }
  }

  /**
   * Prompt-ensembled class embeddings: the mean of the normalized template embeddings, renormalized.
   * The arrays are the caller's. The model keeps the 4096 most recently used (label, templates)
   * embeddings, so asking again (as {@link ClipModel.zeroShot} does) runs no forward pass.
   */
  async labelEmbeddings(labels: readonly string[], templates: readonly string[]): Promise<Float32Array[]> {
    this.#check();
    checkStrings(labels, 'labelEmbeddings', 'label');
    checkStrings(templates, 'labelEmbeddings', 'template');
    checkTemplates(templates, 'labelEmbeddings');
    return this.#labelEmbeddings(labels, templates, 'labelEmbeddings');
  }

  /** {@link ClipModel.labelEmbeddings} on checked arguments; `caller` names the API in errors. */
  async #labelEmbeddings(
    labels: readonly string[],
    templates: readonly string[],
    caller: string,
  ): Promise<Float32Array[]> {
    this.#check(); // zeroShot comes here after its image's forward pass: the model may be gone
    const out: Float32Array[] = [];
    for (const [i, label] of labels.entries()) {
      const key = JSON.stringify([label, templates]);
      let e = this.#promptCache.get(key);
      if (e) {
        this.#promptCache.delete(key); // re-inserted below as the most recently used
      } else {
        const prompts = templates.map((t) => fillTemplate(t, label));
        let rows: Float32Array[];
        try {
          rows = await this.embedTexts(prompts);
        } catch (e) {
          // Tokenized again only on failure: a prompt too long is said in the caller's words.
          this.#checkPromptLengths(label, i, templates, prompts, caller);
          throw e;
        }
        e = new Float32Array(this.embeddingDim);
        for (const r of rows) for (let j = 0; j < e.length; j++) e[j]! += r[j]!;
        const norm = Math.hypot(...e);
        for (let j = 0; j < e.length; j++) e[j]! /= norm;
      }
      this.#promptCache.set(key, e);
      if (this.#promptCache.size > PROMPT_CACHE_SIZE)
        this.#promptCache.delete(this.#promptCache.keys().next().value!);
      out.push(e.slice());
    }
    return out;
  }

  /**
   * Zero-shot classification: softmax over labels of `exp(logit_scale) * cosine(image, label)`,
   * sorted best first.
   */
  async zeroShot(
    image: ImageInput | Tensor,
    labels: readonly string[],
    options: ZeroShotOptions = {},
  ): Promise<LabelScore[]> {
    this.#check();
    checkOneImage(image, 'zeroShot');
    checkStrings(labels, 'zeroShot', 'label');
    checkOptionKeys('zeroShot', options, ['templates']);
    const templates = options.templates ?? this.templates;
    checkStrings(templates, 'zeroShot', 'template');
    checkTemplates(templates, 'zeroShot');
    const [imageEmbedding] =
      image instanceof Tensor
        ? await this.#embedPixels(image, 'zeroShot')
        : await this.#embedImageList([image], 1, 'zeroShot');
    if (!imageEmbedding!.every(Number.isFinite)) {
      // Every score would be NaN and the order arbitrary.
      throw new RangeError(
        'zeroShot: the image embedding is not finite (a NaN or infinite value in the pixel tensor, or in the weights?)',
      );
    }
    const classes = await this.#labelEmbeddings(labels, templates, 'zeroShot');
    const logitScale = Math.exp((await this.params.get('logit_scale')!.read())[0]!);
    const logits = classes.map((c) => logitScale * c.reduce((s, x, j) => s + x * imageEmbedding![j]!, 0));
    const max = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - max));
    const total = exps.reduce((a, b) => a + b, 0);
    return labels.map((label, i) => ({ label, score: exps[i]! / total })).sort((a, b) => b.score - a.score);
  }

  /**
   * On WebGPU, tunes the matmul for this model's products at the batch sizes the app runs: one
   * forward pass of each tower on random inputs is recorded, and each product shape gets the
   * fastest tile and K split on this GPU (`tuneMatmulShapesWebGpu` of @vl/tensor; a few seconds,
   * once per backend). Later forward passes at those batch sizes use them: by default the ones
   * {@link ClipModel.embedImages} (16) and {@link ClipModel.embedTexts} (64, also zeroShot's)
   * run; a call's last, partial batch has shapes of its own. The image tower's products are
   * matmuls for ViTs only (a ResNet tower's convolutions keep the size rules). Elsewhere it does
   * nothing and returns `[]`.
   *
   * @example
   * ```ts
   * const clip = await loadClip('./clip-vit-base-patch32', { backend: await createBackend('webgpu') });
   * await clip.tuneWebGpu({ imageBatch: 32 });
   * const embeddings = await clip.embedImages(photos, { batchSize: 32 });
   * ```
   */
  async tuneWebGpu(options: ClipTuneOptions = {}): Promise<MatmulShapeTuneResult[]> {
    this.#check();
    checkObject('ClipModel.tuneWebGpu', 'options', options);
    const { max_position_embeddings: context, vocab_size: V } = this.config.text_config;
    const { imageBatch = 16, textBatch = 64, textLength = Math.min(16, context), ...tune } = options;
    for (const [name, n] of [
      ['imageBatch', imageBatch],
      ['textBatch', textBatch],
    ] as const) {
      if (!Number.isInteger(n) || n < 0)
        throw new RangeError(`ClipModel.tuneWebGpu: ${name} must be an integer >= 0, got ${String(n)}`);
    }
    if (!Number.isInteger(textLength) || textLength < 1 || textLength > context) {
      throw new RangeError(
        `ClipModel.tuneWebGpu: textLength must be an integer from 1 to the context of ${context}, got ${String(textLength)}`,
      );
    }
    if (this.backend.kind !== 'webgpu') return [];
    const { image_size: S, num_channels: C } = this.config.vision_config;
    const T = textLength;
    const backend = this.backend;
    return tuneMatmulShapesWebGpu(
      backend,
      () => {
        const out: Tensor[] = [];
        if (imageBatch > 0)
          out.push(this.encodeImage(randomNormal([imageBatch, C, S, S], { backend, seed: 1 }))); // [B, P]
        if (textBatch > 0) {
          const ids = Int32Array.from({ length: textBatch * T }, (_, i) => (i * 7919) % V);
          out.push(this.encodeText(tensor(ids, [textBatch, T], { backend, dtype: 'i32' }))); // [B, P]
        }
        return out;
      },
      tune,
    );
  }

  /** Frees the weights (and the backend when the model created it). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of new Set(this.params.values())) t.dispose();
    this.#weights.dispose();
    if (this.#ownsBackend) this.backend.dispose();
  }
}
