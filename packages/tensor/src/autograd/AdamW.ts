// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), with the same arithmetic
// as PyTorch's torch.optim.AdamW (single-tensor path, amsgrad off), so losses match step for step.
import { full } from '../create.js';
import { keep } from '../engine.js';
import { formatShape, shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import { adamwUpdate } from './adamwUpdate.js';
import { type ParamTree, assertDistinct, flattenParams, replaceLeaf } from './paramTree.js';

/**
 * A learning rate, or a schedule: the rate for a step given the number of steps already taken.
 *
 * @example
 * ```ts
 * const lr: LearningRate = (step) => 3e-4 * Math.min(1, (step + 1) / 100);
 * ```
 */
export type LearningRate = number | ((step: number) => number);

/**
 * Params that get their own settings, chosen by key path (the first group that matches wins).
 *
 * @example
 * ```ts
 * const noDecay: ParamGroup = { match: isBiasOrNorm, weightDecay: 0 };
 * const slowEmbeddings: ParamGroup = { match: (path) => path.startsWith('wte.'), lrScale: 0.1 };
 * ```
 */
export interface ParamGroup {
  /** Selects this group's params by key path (`blocks.0.attn.bias`) and tensor. */
  readonly match: (path: string, param: Tensor) => boolean;
  /** Weight decay for this group (default: the optimizer's). */
  readonly weightDecay?: number;
  /** Multiplies the learning rate for this group (default 1). */
  readonly lrScale?: number;
}

/**
 * Options of {@link AdamW}; defaults as in PyTorch.
 *
 * @example
 * ```ts
 * const options: AdamWOptions = { lr: 3e-4, betas: [0.9, 0.95], weightDecay: 0.1 };
 * ```
 */
export interface AdamWOptions {
  /** Learning rate or schedule (default 1e-3). */
  readonly lr?: LearningRate;
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  readonly betas?: readonly [number, number];
  /** Added to the denominator for stability (default 1e-8). */
  readonly eps?: number;
  /** Decoupled weight decay (default 1e-2). */
  readonly weightDecay?: number;
  /** Param groups with their own weight decay or learning-rate scale, e.g. `{ match: isBiasOrNorm, weightDecay: 0 }`. */
  readonly groups?: readonly ParamGroup[];
}

/**
 * Per-parameter optimizer state: the moment averages and the number of steps this param has taken.
 *
 * @example
 * ```ts
 * const { m, v, step } = opt.state.get('h.0.attn.c_attn.weight')!;
 * ```
 */
export interface AdamWState {
  readonly m: Tensor;
  readonly v: Tensor;
  readonly step: number;
}

/**
 * The AdamW optimizer. For each param, with `t` its step count:
 * `p -= lr * wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g²;
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`, in one fused kernel per param.
 * State (m, v) lives on the params' backend, keyed by key path, and survives enclosing `tidy`
 * scopes; free it with {@link AdamW.dispose}.
 *
 * @example
 * ```ts
 * const opt = new AdamW({ lr: cosineWithWarmup({ lr: 3e-4, warmupSteps: 100, totalSteps: 5000 }), weightDecay: 0.1,
 *   groups: [{ match: isBiasOrNorm, weightDecay: 0 }] });
 * for (const batch of batches) {
 *   const loss = tidy(() => {
 *     const { value, grads } = valueAndGrad(() => lossFn(params, batch), params);
 *     clipGradNorm(grads, 1);
 *     opt.step(params, grads); // replaces params' tensors with updated ones, disposing the old
 *     return value;
 *   });
 *   console.log(await loss.item());
 *   loss.dispose();
 * }
 * ```
 */
export class AdamW {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly groups: readonly ParamGroup[];
  readonly #lr: LearningRate;
  readonly #state = new Map<string, AdamWState>();
  #steps = 0;
  #disposed = false;

  constructor(options: AdamWOptions = {}) {
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 1e-2, groups = [] } = options;
    if (typeof lr === 'number' && !(lr >= 0)) throw new RangeError(`AdamW: lr must be >= 0, got ${lr}`);
    if (typeof lr !== 'number' && typeof lr !== 'function')
      throw new TypeError('AdamW: lr must be a number or a schedule function');
    betas.forEach((b, i) => {
      if (!(b >= 0 && b < 1)) throw new RangeError(`AdamW: betas[${i}] must be in [0, 1), got ${b}`);
    });
    if (!(eps >= 0)) throw new RangeError(`AdamW: eps must be >= 0, got ${eps}`);
    if (!(weightDecay >= 0)) throw new RangeError(`AdamW: weightDecay must be >= 0, got ${weightDecay}`);
    this.#lr = lr;
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.groups = groups;
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.#steps;
  }

  /** The learning rate the next step will use. */
  get lr(): number {
    const lr = typeof this.#lr === 'number' ? this.#lr : this.#lr(this.#steps);
    if (!(lr >= 0))
      throw new RangeError(`AdamW: the schedule returned learning rate ${lr} for step ${this.#steps}`);
    return lr;
  }

  /** The state of each param seen so far, by key path. */
  get state(): ReadonlyMap<string, AdamWState> {
    return this.#state;
  }

  /**
   * Updates every param of `params` from `grads` (same structure, e.g. from {@link valueAndGrad}):
   * each entry of `params` is replaced by a new tensor and the old one is disposed. Returns
   * `params`. The grads are left to the caller. The new params and state are kept out of
   * enclosing `tidy` scopes.
   */
  step<P extends ParamTree>(params: P, grads: P): P {
    if (this.#disposed) throw new Error('AdamW.step: the optimizer was disposed');
    const ps = flattenParams(params, 'AdamW.step');
    const gs = flattenParams(grads, 'AdamW.step');
    assertDistinct(ps, 'AdamW.step');
    if (params instanceof Tensor) {
      throw new TypeError(
        'AdamW.step: params must be an array or an object of tensors (updated in place), not a single Tensor',
      );
    }
    const gradByPath = new Map(gs.map((g) => [g.path, g.tensor]));
    for (const { path, tensor: p } of ps) {
      const g = gradByPath.get(path);
      if (!g) throw new Error(`AdamW.step: no gradient for param '${path}' ${p.describe()}`);
      if (!shapesEqual(p.shape, g.shape) || g.dtype !== p.dtype || g.backend !== p.backend) {
        throw new Error(
          `AdamW.step: param '${path}' is ${p.describe()} on ${p.backend.kind} but its gradient is ${g.describe()} on ${g.backend.kind}`,
        );
      }
      if (p.dtype !== 'f32')
        throw new TypeError(`AdamW.step: param '${path}' is ${p.describe()}; AdamW updates f32 params`);
    }
    const lr = this.lr;
    const [beta1, beta2] = this.betas;
    for (const leaf of ps) {
      const { path, tensor: p } = leaf;
      const g = gradByPath.get(path)!;
      const group = this.groups.find((gr) => gr.match(path, p));
      const groupLr = lr * (group?.lrScale ?? 1);
      const weightDecay = group?.weightDecay ?? this.weightDecay;
      const prev = this.#stateFor(path, p);
      const t = prev.step + 1;
      const [p2, m2, v2] = adamwUpdate(p, g, prev.m, prev.v, {
        decay: 1 - groupLr * weightDecay,
        beta1,
        beta2,
        eps: this.eps,
        stepSize: groupLr / (1 - beta1 ** t),
        bc2Sqrt: Math.sqrt(1 - beta2 ** t),
      });
      this.#state.set(path, { m: keep(m2), v: keep(v2), step: t });
      prev.m.dispose();
      prev.v.dispose();
      replaceLeaf(leaf, keep(p2), 'AdamW.step');
      p.dispose();
    }
    this.#steps++;
    return params;
  }

  #stateFor(path: string, p: Tensor): AdamWState {
    const s = this.#state.get(path);
    if (s) {
      if (!shapesEqual(s.m.shape, p.shape) || s.m.backend !== p.backend) {
        throw new Error(
          `AdamW.step: param '${path}' is ${p.describe()} on ${p.backend.kind} but its optimizer state is ${formatShape(s.m.shape)} on ${s.m.backend.kind}`,
        );
      }
      return s;
    }
    const zeros = () => keep(full(p.shape, 0, { backend: p.backend }));
    return { m: zeros(), v: zeros(), step: 0 };
  }

  /** Frees the optimizer state. */
  dispose(): void {
    this.#disposed = true;
    for (const { m, v } of this.#state.values()) {
      m.dispose();
      v.dispose();
    }
    this.#state.clear();
  }
}
