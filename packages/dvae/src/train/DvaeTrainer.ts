// Training of the dVAE as in the DALL-E paper (appendix A.2): AdamW on the relaxed ELBO with the
// gumbel-softmax temperature annealed from 1 to 1/16 and the KL weight raised from 0 to 6.6, both
// on half-cosine schedules.
import {
  AdamW,
  type Backend,
  checkOptionKeys,
  type LearningRate,
  Rng,
  type RngState,
  type SafetensorsSource,
  type Tensor,
  clipGradNorm,
  gradNorm,
  keep,
  loadOptimizers,
  saveOptimizers,
  scale,
  tidy,
  valueAndGrad,
} from '@vl/tensor';
import { checkConfigArg, checkParamsPair } from '../checkArguments.js';
import { checkDvaePair, type DvaeConfig } from '../config.js';
import { describeValue } from '../describeValue.js';
import { checkImages } from '../dvaeEncoder.js';
import {
  checkParamsAgainst,
  decoderShapes,
  type DvaeParams,
  encoderShapes,
  paramsBackend,
} from '../dvaeShapes.js';
import { checkPixelRange } from '../loadDvae.js';
import { codebookUsageFromCounts } from './codebookUsage.js';
import { cosineAnneal } from './cosineAnneal.js';
import { checkLossEps, dvaeLoss } from './dvaeLoss.js';
import type { DvaeParamsPair } from './initDvaeParams.js';

/**
 * A number, or a schedule giving the value for a step (the number of steps already taken).
 *
 * @example
 * ```ts
 * const tau: DvaeSchedule = cosineAnneal({ from: 1, to: 1 / 16, steps: 150_000 });
 * ```
 */
export type DvaeSchedule = number | ((step: number) => number);

/**
 * Options of {@link DvaeTrainer}. The defaults are the DALL-E paper's (appendix A.2), which assume
 * a long run (hundreds of thousands of steps); a short run should pass shorter schedules.
 *
 * @example
 * ```ts
 * const options: DvaeTrainerOptions = {
 *   lr: 1e-3,
 *   tau: cosineAnneal({ from: 1, to: 1 / 16, steps: 2000 }),
 *   beta: cosineAnneal({ from: 0, to: 6.6, steps: 500 }),
 * };
 * ```
 */
export interface DvaeTrainerOptions {
  /** Learning rate or schedule (default: 1e-4 annealed to 1.25e-6 over 1.2M steps). */
  lr?: LearningRate;
  /** Gumbel-softmax temperature (default: 1 annealed to 1/16 over 150k steps). */
  tau?: DvaeSchedule;
  /** KL weight (default: 0 raised to 6.6 over 5k steps). */
  beta?: DvaeSchedule;
  /**
   * Multiplies the encoder's learning rate (default 1; >= 0). A schedule that holds it at 0 for the
   * first steps lets the decoder learn what a fresh encoder's codes mean before the encoder moves,
   * which keeps a short run from collapsing onto one code.
   */
  encoderLrScale?: DvaeSchedule;
  /** AdamW moment decay rates (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** AdamW epsilon (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay of the conv weights (default 1e-4; biases get none). */
  weightDecay?: number;
  /** Clip the global gradient norm to this (default: no clipping). */
  maxGradNorm?: number;
  /** Seed of the Gumbel noise (default 0). */
  seed?: number | Rng;
}

/**
 * What one {@link DvaeTrainer.step} measured, before the update.
 *
 * @example
 * ```ts
 * const { loss, nll, kl, tau, beta }: DvaeStepResult = await trainer.step(images);
 * ```
 */
export interface DvaeStepResult {
  /** Optimizer steps taken, this one included (a skipped step does not count). */
  step: number;
  /** The minimized objective (nats per pixel channel). */
  loss: number;
  /** Negative logit-Laplace log-likelihood, nats per pixel channel. */
  nll: number;
  /** KL to the uniform prior, nats per grid cell. */
  kl: number;
  /** Mean squared error of the (relaxed) reconstruction, pixels in [0, 1]. */
  mse: number;
  /** Temperature used. */
  tau: number;
  /** KL weight used. */
  beta: number;
  /** Learning rate used. */
  lr: number;
  /** How often each code was the encoder's argmax in this batch, `[vocab_size]`. */
  counts: Uint32Array;
  /** Perplexity of this batch's code usage. */
  perplexity: number;
  /** The global L2 norm of the gradients, before clipping. */
  gradNorm: number;
  /**
   * True when the loss or the gradient norm was not finite: the update was skipped, leaving the
   * weights and the optimizer state as they were.
   */
  skipped: boolean;
}

/** @internal The keys of {@link DvaeTrainerOptions}, for checkOptionKeys (trainDvae adds its own). */
export const DVAE_TRAINER_OPTION_KEYS: readonly string[] = [
  'lr',
  'tau',
  'beta',
  'encoderLrScale',
  'betas',
  'eps',
  'weightDecay',
  'maxGradNorm',
  'seed',
];

/**
 * @internal The trainer's checks of its params and config, the messages starting with `caller`
 * (trainDvae runs them first, in its own name); returns the one backend of the params.
 */
export function checkTrainerArguments(caller: string, params: unknown, config: unknown): Backend {
  checkParamsPair(caller, 'params', params);
  checkConfigArg(caller, config);
  checkDvaePair(config, caller);
  checkLossEps(config, caller);
  checkParamsAgainst(caller, 'params.encoder', params.encoder, encoderShapes(config.encoder), 'encoder');
  checkParamsAgainst(caller, 'params.decoder', params.decoder, decoderShapes(config.decoder), 'decoder');
  return paramsBackend({ encoder: params.encoder, decoder: params.decoder }, caller);
}

function resolve(s: DvaeSchedule, step: number, what: string): number {
  const v = typeof s === 'number' ? s : s(step);
  if (!Number.isFinite(v))
    throw new RangeError(`DvaeTrainer: the ${what} schedule gave ${v} at step ${step}`);
  return v;
}

/** Throws unless `s` is a {@link DvaeSchedule}: a string would fail later as "s is not a function". */
function checkSchedule(s: unknown, what: string): void {
  if (typeof s !== 'number' && typeof s !== 'function') {
    throw new TypeError(
      `DvaeTrainer: ${what} must be a number or a function of the step, got ${describeValue(s)}`,
    );
  }
}

/**
 * The encoder's learning-rate scale at `step`, which must be finite and >= 0: AdamW would
 * otherwise refuse the product in the middle of an update, calling it a learning-rate schedule.
 */
function encoderScaleAt(s: DvaeSchedule, step: number): number {
  const v = resolve(s, step, 'encoderLrScale');
  if (v < 0) throw new RangeError(`DvaeTrainer: encoderLrScale must be >= 0, got ${v} at step ${step}`);
  return v;
}

function copyHalf(params: DvaeParams): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of params) out[name] = scale(t, 1); // same shape, a new tensor
  return out;
}

/**
 * Trains a dVAE: each {@link DvaeTrainer.step} computes {@link dvaeLoss} on a batch, its gradients
 * through the gumbel-softmax relaxation, and an AdamW update (no weight decay on biases). The
 * trainer works on copies of the params it is given, so the caller's tensors stay valid and
 * unchanged; read the current ones with {@link DvaeTrainer.params}. The constructor refuses unknown
 * option keys, a config whose halves do not make a pair (equal `group_count`, decoder
 * `output_channels` equal to encoder `input_channels`), a `logit_laplace_eps` of 0 and params on
 * more than one backend; `step` refuses a batch that is not on {@link DvaeTrainer.backend}.
 *
 * @example
 * ```ts
 * const trainer = new DvaeTrainer(initDvaeParams(config, { backend }), config, { lr: 1e-3 });
 * for (const images of batches) console.log(await trainer.step(images)); // [B, 3, H, W] in [0, 1]
 * const files = await dvaeCheckpointFiles(config, trainer.params);
 * trainer.dispose();
 * ```
 */
export class DvaeTrainer {
  /** The backend of the params it was given, where it trains: every batch must be on it. */
  readonly backend: Backend;
  readonly #tree: { encoder: Record<string, Tensor>; decoder: Record<string, Tensor> };
  readonly #opt: AdamW; // the decoder's (its step count is the trainer's)
  readonly #encoderOpt: AdamW;
  readonly #tau: DvaeSchedule;
  readonly #beta: DvaeSchedule;
  readonly #encoderLrScale: DvaeSchedule;
  readonly #maxGradNorm: number;
  #rng: Rng; // replaced by loadState
  #disposed = false;
  #stepping = false; // a step is between its start and its update

  constructor(
    params: { readonly encoder: DvaeParams; readonly decoder: DvaeParams },
    readonly config: DvaeConfig,
    options: DvaeTrainerOptions = {},
  ) {
    checkOptionKeys('DvaeTrainer', options, DVAE_TRAINER_OPTION_KEYS);
    this.backend = checkTrainerArguments('DvaeTrainer', params, config);
    const {
      lr = cosineAnneal({ from: 1e-4, to: 1.25e-6, steps: 1_200_000 }),
      tau = cosineAnneal({ from: 1, to: 1 / 16, steps: 150_000 }),
      beta = cosineAnneal({ from: 0, to: 6.6, steps: 5_000 }),
      encoderLrScale = 1,
      betas = [0.9, 0.999],
      eps = 1e-8,
      weightDecay = 1e-4,
      maxGradNorm = Number.POSITIVE_INFINITY,
      seed = 0,
    } = options;
    if (!(maxGradNorm > 0)) throw new RangeError(`DvaeTrainer: maxGradNorm must be > 0, got ${maxGradNorm}`);
    checkSchedule(tau, 'tau');
    checkSchedule(beta, 'beta');
    checkSchedule(encoderLrScale, 'encoderLrScale');
    if (typeof encoderLrScale === 'number') encoderScaleAt(encoderLrScale, 0);
    this.#tau = tau;
    this.#beta = beta;
    this.#encoderLrScale = encoderLrScale;
    this.#maxGradNorm = maxGradNorm;
    this.#rng = seed instanceof Rng ? seed : new Rng(seed);
    const adamw = (rate: LearningRate) =>
      new AdamW({
        lr: rate,
        betas,
        eps,
        weightDecay,
        groups: [{ match: (path) => path.endsWith('.b'), weightDecay: 0 }],
      });
    const base = typeof lr === 'number' ? () => lr : lr;
    this.#opt = adamw(lr);
    this.#encoderOpt = adamw((step) => base(step) * encoderScaleAt(encoderLrScale, step));
    this.#tree = { encoder: copyHalf(params.encoder), decoder: copyHalf(params.decoder) };
  }

  #alive(what: string): void {
    if (this.#disposed)
      throw new Error(`DvaeTrainer.${what}: the trainer was disposed (used after dispose())`);
  }

  /** The current parameters by checkpoint name; valid until the next step or `dispose`. */
  get params(): DvaeParamsPair {
    this.#alive('params');
    return {
      encoder: new Map(Object.entries(this.#tree.encoder)),
      decoder: new Map(Object.entries(this.#tree.decoder)),
    };
  }

  /** Copies of the current parameters, owned by the caller (they outlive the trainer). */
  copyParams(): DvaeParamsPair {
    this.#alive('copyParams');
    const copy = (half: Record<string, Tensor>) =>
      new Map(Object.entries(half).map(([name, t]) => [name, scale(t, 1)] as const)); // same shapes
    return { encoder: copy(this.#tree.encoder), decoder: copy(this.#tree.decoder) };
  }

  /** Steps taken. */
  get stepCount(): number {
    return this.#opt.stepCount;
  }

  /** The temperature the next step uses. */
  get tau(): number {
    return resolve(this.#tau, this.stepCount, 'tau');
  }

  /** The KL weight the next step uses. */
  get beta(): number {
    return resolve(this.#beta, this.stepCount, 'beta');
  }

  /** The learning rate the next step uses. */
  get lr(): number {
    return this.#opt.lr;
  }

  /**
   * One optimizer step on `images` (f32 `[B, C, H, W]` in [0, 1], checked like
   * {@link checkImageRange}, on {@link DvaeTrainer.backend}); resolves to the batch's loss parts
   * before the update. A batch whose loss or gradient norm is not finite is skipped (no update,
   * `skipped: true` in the result), so one bad batch cannot turn the weights into NaN. Steps run
   * one at a time: a step called while another is running is refused (its gradients would be taken
   * on the weights the running step is about to replace).
   */
  async step(images: Tensor): Promise<DvaeStepResult> {
    if (this.#disposed) throw new Error('DvaeTrainer.step: the trainer was disposed');
    if (this.#stepping)
      throw new Error('DvaeTrainer.step: a step is already running; await it before the next one');
    checkImages('DvaeTrainer.step', 'images', images, this.config.encoder);
    if (images.shape[0] === 0) {
      throw new RangeError(
        `DvaeTrainer.step: images ${images.describe()} hold no image; a step needs at least one`,
      );
    }
    if (images.backend !== this.backend) {
      throw new Error(
        `DvaeTrainer.step: images ${images.describe()} are on another backend (${images.backend.name}) than the trainer's params (${this.backend.name}); move them with toBackend(images, trainer.backend)`,
      );
    }
    this.#stepping = true;
    try {
      return await this.#step(images);
    } finally {
      this.#stepping = false;
    }
  }

  async #step(images: Tensor): Promise<DvaeStepResult> {
    // 8-bit pixels give a NaN loss, and NaN weights after the update.
    await checkPixelRange(images, 'DvaeTrainer.step');
    if (this.#disposed) throw new Error('DvaeTrainer.step: the trainer was disposed');
    const tau = this.tau;
    const beta = this.beta;
    const lr = this.lr;
    if (!(tau > 0))
      throw new RangeError(`DvaeTrainer: tau must be > 0, got ${tau} at step ${this.stepCount}`);
    if (!(beta >= 0))
      throw new RangeError(`DvaeTrainer: beta must be >= 0, got ${beta} at step ${this.stepCount}`);
    encoderScaleAt(this.#encoderLrScale, this.stepCount); // before the work, not inside the update
    const seed = this.#rng.next();
    const { grads, ...parts } = tidy(() => {
      let kept: { nll: Tensor; kl: Tensor; mse: Tensor; tokens: Tensor } | undefined;
      const { value, grads } = valueAndGrad(() => {
        const p = dvaeLoss(this.params, images, this.config, { tau, beta, seed });
        kept = { nll: keep(p.nll), kl: keep(p.kl), mse: keep(p.mse), tokens: keep(p.tokens) };
        return p.loss; // []
      }, this.#tree);
      const norm = Number.isFinite(this.#maxGradNorm)
        ? clipGradNorm(grads, this.#maxGradNorm)
        : gradNorm(grads); // []
      return { loss: value, ...kept!, norm, grads };
    });
    try {
      const [loss, nll, kl, mse, norm, ids] = await Promise.all([
        parts.loss.item(),
        parts.nll.item(),
        parts.kl.item(),
        parts.mse.item(),
        parts.norm.item(),
        parts.tokens.read(),
      ]);
      if (this.#disposed) throw new Error('DvaeTrainer.step: the trainer was disposed');
      const skipped = !Number.isFinite(loss) || !Number.isFinite(norm);
      if (!skipped) {
        tidy(() => {
          this.#encoderOpt.step(this.#tree.encoder, grads.encoder);
          this.#opt.step(this.#tree.decoder, grads.decoder);
          return undefined;
        });
      }
      const counts = new Uint32Array(this.config.encoder.vocab_size);
      for (const id of ids) counts[id]!++;
      const { perplexity } = codebookUsageFromCounts(counts);
      const step = this.stepCount;
      return { step, loss, nll, kl, mse, tau, beta, lr, counts, perplexity, gradNorm: norm, skipped };
    } finally {
      for (const t of [
        ...Object.values(parts),
        ...Object.values(grads.encoder),
        ...Object.values(grads.decoder),
      ])
        t.dispose();
    }
  }

  /**
   * The training state besides the params (both optimizers' moments and step counts, and the
   * position of the gumbel noise's seed stream) as a safetensors file, to resume the run exactly
   * with {@link DvaeTrainer.loadState}; save the params beside it
   * (`dvaeCheckpointFiles(config, trainer.params)`). Exact when saved between steps (not while one
   * runs, which is refused), and on the same kind of backend: a step that threw may already have
   * drawn its noise seed.
   *
   * @example
   * ```ts
   * await writeFile('run/optimizer.safetensors', await trainer.saveState());
   * ```
   */
  async saveState(): Promise<Uint8Array> {
    this.#alive('saveState');
    // Mid-step the noise stream is a draw ahead of the optimizers.
    if (this.#stepping) throw new Error('DvaeTrainer.saveState: a step is running; await it first');
    return saveOptimizers({ decoder: this.#opt, encoder: this.#encoderOpt }, { rng: this.#rng.state() });
  }

  /**
   * Continues a run from {@link DvaeTrainer.saveState}'s file: made over the params saved with it
   * and the same options (the schedules read the restored step count), this trainer's next steps
   * draw the same noise and take the same updates as the saved run's would have. A state that
   * does not fit the params is refused by name, and the trainer keeps its own. The trainer draws its
   * noise seeds from a generator of its own from here on (an `Rng` given as `seed` is no longer
   * advanced).
   *
   * @example
   * ```ts
   * const trainer = new DvaeTrainer(savedParams, config, options); // the saved run's options
   * await trainer.loadState(await readFile('run/optimizer.safetensors'));
   * ```
   */
  async loadState(source: SafetensorsSource): Promise<void> {
    const ready = () => {
      this.#alive('loadState');
      if (this.#stepping) throw new Error('DvaeTrainer.loadState: a step is running; await it first');
    };
    ready();
    let rng: Rng | undefined;
    // loadOptimizers says a wrong source or a missing file in the caller's name.
    await loadOptimizers(
      source,
      {
        encoder: { optimizer: this.#encoderOpt, params: this.#tree.encoder },
        decoder: { optimizer: this.#opt, params: this.#tree.decoder },
      },
      {
        backend: this.backend,
        caller: 'DvaeTrainer.loadState',
        // Checked after the file is read (a step or dispose may have come) and before any change.
        check: (extra) => {
          ready();
          const state = (extra as { rng?: RngState } | null)?.rng;
          if (state === undefined)
            throw new Error(
              'DvaeTrainer.loadState: the file has no rng position (not from DvaeTrainer.saveState?)',
            );
          rng = Rng.fromState(state);
        },
      },
    );
    this.#rng = rng!;
  }

  /** Frees the optimizer state and the trainer's parameters; copy what you need first. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#opt.dispose();
    this.#encoderOpt.dispose();
    for (const half of [this.#tree.encoder, this.#tree.decoder])
      for (const t of Object.values(half)) t.dispose();
  }
}
