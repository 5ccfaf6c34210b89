// Optimizer states as one safetensors file, so a training run can stop and resume exactly: each
// AdamW's moments as tensors named `<optimizer>.<param path>.m` / `.v`, and the numbers (steps
// taken, each param's step, anything JSON the trainer adds) in the header's metadata.
import { isSystemError, withMessage } from '../io/systemError.js';
import type { Backend } from '../backend.js';
import { checkBackendOption, checkSource } from '../io/loaderArguments.js';
import { loadSafetensors } from '../io/loadSafetensors.js';
import type { SafetensorsSource } from '../io/locateSource.js';
import { saveSafetensors } from '../io/saveSafetensors.js';
import { showValue } from '../shape.js';
import type { Tensor } from '../tensor.js';
import type { AdamW, AdamWState, AdamWStateDict } from './AdamW.js';
import {
  checkLoadOptions,
  checkOptimizers,
  checkStateDicts,
  checkTargets,
} from './optimizerStateArguments.js';
import type { ParamTree } from './paramTree.js';

/** The metadata key that holds the numbers. */
const KEY = 'vl.optimizer_state';
const VERSION = 1;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What the metadata holds: per optimizer its steps and each param's step, plus the trainer's extra. */
interface StateNumbers {
  version: number;
  optimizers: Record<string, { stepCount: number; steps: Record<string, number> }>;
  extra: unknown;
}

/** What {@link loadOptimizerState} returns; the caller owns (and disposes) the moments. */
export interface LoadedOptimizerState {
  /** Each optimizer's state by the name it was saved under, for {@link AdamW.loadStateDict}. */
  readonly optimizers: Readonly<Record<string, AdamWStateDict>>;
  /** The JSON value saved beside them (`null` when none was). */
  readonly extra: unknown;
  /** Disposes every moment tensor (safe after `loadStateDict`, which keeps views). */
  dispose(): void;
}

/**
 * Writes optimizer states ({@link AdamW.stateDict}, by a name of letters, digits and `_`) and a
 * JSON value (`extra`: a step counter, an {@link Rng.state}, ...) as one safetensors file. The
 * state dicts' tensors stay the caller's.
 *
 * @example
 * ```ts
 * const saved = opt.stateDict();
 * const bytes = await saveOptimizerState({ adamw: saved }, { rng: rng.state() });
 * for (const { m, v } of Object.values(saved.state)) { m.dispose(); v.dispose(); }
 * ```
 */
export async function saveOptimizerState(
  optimizers: Readonly<Record<string, AdamWStateDict>>,
  extra: unknown = null,
): Promise<Uint8Array> {
  checkStateDicts(optimizers, 'saveOptimizerState');
  return encodeState(optimizers, extra, 'saveOptimizerState');
}

/** The file of {@link saveOptimizerState}, with `op` naming the API in errors. */
async function encodeState(
  optimizers: Readonly<Record<string, AdamWStateDict>>,
  extra: unknown,
  op: string,
): Promise<Uint8Array> {
  const numbers: StateNumbers = { version: VERSION, optimizers: {}, extra };
  const tensors: Record<string, Tensor> = {};
  for (const [name, dict] of Object.entries(optimizers)) {
    if (!NAME.test(name))
      throw new RangeError(`${op}: optimizer name ${showValue(name)} must be letters, digits and _`);
    const steps: Record<string, number> = {};
    for (const [path, { m, v, step }] of Object.entries(dict.state)) {
      steps[path] = step;
      tensors[`${name}.${path}.m`] = m;
      tensors[`${name}.${path}.v`] = v;
    }
    numbers.optimizers[name] = { stepCount: dict.stepCount, steps };
  }
  let json: string;
  try {
    json = JSON.stringify(numbers);
  } catch (e) {
    throw new TypeError(`${op}: extra must be JSON (${(e as Error).message})`);
  }
  return saveSafetensors(tensors, { [KEY]: json });
}

/**
 * Reads a file {@link saveOptimizerState} wrote onto `backend`: the optimizers' state dicts and the
 * extra JSON value. A file without the state's metadata, or whose metadata and tensors disagree,
 * is refused naming what is wrong; nothing is left behind on an error.
 *
 * @example
 * ```ts
 * const state = await loadOptimizerState(bytes, { backend });
 * opt.loadStateDict(state.optimizers.adamw!, params);
 * state.dispose();
 * ```
 */
export async function loadOptimizerState(
  source: SafetensorsSource,
  options: { backend: Backend },
): Promise<LoadedOptimizerState> {
  const op = 'loadOptimizerState';
  checkSource(source, op);
  checkBackendOption(options, op);
  const { tensors, metadata } = await loadSafetensors(source, { backend: options.backend });
  const disposeAll = () => {
    for (const t of tensors.values()) t.dispose();
  };
  try {
    const numbers = parseNumbers(metadata[KEY], op);
    const used = new Set<string>();
    const optimizers: Record<string, AdamWStateDict> = {};
    for (const [name, { stepCount, steps }] of Object.entries(numbers.optimizers)) {
      const state: Record<string, AdamWState> = {};
      for (const [path, step] of Object.entries(steps)) {
        const [m, v] = ['m', 'v'].map((k) => {
          const key = `${name}.${path}.${k}`;
          const t = tensors.get(key);
          if (!t) throw new Error(`${op}: the file has no tensor ${key} for the state of ${name}'s ${path}`);
          used.add(key);
          return t;
        }) as [Tensor, Tensor];
        state[path] = { m, v, step };
      }
      optimizers[name] = { stepCount, state };
    }
    const unused = [...tensors.keys()].filter((k) => !used.has(k));
    if (unused.length > 0) throw new Error(`${op}: tensors no optimizer state names: ${unused.join(', ')}`);
    return { optimizers, extra: numbers.extra, dispose: disposeAll };
  } catch (e) {
    disposeAll();
    throw e;
  }
}

/** The metadata's numbers, checked to be what {@link saveOptimizerState} writes. */
function parseNumbers(text: string | undefined, op: string): StateNumbers {
  if (text === undefined)
    throw new Error(
      `${op}: the file has no "${KEY}" metadata; it is not an optimizer state from saveOptimizerState`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${op}: the "${KEY}" metadata is not valid JSON (${(e as Error).message})`);
  }
  const n = parsed as Partial<StateNumbers> | null;
  if (
    typeof n !== 'object' ||
    n === null ||
    n.version !== VERSION ||
    typeof n.optimizers !== 'object' ||
    n.optimizers === null
  ) {
    throw new Error(`${op}: the "${KEY}" metadata is not version ${VERSION} of the optimizer state`);
  }
  for (const [name, o] of Object.entries(n.optimizers)) {
    const ok =
      typeof o === 'object' &&
      o !== null &&
      Number.isInteger(o.stepCount) &&
      typeof o.steps === 'object' &&
      o.steps !== null &&
      Object.values(o.steps).every((s) => Number.isInteger(s));
    if (!ok) throw new Error(`${op}: the metadata of optimizer ${showValue(name)} is malformed`);
  }
  return { version: VERSION, optimizers: n.optimizers, extra: n.extra ?? null };
}

/** Disposes the moment views of a state dict (from {@link AdamW.stateDict}). */
function disposeDict(dict: AdamWStateDict): void {
  for (const { m, v } of Object.values(dict.state)) {
    m.dispose();
    v.dispose();
  }
}

/**
 * Saves optimizers' states by name, and a JSON value, as one safetensors file: a trainer's
 * `saveState()` (see {@link saveOptimizerState} for the file).
 *
 * @example
 * ```ts
 * const bytes = await saveOptimizers({ decoder: decoderOpt, encoder: encoderOpt }, { rng: rng.state() });
 * ```
 */
export async function saveOptimizers(
  optimizers: Readonly<Record<string, AdamW>>,
  extra: unknown = null,
): Promise<Uint8Array> {
  checkOptimizers(optimizers, 'saveOptimizers');
  const dicts = Object.fromEntries(Object.entries(optimizers).map(([name, o]) => [name, o.stateDict()]));
  try {
    return await encodeState(dicts, extra, 'saveOptimizers');
  } finally {
    for (const dict of Object.values(dicts)) disposeDict(dict);
  }
}

/** An optimizer to load a state into, and the params its next steps update. */
export interface OptimizerTarget {
  readonly optimizer: AdamW;
  readonly params: ParamTree;
}

/**
 * Loads a file of {@link saveOptimizers} into optimizers by name, all or nothing: each must find
 * its state in the file and fit its params, and `check(extra)` (called after the file is read,
 * before any optimizer changes) may refuse the JSON value; on any error every optimizer keeps the
 * state it had. Resolves to the JSON value. `caller` names the API in errors.
 *
 * @example
 * ```ts
 * const extra = await loadOptimizers(bytes, { adamw: { optimizer: opt, params } }, { backend, caller: 'myTrainer' });
 * ```
 */
export async function loadOptimizers(
  source: SafetensorsSource,
  targets: Readonly<Record<string, OptimizerTarget>>,
  options: { backend: Backend; caller: string; check?: (extra: unknown) => void },
): Promise<unknown> {
  // A trainer's loadState passes its own name as the caller: a wrong source or a missing file is
  // then said in the words of what the user called.
  const named = (options as { caller?: unknown } | null)?.caller;
  const said = typeof named === 'string' && named !== '' ? named : 'loadOptimizers';
  checkSource(source, said);
  checkTargets(targets, 'loadOptimizers');
  checkLoadOptions(options, 'loadOptimizers');
  const { caller } = options;
  let loaded: LoadedOptimizerState;
  try {
    loaded = await loadOptimizerState(source, { backend: options.backend });
  } catch (e) {
    throw isSystemError(e) ? withMessage(e, `${caller}: ${e.message}`) : e;
  }
  const done: { target: OptimizerTarget; prior: AdamWStateDict; loaded: boolean }[] = [];
  try {
    for (const name of Object.keys(targets)) {
      if (!loaded.optimizers[name]) {
        const held = Object.keys(loaded.optimizers).join(', ') || 'none';
        throw new Error(`${caller}: the file holds no ${name} optimizer state (it holds ${held})`);
      }
    }
    options.check?.(loaded.extra);
    try {
      for (const [name, target] of Object.entries(targets)) {
        const entry = { target, prior: target.optimizer.stateDict(), loaded: false };
        done.push(entry);
        target.optimizer.loadStateDict(loaded.optimizers[name]!, target.params);
        entry.loaded = true;
      }
    } catch (e) {
      // The ones loaded get their own state back (the failing one kept its own: loadStateDict is
      // all or nothing).
      for (const { target, prior, loaded: was } of done.reverse())
        if (was) target.optimizer.loadStateDict(prior, target.params);
      throw e;
    }
    return loaded.extra;
  } finally {
    for (const { prior } of done) disposeDict(prior);
    loaded.dispose();
  }
}
