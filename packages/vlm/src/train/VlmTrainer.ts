// Next-token training of a LLaVA model as LLaVA's instruction tuning does it: the whole sequence
// (image tokens, prompt, answer) runs through the model in one pass without a KV cache, and the
// cross-entropy counts only the tokens the model should learn to say (the answers and their end
// token); the prompt and the image positions are context. The vision tower is frozen by default,
// as in both LLaVA stages: its params stay off the tape and out of the optimizer, so no gradient is
// computed for them at all.
import {
  AdamW,
  type AdamWOptions,
  type SafetensorsSource,
  type Tensor,
  crossEntropy,
  guardedStep,
  isBiasOrNorm,
  loadOptimizers,
  reshape,
  saveOptimizers,
  tensor,
} from '@vl/tensor';
import {
  argumentError,
  checkBoolean,
  checkFunction,
  checkInteger,
  checkLlavaConfig,
  checkObject,
  checkTensor,
  checkTensorMap,
  checkTokenRows,
  describe,
} from '../checkArguments.js';
import { type LlavaConfig, imageTokenCount } from '../model/config.js';
import { type TokenRows, llavaForward } from '../model/llava.js';

/**
 * The label of a position that does not count in the loss (PyTorch's `ignore_index`).
 * {@link packVlmExamples} writes it for prompts, image placeholders and padding.
 *
 * @example
 * ```ts
 * const { inputIds, labels } = packVlmExamples(examples, config, { padTokenId: 0 });
 * const counted = labels[0]!.filter((y) => y !== IGNORE_INDEX).length; // answer tokens of row 0
 * ```
 */
export const IGNORE_INDEX = -100;

/** One piece of a training sequence: context (`learn` false: a prompt, an image placeholder) or what the model should say. */
export interface VlmSegment {
  ids: readonly number[];
  /** Count these tokens in the loss (default false). */
  learn?: boolean;
}

/** A training batch: token rows with HF-style labels, and the images' pixels. */
export interface VlmBatch {
  /** `[B, T]` token ids, image placeholders expanded (`imageTokenCount(config)` per image). */
  inputIds: TokenRows;
  /**
   * `[B, T]` as HF's `labels`: the id at a position the loss counts, {@link IGNORE_INDEX}
   * elsewhere; the model learns to predict `labels[t]` from the tokens before `t` (shifted inside).
   */
  labels: TokenRows;
  /** Normalized pixels `[N, 3, S, S]` of the images, in placeholder order. */
  pixelValues?: Tensor;
}

/** Options of {@link packVlmExamples}. */
export interface PackVlmOptions {
  /** The id right padding uses (never learned). */
  padTokenId: number;
}

/**
 * Packs training sequences into a right-padded batch: each sequence is its segments in order, one
 * image placeholder (`config.image_token_index`) expands to `imageTokenCount(config)` positions,
 * and the labels keep the ids of the `learn` segments only. Right padding needs no attention mask
 * under a causal decoder: real tokens never see the padding after them.
 *
 * @example
 * ```ts
 * const prompt = tokenizer.encode('USER: <image>\nwhat color is the circle? ASSISTANT:');
 * const answer = [...tokenizer.encode('red', { addSpecialTokens: false }), eosId];
 * const { inputIds, labels } = packVlmExamples([[{ ids: prompt }, { ids: answer, learn: true }]], config, { padTokenId: 0 });
 * ```
 */
export function packVlmExamples(
  examples: readonly (readonly VlmSegment[])[],
  config: LlavaConfig,
  options: PackVlmOptions,
): { inputIds: Int32Array[]; labels: Int32Array[] } {
  const fn = 'packVlmExamples';
  if (!Array.isArray(examples))
    throw argumentError(fn, 'examples', 'an array of examples (arrays of segments)', examples);
  checkLlavaConfig(fn, config);
  checkObject(fn, 'options', options, 'an object with padTokenId');
  checkInteger(fn, 'options.padTokenId', options.padTokenId, 0);
  const imageId = config.image_token_index;
  const per = imageTokenCount(config);
  const rows = examples.map((segments, b) => {
    if (!Array.isArray(segments)) throw argumentError(fn, `examples[${b}]`, 'an array of segments', segments);
    const ids: number[] = [];
    const labels: number[] = [];
    segments.forEach((s, j) => {
      if (typeof s !== 'object' || s === null || !(Array.isArray(s.ids) || ArrayBuffer.isView(s.ids)))
        throw new TypeError(
          `${fn}: example ${b} segment ${j} must be { ids: number[], learn? }, got ${describe(s)}`,
        );
      for (const id of s.ids) {
        if (id === imageId) {
          if (s.learn)
            throw new RangeError(`packVlmExamples: example ${b} segment ${j} learns an image placeholder`);
          for (let k = 0; k < per; k++) {
            ids.push(id);
            labels.push(IGNORE_INDEX);
          }
        } else {
          ids.push(id);
          labels.push(s.learn ? id : IGNORE_INDEX);
        }
      }
    });
    return { ids, labels };
  });
  const T = Math.max(0, ...rows.map((r) => r.ids.length));
  const max = config.text_config.max_position_embeddings;
  if (T > max)
    throw new RangeError(
      `packVlmExamples: a sequence has ${T} tokens, more than max_position_embeddings ${max}`,
    );
  const inputIds = rows.map((r) => {
    const row = new Int32Array(T).fill(options.padTokenId);
    row.set(r.ids);
    return row;
  });
  const labels = rows.map((r) => {
    const row = new Int32Array(T).fill(IGNORE_INDEX);
    row.set(r.labels);
    return row;
  });
  return { inputIds, labels };
}

/**
 * The mean next-token cross-entropy of a batch over the positions its labels count (logits at `t`
 * against `labels[t + 1]`), through the whole model in one pass without a KV cache. Each label it
 * counts must be an integer token id in [0, vocab_size), or {@link IGNORE_INDEX}.
 *
 * @example
 * ```ts
 * const loss = vlmLoss(params, { inputIds, labels, pixelValues }, config); // scalar
 * ```
 */
export function vlmLoss(params: ReadonlyMap<string, Tensor>, batch: VlmBatch, config: LlavaConfig): Tensor {
  const fn = 'vlmLoss';
  checkTensorMap(fn, 'params', params);
  checkBatch(fn, batch);
  checkLlavaConfig(fn, config);
  return lossOf(fn, params, batch, config);
}

/** A {@link VlmBatch}'s parts, before any is read; `fn` names the caller. */
function checkBatch(fn: string, batch: unknown): asserts batch is VlmBatch {
  checkObject(fn, 'batch', batch, 'a VlmBatch object ({ inputIds, labels, pixelValues? })');
  const { inputIds, labels, pixelValues } = batch as Record<string, unknown>;
  checkTokenRows(fn, 'batch.inputIds', inputIds);
  checkTokenRows(fn, 'batch.labels', labels);
  checkTensor(fn, 'batch.pixelValues', pixelValues, true);
}

/** {@link vlmLoss} on checked arguments; its errors about the rows open with `fn`. */
function lossOf(
  fn: string,
  params: ReadonlyMap<string, Tensor>,
  batch: VlmBatch,
  config: LlavaConfig,
): Tensor {
  const { inputIds, labels } = batch;
  const B = inputIds.length;
  const T = inputIds[0]?.length ?? 0;
  if (labels.length !== B)
    throw new RangeError(`${fn}: labels has ${labels.length} rows but inputIds has ${B}`);
  inputIds.forEach((row, b) => {
    if (row.length !== T)
      throw new RangeError(
        `${fn}: inputIds row ${b} has ${row.length} ids, row 0 has ${T}; pad the rows to one length`,
      );
  });
  const V = config.text_config.vocab_size;
  const targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  let counted = 0;
  for (let b = 0; b < B; b++) {
    const row = labels[b]!;
    if (row.length !== T)
      throw new RangeError(`${fn}: labels row ${b} has ${row.length} entries, inputIds rows have ${T}`);
    for (let t = 0; t + 1 < T; t++) {
      const y = row[t + 1]!;
      if (y !== IGNORE_INDEX && !(Number.isInteger(y) && y >= 0 && y < V)) {
        throw new RangeError(
          `${fn}: labels[${b}][${t + 1}] is ${y}, not a token id in [0, ${V}) or IGNORE_INDEX (${IGNORE_INDEX})`,
        );
      }
      targets[b * T + t] = y;
      if (y !== IGNORE_INDEX) counted++;
    }
  }
  if (counted === 0)
    throw new RangeError(
      `${fn}: no label counts in the loss: every label at positions 1 to T-1 is IGNORE_INDEX (position 0 is never predicted)`,
    );
  const logits = llavaForward(params, inputIds, batch.pixelValues, config); // [B, T, V]
  const y = tensor(targets, [B * T], { backend: logits.backend, dtype: 'i32' }); // [B * T]
  return crossEntropy(reshape(logits, [B * T, V]), y, { ignoreIndex: IGNORE_INDEX }); // []
}

/** Options of {@link VlmTrainer}: AdamW's (default weight decay 0, as LLaVA) plus these. */
export interface VlmTrainerOptions extends AdamWOptions {
  /** Clip the global gradient norm to this, > 0 (default 1; `Infinity` disables). */
  maxGradNorm?: number;
  /** Keep the vision tower (`vision_tower.*`) as it is (default true, as LLaVA trains). */
  freezeVisionTower?: boolean;
  /**
   * Also keep the params this returns true for as they are, e.g. everything but the projector for
   * LLaVA's first stage: `(name) => !name.startsWith('multi_modal_projector.')`.
   */
  freeze?: (name: string) => boolean;
}

/**
 * What one {@link VlmTrainer.step} measured, before the update.
 *
 * @example
 * ```ts
 * const { loss, gradNorm, skipped }: VlmStepResult = await trainer.step(batch);
 * ```
 */
export interface VlmStepResult {
  /** Optimizer steps taken, this one included (a skipped step does not count). */
  step: number;
  /** The batch's loss ({@link vlmLoss}). */
  loss: number;
  /** The global L2 norm of the trained params' gradients, before clipping. */
  gradNorm: number;
  /** Learning rate of the step. */
  lr: number;
  /**
   * True when the loss or the gradient norm was not finite: the update was skipped, leaving the
   * weights and the optimizer state as they were.
   */
  skipped: boolean;
}

/**
 * Trains LLaVA params on {@link VlmBatch}es with {@link vlmLoss}, AdamW (no weight decay on biases
 * and norms) and gradient clipping. With `freezeVisionTower` (the default) the tower's params are
 * neither differentiated nor updated; trained params the loss does not reach (the tower's last
 * layer under `vision_feature_layer: -2`) are left as they are, as PyTorch's AdamW leaves a param
 * whose grad is None. A batch whose loss or gradient norm is not finite is skipped (no update; the
 * result says so). The trainer owns `params` from now on: each step replaces the trained tensors;
 * read the current ones from {@link VlmTrainer.params}.
 *
 * @example
 * ```ts
 * const trainer = new VlmTrainer(initLlavaParams(config, { backend }), config, { lr: 1e-3 });
 * for (const batch of batches) console.log((await trainer.step(batch)).loss);
 * const model = new VlmModel({ config, params: trainer.params, backend, tokenizer });
 * trainer.dispose(); // optimizer state
 * ```
 */
export class VlmTrainer {
  readonly #tree: Record<string, Tensor>;
  readonly #frozen: ReadonlyMap<string, Tensor>;
  readonly #opt: AdamW;
  readonly #maxGradNorm: number;
  #disposed = false;

  constructor(
    params: ReadonlyMap<string, Tensor>,
    readonly config: LlavaConfig,
    options: VlmTrainerOptions = {},
  ) {
    const fn = 'VlmTrainer';
    checkTensorMap(fn, 'params', params);
    checkLlavaConfig(fn, config);
    checkObject(fn, 'options', options, 'an object of VlmTrainerOptions', true);
    checkBoolean(fn, 'options.freezeVisionTower', options.freezeVisionTower, true);
    checkFunction(fn, 'options.freeze', options.freeze, true);
    const { maxGradNorm = 1, freezeVisionTower = true, freeze, ...adam } = options;
    if (!(maxGradNorm > 0)) throw new RangeError(`VlmTrainer: maxGradNorm must be > 0, got ${maxGradNorm}`);
    const frozen = new Map<string, Tensor>();
    const tree: Record<string, Tensor> = {};
    for (const [name, t] of params) {
      if ((freezeVisionTower && name.startsWith('vision_tower.')) || freeze?.(name)) frozen.set(name, t);
      else tree[name] = t;
    }
    if (Object.keys(tree).length === 0) throw new Error('VlmTrainer: no params to train');
    this.#tree = tree;
    this.#frozen = frozen;
    this.#maxGradNorm = maxGradNorm;
    this.#opt = new AdamW({ weightDecay: 0, groups: [{ match: isBiasOrNorm, weightDecay: 0 }], ...adam });
  }

  /** The current parameters (frozen and trained), by checkpoint name. */
  get params(): Map<string, Tensor> {
    return new Map([...this.#frozen, ...Object.entries(this.#tree)]);
  }

  /** Names of the params the optimizer updates. */
  get trainedNames(): string[] {
    return Object.keys(this.#tree);
  }

  /** Steps taken. */
  get stepCount(): number {
    return this.#opt.stepCount;
  }

  /** The learning rate the next step uses. */
  get lr(): number {
    return this.#opt.lr;
  }

  /** The loss of a batch under the current parameters (no update). */
  loss(batch: VlmBatch): Tensor {
    checkBatch('VlmTrainer.loss', batch);
    return lossOf('VlmTrainer.loss', this.params, batch, this.config);
  }

  /**
   * One optimizer step (await it before the next); resolves to the batch's loss and gradient norm
   * before the update. A batch whose loss or gradient norm is not finite is skipped: no update,
   * `skipped: true`.
   */
  async step(batch: VlmBatch): Promise<VlmStepResult> {
    checkBatch('VlmTrainer.step', batch);
    const lr = this.#opt.lr;
    const loss = () => lossOf('VlmTrainer.step', this.params, batch, this.config);
    const r = await guardedStep(this.#opt, this.#tree, loss, {
      maxGradNorm: this.#maxGradNorm,
    });
    return { step: this.stepCount, ...r, lr };
  }

  /**
   * The optimizer's state (the AdamW moments and step counts of the trained params) as a
   * safetensors file, to resume the run exactly with {@link VlmTrainer.loadState} (on the same
   * kind of backend); save the params beside it (`vlmCheckpointFiles`).
   *
   * @example
   * ```ts
   * await writeFile('run/optimizer.safetensors', await trainer.saveState());
   * ```
   */
  async saveState(): Promise<Uint8Array> {
    if (this.#disposed) throw new Error('VlmTrainer.saveState: the trainer was disposed');
    return saveOptimizers({ adamw: this.#opt });
  }

  /**
   * Continues a run from {@link VlmTrainer.saveState}'s file: made over the params saved with it
   * and the same options (the same frozen params; the learning-rate schedule reads the restored
   * step count), this trainer's next steps are the ones the saved run would have taken. A state
   * that does not fit the trained params is refused by name, and the trainer keeps its own.
   *
   * @example
   * ```ts
   * const trainer = new VlmTrainer(savedParams, config, options); // the saved run's options
   * await trainer.loadState(await readFile('run/optimizer.safetensors'));
   * ```
   */
  async loadState(source: SafetensorsSource): Promise<void> {
    const alive = () => {
      if (this.#disposed) throw new Error('VlmTrainer.loadState: the trainer was disposed');
    };
    alive();
    // loadOptimizers says a wrong source or a missing file in the caller's name.
    await loadOptimizers(
      source,
      { adamw: { optimizer: this.#opt, params: this.#tree } },
      { backend: Object.values(this.#tree)[0]!.backend, caller: 'VlmTrainer.loadState', check: alive },
    );
  }

  /** Frees the optimizer state (the params stay usable through {@link VlmTrainer.params}). */
  dispose(): void {
    this.#disposed = true;
    this.#opt.dispose();
  }
}
