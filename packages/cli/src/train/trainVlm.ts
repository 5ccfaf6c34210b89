import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CLIP_IMAGE_MEAN,
  CLIP_IMAGE_STD,
  type PreprocessOptions,
  loadClip,
  preprocessToTensor,
} from '@vl/clip';
import { createRandom, generateShapes, hashSeed, shapesVocabulary, trainingSeed } from '@vl/shapes';
import {
  type Backend,
  type ResumeFrom,
  type Tensor,
  TrainingInterruptedError,
  cosineWithWarmup,
  resumeStep,
  yieldToEventLoop,
} from '@vl/tensor';
import {
  type LlavaConfig,
  VlmModel,
  VlmTokenizer,
  type VlmTokenizerFiles,
  type VlmBatch,
  VlmTrainer,
  checkVisionFeatureLayer,
  initLlavaParams,
  loadVlm,
  packVlmExamples,
  parseLlavaConfig,
  visionTowerFromClip,
  vlmCheckpointFiles,
  wordTokenizerFiles,
} from '@vl/vlm';
import { CliError } from '../io.js';
import { ProgressBar } from '../progress.js';
import {
  CAPTION_QUESTION,
  type PickOptions,
  QUESTION_STREAM,
  type Turn,
  conversationSegments,
  pickQuestions,
} from './conversations.js';
import { groundVisionTower } from './groundTower.js';
import type { TrainRunOptions } from './trainRunOptions.js';
import { removeOptimizerState } from './resumeState.js';
import { TrainingStopped, disposeAll, stoppedParams } from './trainingStopped.js';

/** Sizes of the decoder the shapes VLM trains (see {@link shapesVlmConfig}). */
export interface ShapesVlmSizes {
  /** Decoder width (default 128). */
  hidden?: number;
  /** Decoder layers (default 3). */
  layers?: number;
  /** SwiGLU inner width (default 3 * hidden). */
  intermediate?: number;
  /** Query heads (default 4). */
  heads?: number;
  /** Key/value heads, GQA (default 2). */
  kvHeads?: number;
  /**
   * Which hidden states of the tower become image tokens, LLaVA's `vision_feature_layer` (default
   * -2, the penultimate layer); a list concatenates them per token, e.g. `[0, -2]` adds the
   * embeddings' low-level features (texture, exact colour, position) to the penultimate layer's.
   */
  featureLayer?: number | number[];
}

/**
 * The shapes VLM's LLaVA config: the CLIP's vision tower as it is (its penultimate layer's patch
 * tokens, as LLaVA), a two-layer GELU projector from the CLIP width to the decoder width, and a
 * small Llama decoder (GQA, SwiGLU, RoPE) over the word tokenizer's vocabulary.
 *
 * @example
 * ```ts
 * const config = shapesVlmConfig(clip.config.vision_config, tokenizer, { hidden: 128, layers: 3 });
 * ```
 */
export function shapesVlmConfig(
  visionConfig: LlavaConfig['vision_config'],
  tokenizer: VlmTokenizer,
  sizes: ShapesVlmSizes = {},
): LlavaConfig {
  const hidden = sizes.hidden ?? 128;
  const id = (token: string) => {
    const v = tokenizer.tokenToId(token);
    if (v === undefined) throw new Error(`shapes VLM: the tokenizer has no ${token}`);
    return v;
  };
  const vocabSize = Math.max(...shapesVocabulary().map(id), id('<image>'), id('</s>')) + 1;
  return parseLlavaConfig({
    image_token_index: id('<image>'),
    projector_hidden_act: 'gelu',
    vision_feature_layer: sizes.featureLayer ?? -2,
    vision_feature_select_strategy: 'default',
    vision_config: visionConfig,
    text_config: {
      model_type: 'llama',
      vocab_size: vocabSize,
      hidden_size: hidden,
      intermediate_size: sizes.intermediate ?? 3 * hidden,
      num_hidden_layers: sizes.layers ?? 3,
      num_attention_heads: sizes.heads ?? 4,
      num_key_value_heads: sizes.kvHeads ?? 2,
      hidden_act: 'silu',
      max_position_embeddings: 256,
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      tie_word_embeddings: false,
      bos_token_id: id('<s>'),
      eos_token_id: id('</s>'),
      pad_token_id: id('<pad>'),
    },
  });
}

/**
 * Options of {@link trainVlm}. The {@link PickOptions} (balanced answers, kind weights) apply to the
 * word steps and the image steps alike.
 */
export interface TrainVlmOptions extends TrainRunOptions, PickOptions {
  /** A CLIP checkpoint folder (HF layout, e.g. what `vl train clip` writes): its vision tower is the VLM's. */
  clip: string;
  /** Questions per image, asked as one multi-turn conversation (default 6): more answers learned per image pass. */
  questionsPerImage?: number;
  /**
   * End each conversation with `what is in the picture?` answered by the image's caption (default
   * true): every caption word is grounded in the image, a dense signal like LLaVA's caption stage.
   * Last, so the questions before it cannot copy their answers from it.
   */
  captionTurn?: boolean;
  /**
   * Keep the CLIP tower fixed, as LLaVA does (default true: cheaper per step, and the trained shapes
   * CLIP's features are what the tower is for); false fine-tunes it with the rest at the same rate.
   */
  freezeVisionTower?: boolean;
  /** Decoder sizes (default hidden 128, 3 layers, GQA 4/2 heads, SwiGLU 384). */
  sizes?: ShapesVlmSizes;
  /**
   * A VLM folder that trainVlm wrote, to train further instead of starting fresh (`clip` and
   * `sizes` are then not used; use another `seed` than the first run's to see new images).
   */
  init?: string;
  /**
   * Before the VLM's steps, train the vision tower alone for `steps` steps so that each image token
   * carries what the scene has at its cell ({@link groundVisionTower}, at `lr` default 3e-3; default
   * none). Shapes data only.
   */
  grounding?: { steps: number; lr?: number };
  /**
   * Before the image steps, train the decoder on words alone for this many steps (default none):
   * each conversation tells the scene in its detailed caption (objects, sizes, background) and asks
   * questions that caption answers, so the decoder learns to match a question's words to the
   * scene's before it must find them in image tokens. A fresh decoder matches them in words within
   * a few hundred steps at lr 1e-3, but not in image tokens when trained on images alone.
   */
  textSteps?: number;
  /** Peak learning rate of the word steps (default `lr`). */
  textLr?: number;
  /**
   * After the word steps and before the image steps, train the projector alone for this many steps
   * on the image conversations, the decoder held fixed (LLaVA's first stage; default none): the
   * image tokens must then become what the decoder already reads, words, instead of the decoder
   * learning a reading of its own.
   */
  alignSteps?: number;
  /** Peak learning rate of the projector-only steps (default `lr`). */
  alignLr?: number;
  /** Called after every step (for logs beyond the progress bar); word and projector steps are counted first. */
  onStep?: (step: number, loss: number) => void;
}

interface Start {
  config: LlavaConfig;
  params: Map<string, Tensor>;
  mean: readonly number[];
  std: readonly number[];
}

/** Fresh params around the CLIP's vision tower (the rest of the CLIP is freed). */
async function fromClip(
  folder: string,
  backend: Backend,
  imageSize: number,
  tokenizer: VlmTokenizer,
  seed: number,
  sizes: ShapesVlmSizes | undefined,
  signal: AbortSignal | undefined,
): Promise<Start> {
  let clip: Awaited<ReturnType<typeof loadClip>>;
  try {
    clip = await loadClip(folder, { backend, ...(signal ? { signal } : {}) });
  } catch (e) {
    throw new CliError(`--clip ${folder}: ${(e as Error).message}`);
  }
  const vision = clip.config.vision_config;
  if (clip.config.vision_resnet || !vision) {
    clip.dispose();
    throw new CliError(`--clip ${folder}: the VLM needs a ViT vision tower, not a ResNet`);
  }
  if (vision.image_size !== imageSize) {
    clip.dispose();
    throw new CliError(
      `--clip ${folder}: its vision tower takes ${vision.image_size}px images but --size is ${imageSize}`,
      2,
    );
  }
  try {
    checkVisionFeatureLayer(sizes?.featureLayer ?? -2, vision.num_hidden_layers, '--feature-layers');
  } catch (e) {
    clip.dispose();
    throw new CliError(`${(e as Error).message}; 0 = the embeddings`, 2);
  }
  let config: LlavaConfig;
  try {
    config = shapesVlmConfig(vision, tokenizer, sizes);
  } catch (e) {
    clip.dispose();
    throw e;
  }
  const tower = visionTowerFromClip(clip.params);
  const kept = new Set(tower.values());
  // The text tower and projections are not needed: free them, keep the vision tower's tensors.
  for (const t of new Set(clip.params.values())) if (!kept.has(t)) t.dispose();
  return {
    config,
    params: initLlavaParams(config, { backend, seed, visionTower: tower }),
    mean: clip.preprocessOptions.mean ?? CLIP_IMAGE_MEAN,
    std: clip.preprocessOptions.std ?? CLIP_IMAGE_STD,
  };
}

/** The params of a shapes VLM folder (what trainVlm wrote), to train further. */
async function fromVlm(
  folder: string,
  backend: Backend,
  imageSize: number,
  signal: AbortSignal | undefined,
): Promise<Start> {
  let model: VlmModel;
  try {
    model = await loadVlm(folder, { backend, ...(signal ? { signal } : {}) });
  } catch (e) {
    throw new CliError(`--init ${folder}: ${(e as Error).message}`);
  }
  const S = model.config.vision_config.image_size;
  if (S !== imageSize) {
    model.dispose();
    throw new CliError(`--init ${folder}: the VLM takes ${S}px images but --size is ${imageSize}`, 2);
  }
  return {
    config: model.config,
    params: new Map(model.params),
    mean: model.preprocess.mean ?? CLIP_IMAGE_MEAN,
    std: model.preprocess.std ?? CLIP_IMAGE_STD,
  };
}

/** Question kinds a scene's detailed caption with its background answers (not positions, relations). */
const TOLD_KINDS: ReadonlySet<string> = new Set(['exists', 'count', 'color', 'shape', 'size', 'background']);

/** Salt of the word stage's scenes, apart from the image steps' scenes. */
const TEXT_STREAM = 0x7e47;

/** Whether a param belongs to the projector (what only images reach). */
const isProjector = (name: string): boolean => name.startsWith('multi_modal_projector.');

/** Salt of the projector-only stage's scenes. */
const ALIGN_STREAM = 0xa119;

/** The longest of a scene's first four captions: every object with its size, and the background. */
function toldCaption(captions: readonly string[]): string {
  return captions.slice(0, 4).reduce((a, b) => (b.length > a.length ? b : a));
}

/** One run of optimizer steps over batches that `batch(step)` makes (it may hand over pixels; they are freed). */
interface StageOptions {
  config: LlavaConfig;
  label: string;
  steps: number;
  lr: number;
  /** Steps taken before this stage (for `onStep`'s count). */
  firstStep: number;
  freezeVisionTower: boolean;
  /** Params held fixed besides the tower (see VlmTrainerOptions.freeze). */
  freeze?: (name: string) => boolean;
  batch: (step: number) => VlmBatch;
  io: TrainVlmOptions['io'];
  signal?: AbortSignal;
  onStep?: (step: number, loss: number) => void;
  /** Continue this stage where a stopped run left it: its optimizer state and its own step count. */
  resumeFrom?: ResumeFrom;
}

/**
 * Trains `params` for one stage with a fresh AdamW and cosine schedule (or, with `resumeFrom`, the
 * stopped stage's); resolves to the trained params. Stopped by the signal, it throws a
 * TrainingInterruptedError whose steps count the run's (`firstStep` on) and whose state is the
 * stage's optimizer.
 */
async function runStage(params: Map<string, Tensor>, o: StageOptions): Promise<Map<string, Tensor>> {
  const warmup = Math.min(100, Math.floor(o.steps / 10));
  const first = resumeStep(o.resumeFrom, o.steps, o.label);
  const trainer = new VlmTrainer(params, o.config, {
    lr: cosineWithWarmup({ lr: o.lr, warmupSteps: warmup, totalSteps: o.steps, minLr: o.lr / 20 }),
    betas: [0.9, 0.98],
    weightDecay: 0.01,
    freezeVisionTower: o.freezeVisionTower,
    ...(o.freeze ? { freeze: o.freeze } : {}),
  });
  const bar = new ProgressBar(o.io, o.label, { quietMs: 0 });
  const recent: number[] = [];
  let done = first; // steps of this stage, skipped ones included (the batches' index)
  try {
    if (o.resumeFrom) await trainer.loadState(o.resumeFrom.state!);
    for (let step = first; step < o.steps; step++) {
      await yieldToEventLoop(); // Ctrl-C gets a turn between steps
      o.signal?.throwIfAborted();
      const batch = o.batch(step);
      let loss: number;
      try {
        const r = await trainer.step(batch);
        loss = r.loss;
        // A skipped batch (a loss that is not finite) left the weights alone; keep it out of the mean.
        if (!r.skipped) recent.push(loss);
      } finally {
        batch.pixelValues?.dispose();
      }
      if (recent.length > 20) recent.shift();
      done = step + 1;
      o.onStep?.(o.firstStep + step + 1, loss);
      const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
      bar.update(step + 1, o.steps, `loss ${mean.toFixed(3)}`);
    }
  } catch (e) {
    // An interrupt hands the weights so far on (runStages writes them); a failure frees them.
    if (o.signal?.aborted && e === o.signal.reason) {
      bar.finish();
      const state = await trainer.saveState().catch(() => undefined);
      trainer.dispose();
      throw new TrainingInterruptedError(o.label, {
        params: trainer.params,
        steps: o.firstStep + done,
        cause: e,
        signal: o.signal,
        ...(state ? { state } : {}),
      });
    }
    trainer.dispose();
    for (const t of new Set(trainer.params.values())) t.dispose();
    throw e;
  }
  bar.finish();
  trainer.dispose();
  return trainer.params;
}

/** British spellings of shapes-world words, read as the words the questions use. */
export const SHAPES_SPELLINGS: Readonly<Record<string, string>> = {
  colour: 'color',
  centre: 'center',
  chequered: 'checkered',
};

/**
 * The tokenizer files `vl train vlm` writes: the shapes vocabulary, word by word, lowercased, with
 * {@link SHAPES_SPELLINGS}.
 */
export function shapesTokenizerFiles(): VlmTokenizerFiles {
  return wordTokenizerFiles(shapesVocabulary(), { spellings: SHAPES_SPELLINGS });
}

/** The steps of a `vl train vlm` run's stages (grounding apart): text, alignment, then the main one. */
function totalSteps(options: TrainVlmOptions): number {
  return (options.textSteps ?? 0) + (options.alignSteps ?? 0) + options.steps;
}

/**
 * Trains the shapes VLM (LLaVA: the given CLIP's vision tower, a projector, a small Llama decoder)
 * on the shapes world's question/answer pairs and writes an HF LLaVA checkpoint folder that
 * `loadVlm` (and `vl ask --model <folder>`) reads: `config.json`, `model.safetensors`,
 * `tokenizer.json` + `tokenizer_config.json` (a word-level tokenizer over `shapesVocabulary()`
 * with the LLaVA-1.5 chat template `USER: <image>\n{question} ASSISTANT:`),
 * `preprocessor_config.json` (the CLIP's normalization) and `generation_config.json`. Each step
 * takes `batchSize` training images (`generateShapes(trainingSeed(seed, i))`), each with
 * `questionsPerImage` questions picked with balanced kinds, asked as one conversation that ends
 * with `what is in the picture?` answered by the caption; only the answers and their end tokens
 * count in the loss. Returns the trained model (the caller disposes it; the backend stays the
 * caller's).
 *
 * @example
 * ```ts
 * const backend = await createBackend('cpu');
 * const model = await trainVlm({
 *   clip: 'packages/shapes/models/clip', out: 'out/vlm', steps: 1200, batchSize: 32, lr: 2e-3,
 *   seed: 0, imageSize: 64, backend, io: { stdout: process.stdout, stderr: process.stderr },
 * });
 * console.log(await evaluateVlmOnShapes(model, { n: 200, size: 64 }));
 * model.dispose();
 * ```
 */
export async function trainVlm(options: TrainVlmOptions): Promise<VlmModel> {
  const { clip: clipFolder, out, steps, batchSize, lr, seed, imageSize, backend, io, signal } = options;
  const turns = options.questionsPerImage ?? 6;
  const caption = options.captionTurn ?? true;
  const files = shapesTokenizerFiles();
  const tokenizer = VlmTokenizer.fromJson(files['tokenizer.json'], files['tokenizer_config.json']);
  const start = options.init
    ? await fromVlm(options.init, backend, imageSize, signal)
    : await fromClip(clipFolder, backend, imageSize, tokenizer, seed, options.sizes, signal);
  const { config, params, mean, std } = start;
  /** The checkpoint of `trained` into `out`. */
  async function writeCheckpoint(trained: ReadonlyMap<string, Tensor>): Promise<void> {
    await mkdir(out, { recursive: true });
    await removeOptimizerState(out); // an earlier stop's: it went with the weights replaced here
    const checkpoint = await vlmCheckpointFiles(trained, config, files, { imageMean: mean, imageStd: std });
    await Promise.all(Object.entries(checkpoint).map(([name, data]) => writeFile(join(out, name), data)));
  }
  if (options.grounding && options.grounding.steps > 0) {
    try {
      const { accuracy } = await groundVisionTower(params, config, backend, {
        steps: options.grounding.steps,
        lr: options.grounding.lr ?? 3e-3,
        batchSize,
        seed,
        imageSize,
        mean,
        std,
        io,
        ...(signal ? { signal } : {}),
      });
      const shares = Object.entries(accuracy).map(([h, a]) => `${h} ${(100 * a).toFixed(1)}%`);
      io.stderr.write(`grounding: held-out cells labelled right: ${shares.join(', ')}\n`);
    } catch (e) {
      if (signal?.aborted && e === signal.reason) {
        // Ctrl-C while grounding: the tower grounded so far is written with the rest, as the
        // interrupt's message promised; the VLM stages took no step.
        try {
          await writeCheckpoint(params);
        } finally {
          disposeAll(params);
        }
        throw new TrainingStopped(out, 0, totalSteps(options));
      }
      for (const t of new Set(params.values())) t.dispose();
      throw e;
    }
  }
  const preprocess: PreprocessOptions = { size: imageSize, crop: imageSize, mean, std };
  const pad = config.text_config.pad_token_id ?? 0;
  const stage = {
    config,
    freezeVisionTower: options.freezeVisionTower ?? true,
    io,
    ...(signal ? { signal } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
  };
  // --resume: the run stopped `resume.steps` steps in, in the stage those steps end in (a stage's
  // last step done, the next one's first); that stage goes on with the saved optimizer state, the
  // ones before it are done, and the ones after it run as they would have.
  const textSteps = options.textSteps ?? 0;
  const alignSteps = options.alignSteps ?? 0;
  const { resume } = options;
  /** Where stage `[from, from + length)` starts: `'done'`, a resumed point, or `'fresh'`. */
  const startOf = (from: number, length: number): 'done' | 'fresh' | ResumeFrom => {
    if (!resume) return 'fresh';
    if (resume.steps >= from + length) return 'done';
    if (resume.steps < from) return 'fresh';
    return { state: resume.state, steps: resume.steps - from };
  };
  const resumed = (start: 'fresh' | ResumeFrom) => (start === 'fresh' ? {} : { resumeFrom: start });
  // Words, then the projector alone, then everything: each stage starts from the one before.
  const stages = async (): Promise<Map<string, Tensor>> => {
    let current = params;
    // Questions are picked the same way in the word steps as in the image steps: a decoder that learns
    // "no" as the answer to "is there a ...?" from words does not learn to match the words either.
    const picks: PickOptions = options;
    const textStart = startOf(0, textSteps);
    if (textSteps > 0 && textStart !== 'done') {
      // Words first: the scene told in a caption, then questions the caption answers; no image.
      const textSeed = hashSeed(seed, TEXT_STREAM);
      // The projector sees no image here: held out of this stage, so it is neither decayed nor
      // given optimizer state from zero gradients.
      const projector = [...current].filter(([name]) => isProjector(name));
      const rest = new Map([...current].filter(([name]) => !isProjector(name)));
      const worded = await runStage(rest, {
        ...stage,
        label: 'training vlm on words',
        steps: textSteps,
        lr: options.textLr ?? lr,
        firstStep: 0,
        ...resumed(textStart),
        batch: (step) => {
          const examples = Array.from({ length: batchSize }, (_, i) => {
            const s = trainingSeed(textSeed, step * batchSize + i);
            const sample = generateShapes(s, { size: imageSize });
            const told = sample.questions.filter((q) => TOLD_KINDS.has(q.kind));
            const picked = pickQuestions(told, createRandom(hashSeed(s, QUESTION_STREAM)), turns, picks);
            return conversationSegments(tokenizer, picked, toldCaption(sample.captions));
          });
          return packVlmExamples(examples, config, { padTokenId: pad });
        },
      }).catch((e: unknown) => {
        if (e instanceof TrainingInterruptedError && e.aborted) {
          // Interrupted: the projector goes with the weights so far.
          throw new TrainingInterruptedError('training vlm on words', {
            params: new Map([...(e.params as Map<string, Tensor>), ...projector]),
            steps: e.steps,
            cause: e.cause,
            ...(e.state ? { state: e.state } : {}),
          });
        }
        for (const [, t] of projector) t.dispose(); // runStage freed the rest
        throw e;
      });
      current = new Map([...worded, ...projector]);
    }
    // Conversations about the images of scenes `trainingSeed(base, step * batchSize + i)`.
    const imageBatch =
      (base: number) =>
      (step: number): VlmBatch => {
        const samples = Array.from({ length: batchSize }, (_, i) => {
          const s = trainingSeed(base, step * batchSize + i);
          const sample = generateShapes(s, { size: imageSize });
          // The picks have their own random stream: the scene's would tie them to how it was drawn.
          const picked: Turn[] = pickQuestions(
            sample.questions,
            createRandom(hashSeed(s, QUESTION_STREAM)),
            turns,
            picks,
          );
          if (caption) picked.push({ question: CAPTION_QUESTION, answer: sample.caption });
          return { image: sample.image, turns: picked };
        });
        const { inputIds, labels } = packVlmExamples(
          samples.map((s) => conversationSegments(tokenizer, s.turns)),
          config,
          { padTokenId: pad },
        );
        const images = samples.map((s) => s.image);
        const pixelValues: Tensor = preprocessToTensor(images, backend, preprocess); // [B, 3, S, S]
        return { inputIds, labels, pixelValues };
      };
    const alignStart = startOf(textSteps, alignSteps);
    if (alignSteps > 0 && alignStart !== 'done') {
      current = await runStage(current, {
        ...stage,
        label: 'aligning the projector',
        steps: alignSteps,
        lr: options.alignLr ?? lr,
        firstStep: textSteps,
        freeze: (name) => !isProjector(name),
        batch: imageBatch(hashSeed(seed, ALIGN_STREAM)),
        ...resumed(alignStart),
      });
    }
    const mainStart = startOf(textSteps + alignSteps, steps);
    if (mainStart === 'done') return current;
    return runStage(current, {
      ...stage,
      label: 'training vlm on shapes',
      steps,
      lr,
      firstStep: textSteps + alignSteps,
      batch: imageBatch(seed),
      ...resumed(mainStart),
    });
  };
  let trained: Map<string, Tensor>;
  let stopped: number | undefined;
  let state: Uint8Array | undefined;
  try {
    trained = await stages();
  } catch (e) {
    // Interrupted after some steps: what was trained is written all the same.
    const got = stoppedParams<Map<string, Tensor>>(e, disposeAll);
    if (!got) throw e;
    ({ params: trained, steps: stopped, state } = got);
  }
  await writeCheckpoint(trained);
  if (stopped !== undefined) {
    disposeAll(trained);
    throw new TrainingStopped(out, stopped, totalSteps(options), { state }); // vl train writes the state after the record
  }
  return new VlmModel({ config, params: trained, backend, tokenizer, preprocess });
}
