// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), with the same arithmetic
// as PyTorch's torch.optim.AdamW (single-tensor path, amsgrad off), so losses match step for step.
import { full } from '../create.js';
import { keep, run1 } from '../engine.js';
import { formatShape, shapesEqual, showValue } from '../shape.js';
import { Tensor } from '../tensor.js';
import { adamwUpdate } from './adamwUpdate.js';
import { isNoGradient } from './noGradient.js';
import { type ParamLeaf, type ParamTree, assertDistinct, flattenParams, replaceLeaf } from './paramTree.js';
import { stopGradientKernel } from './stopGradient.js';

const OPTION_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'groups'];
const GROUP_KEYS = ['match', 'weightDecay', 'lrScale'];

/** Throws on a key that is not one of `known` (a misspelt option would otherwise be ignored). */
function checkKeys(object: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      throw new TypeError(`${what} has an unknown key ${JSON.stringify(key)} (expected ${known.join(', ')})`);
    }
  }
}

function checkLr(lr: unknown, what: string): void {
  if (!(typeof lr === 'number' && lr >= 0))
    throw new RangeError(`${what} must be >= 0, got ${showValue(lr)}`);
  if (!Number.isFinite(lr)) throw new RangeError(`${what} must be a finite number, got ${lr}`);
}

function checkDecay(weightDecay: unknown, what: string): void {
  if (!(typeof weightDecay === 'number' && weightDecay >= 0 && Number.isFinite(weightDecay))) {
    throw new RangeError(`${what} must be a finite number >= 0, got ${showValue(weightDecay)}`);
  }
}

function checkGroup(group: unknown, what: string): void {
  if (typeof group !== 'object' || group === null || Array.isArray(group)) {
    throw new TypeError(
      `${what} must be an object { match, weightDecay?, lrScale? }, got ${showValue(group)}`,
    );
  }
  checkKeys(group, GROUP_KEYS, what);
  const { match, weightDecay, lrScale } = group as Partial<ParamGroup>;
  if (typeof match !== 'function') {
    throw new TypeError(`${what}.match must be a function (path, param) => boolean, got ${showValue(match)}`);
  }
  if (weightDecay !== undefined) checkDecay(weightDecay, `${what}.weightDecay`);
  if (lrScale !== undefined && !(typeof lrScale === 'number' && lrScale >= 0 && Number.isFinite(lrScale))) {
    throw new RangeError(`${what}.lrScale must be a finite number >= 0, got ${showValue(lrScale)}`);
  }
}

/** The key paths of `leaves` for an error message (the first few). */
function listPaths(leaves: readonly ParamLeaf[]): string {
  const shown = leaves.slice(0, 8).map((l) => `'${l.path}'`);
  return leaves.length > 8 ? `${shown.join(', ')} and ${leaves.length - 8} more` : shown.join(', ') || 'none';
}

/** Throws unless the step can put a new tensor where `leaf` is (e.g. not in a frozen object). */
function checkWritable(leaf: ParamLeaf): void {
  const d = leaf.parent && Object.getOwnPropertyDescriptor(leaf.parent, leaf.key);
  if (d && !d.writable && !d.set) {
    throw new TypeError(
      `AdamW.step: param '${leaf.path}' cannot be replaced: its entry is read-only (a frozen params object?); ` +
        'AdamW.step updates params in place',
    );
  }
}

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
 * Options of {@link AdamW}; defaults as in PyTorch. The constructor checks them all (finite values,
 * `betas` two numbers in [0, 1), `eps > 0`, every group's fields) and rejects unknown keys.
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
  /** Added to the denominator for stability (default 1e-8); must be > 0. */
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
 * Everything a resumed run needs from an {@link AdamW}, as plain tensors and numbers (see
 * {@link AdamW.stateDict}): the steps taken, which the learning-rate schedule reads, and each
 * param's moments and step count (its bias correction) by key path. The tensors can go through
 * `saveSafetensors` as `${path}.m` and `${path}.v`, the numbers through JSON.
 *
 * @example
 * ```ts
 * const saved: AdamWStateDict = opt.stateDict();
 * const { m, v, step } = saved.state['fc.weight']!;
 * ```
 */
export interface AdamWStateDict {
  /** Steps the optimizer has taken ({@link AdamW.stepCount}). */
  readonly stepCount: number;
  /** Moments and step count of each param that has taken a step, by key path. */
  readonly state: { readonly [path: string]: AdamWState };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A view of `t` (no copy) that its own owner disposes: tensors are immutable. */
const view = (t: Tensor): Tensor => run1(stopGradientKernel, [t], undefined);

/**
 * The AdamW optimizer. For each param, with `t` its step count:
 * `p -= lr * wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g²;
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`, in one fused kernel per param.
 * State (m, v) lives on the params' backend, keyed by key path, and survives enclosing `tidy`
 * scopes; free it with {@link AdamW.dispose}. A param the loss does not reach (its gradient from
 * {@link valueAndGrad} is the placeholder zeros) is skipped: no update, no weight decay, and its
 * moments and step count stay as they are, as `torch.optim.AdamW` skips a param whose grad is None.
 * Save and resume the state with {@link AdamW.stateDict} and {@link AdamW.loadStateDict}.
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
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new TypeError(`AdamW: options must be an object, got ${showValue(options)}`);
    }
    checkKeys(options, OPTION_KEYS, 'AdamW: options');
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 1e-2, groups = [] } = options;
    if (typeof lr === 'number') checkLr(lr, 'AdamW: lr');
    else if (typeof lr !== 'function') {
      throw new TypeError(`AdamW: lr must be a number or a schedule function, got ${showValue(lr)}`);
    }
    if (!Array.isArray(betas) || betas.length !== 2) {
      throw new RangeError(`AdamW: betas must be two numbers in [0, 1), got ${showValue(betas)}`);
    }
    betas.forEach((b: unknown, i) => {
      if (!(typeof b === 'number' && b >= 0 && b < 1))
        throw new RangeError(`AdamW: betas[${i}] must be in [0, 1), got ${showValue(b)}`);
    });
    if (!(typeof eps === 'number' && eps > 0 && Number.isFinite(eps))) {
      throw new RangeError(
        `AdamW: eps must be a finite number > 0 (0 divides 0 by 0 where a gradient is 0), got ${showValue(eps)}`,
      );
    }
    checkDecay(weightDecay, 'AdamW: weightDecay');
    if (!Array.isArray(groups))
      throw new TypeError(`AdamW: groups must be an array, got ${showValue(groups)}`);
    for (const [i, g] of (groups as readonly unknown[]).entries()) checkGroup(g, `AdamW: groups[${i}]`);
    this.#lr = lr;
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.groups = [...groups];
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.#steps;
  }

  /** The learning rate the next step will use. */
  get lr(): number {
    if (typeof this.#lr === 'number') return this.#lr;
    const lr: unknown = this.#lr(this.#steps);
    if (!(typeof lr === 'number' && lr >= 0 && Number.isFinite(lr))) {
      throw new RangeError(
        `AdamW: the schedule returned learning rate ${showValue(lr)} for step ${this.#steps}; it must be a finite number >= 0`,
      );
    }
    return lr;
  }

  /** The state of each param seen so far, by key path. */
  get state(): ReadonlyMap<string, AdamWState> {
    return this.#state;
  }

  /**
   * Updates every param of `params` from `grads` (same structure, e.g. from {@link valueAndGrad}):
   * each entry of `params` is replaced by a new tensor and the old one is disposed, except params
   * the loss did not reach (valueAndGrad's `unreached`), which are left as they are. Returns
   * `params`. The grads are left to the caller. The new params and state are kept out of
   * enclosing `tidy` scopes. A param without a gradient, or a gradient without a param, throws.
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
    const paramPaths = new Set(ps.map((p) => p.path));
    const stray = gs.find((g) => !paramPaths.has(g.path));
    if (stray) {
      throw new Error(
        `AdamW.step: gradient '${stray.path}' ${stray.tensor.describe()} has no param with that key path (params: ${listPaths(ps)})`,
      );
    }
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
    // Everything that can fail is checked before any state changes, so a step is all or nothing.
    const reached = ps.filter(({ path }) => !isNoGradient(gradByPath.get(path)!));
    const plan = reached.map((leaf) => {
      const { path, tensor: p } = leaf;
      const group = this.groups.find((gr) => gr.match(path, p));
      const groupLr = lr * (group?.lrScale ?? 1);
      const weightDecay = group?.weightDecay ?? this.weightDecay;
      const decay = 1 - groupLr * weightDecay;
      if (!(decay >= 0)) {
        throw new RangeError(
          `AdamW.step: param '${path}' has learning rate ${groupLr} and weight decay ${weightDecay}: ` +
            `their product must be <= 1 (the decay factor 1 - lr * weightDecay would be ${decay})`,
        );
      }
      checkWritable(leaf);
      const prev = this.#state.get(path);
      if (prev && (!shapesEqual(prev.m.shape, p.shape) || prev.m.backend !== p.backend)) {
        throw new Error(
          `AdamW.step: param '${path}' is ${p.describe()} on ${p.backend.kind} but its optimizer state is ${formatShape(prev.m.shape)} on ${prev.m.backend.kind}`,
        );
      }
      return { leaf, groupLr, decay };
    });
    for (const { leaf, groupLr, decay } of plan) {
      const { path, tensor: p } = leaf;
      const g = gradByPath.get(path)!;
      const prev = this.#stateFor(path, p);
      const t = prev.step + 1;
      const [p2, m2, v2] = adamwUpdate(p, g, prev.m, prev.v, {
        decay,
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

  /**
   * The optimizer's state for saving: the step count and, for each param that has taken a step,
   * its moments and step count. The tensors are views (no copies) that the caller owns and
   * disposes, made in the current scope; they stay valid whatever the optimizer does next.
   * {@link AdamW.loadStateDict} on a new optimizer with the same options resumes the run exactly.
   *
   * @example
   * ```ts
   * const saved = opt.stateDict(); // { stepCount, state: { [path]: { m, v, step } } }
   * const resumed = new AdamW(options);
   * resumed.loadStateDict(saved, params);
   * for (const { m, v } of Object.values(saved.state)) { m.dispose(); v.dispose(); }
   * ```
   */
  stateDict(): AdamWStateDict {
    if (this.#disposed) throw new Error('AdamW.stateDict: the optimizer was disposed');
    const state: Record<string, AdamWState> = {};
    for (const [path, { m, v, step }] of this.#state) state[path] = { m: view(m), v: view(v), step };
    return { stepCount: this.#steps, state };
  }

  /**
   * Replaces the optimizer's state with `saved` (from {@link AdamW.stateDict}, perhaps through a
   * file), checked against `params`, the tree the next steps will update: every saved path must
   * name a param of the same shape on the same backend (params without saved state start fresh).
   * The tensors of `saved` stay the caller's (the optimizer keeps views of them). All or nothing:
   * on an error the state is left as it was.
   *
   * @example
   * ```ts
   * const opt = new AdamW({ lr: schedule, weightDecay: 0.1 }); // the options of the saved run
   * opt.loadStateDict(saved, params);
   * opt.step(params, grads); // continues exactly where the saved run stopped
   * ```
   */
  loadStateDict(saved: AdamWStateDict, params: ParamTree): void {
    const op = 'AdamW.loadStateDict';
    if (this.#disposed) throw new Error(`${op}: the optimizer was disposed`);
    if (!isObject(saved) || !isObject(saved.state)) {
      throw new TypeError(
        `${op}: expects { stepCount, state } as stateDict() returns, got ${showValue(saved)}`,
      );
    }
    const { stepCount } = saved;
    if (!(Number.isInteger(stepCount) && stepCount >= 0)) {
      throw new RangeError(`${op}: stepCount must be an integer >= 0, got ${showValue(stepCount)}`);
    }
    const leaves = flattenParams(params, op);
    const byPath = new Map(leaves.map((l) => [l.path, l.tensor]));
    for (const [path, entry] of Object.entries(saved.state)) {
      const p = byPath.get(path);
      if (!p)
        throw new Error(`${op}: saved state for '${path}' matches no param (params: ${listPaths(leaves)})`);
      if (!isObject(entry))
        throw new TypeError(`${op}: state['${path}'] must be { m, v, step }, got ${showValue(entry)}`);
      const { m, v, step } = entry;
      if (!(Number.isInteger(step) && (step as number) >= 1 && (step as number) <= stepCount)) {
        throw new RangeError(
          `${op}: state['${path}'].step must be an integer in [1, stepCount ${stepCount}], got ${showValue(step)}`,
        );
      }
      for (const [name, t] of [
        ['m', m],
        ['v', v],
      ] as const) {
        if (!(t instanceof Tensor))
          throw new TypeError(`${op}: state['${path}'].${name} must be a Tensor, got ${showValue(t)}`);
        if (t.isDisposed) throw new Error(`${op}: state['${path}'].${name} (tensor #${t.id}) was disposed`);
        if (!shapesEqual(t.shape, p.shape) || t.dtype !== 'f32' || t.backend !== p.backend) {
          throw new Error(
            `${op}: state['${path}'].${name} is ${t.describe()} on ${t.backend.kind} but param '${path}' is ${p.describe()} on ${p.backend.kind}`,
          );
        }
      }
    }
    this.#clearState();
    for (const [path, { m, v, step }] of Object.entries(saved.state)) {
      this.#state.set(path, { m: keep(view(m)), v: keep(view(v)), step });
    }
    this.#steps = stepCount;
  }

  #clearState(): void {
    for (const { m, v } of this.#state.values()) {
      m.dispose();
      v.dispose();
    }
    this.#state.clear();
  }

  #stateFor(path: string, p: Tensor): AdamWState {
    const s = this.#state.get(path);
    if (s) return s;
    const zeros = () => keep(full(p.shape, 0, { backend: p.backend }));
    return { m: zeros(), v: zeros(), step: 0 };
  }

  /** Frees the optimizer state. */
  dispose(): void {
    this.#disposed = true;
    this.#clearState();
  }
}
