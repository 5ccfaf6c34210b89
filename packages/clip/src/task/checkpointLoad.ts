// What the checkpoint loaders of the model packages share (`loadClip` here, `loadVlm` in @vl/vlm,
// which depends on this package): the checks of their arguments before anything loads, and the
// backend and @vl/tensor loader options the checkpoint loads with. Public for loaders of models
// built on CLIP; not in @vl/tensor, whose createBackend would there be the browser build's.
import {
  type Backend,
  type SafetensorsProgress,
  type StoredDType,
  Tensor,
  checkOptionKeys,
  createBackend,
} from '@vl/tensor';
import { argumentError } from '../checkArguments.js';
import { describeValue } from '../model/config.js';
import { canStoreAs, checkWeightDtype, isLinearWeight } from '../model/storedWeights.js';
import { describeInput } from './describeInput.js';

/** The loader's name, which starts every other message: a non-empty string. */
function checkCaller(fn: string, caller: unknown): asserts caller is string {
  if (typeof caller !== 'string' || caller === '')
    throw argumentError(fn, 'caller', "the loader's name (a non-empty string)", caller);
}

/**
 * `value` as an error message shows it; a tensor also names `fn`, the helper given it: a tensor in
 * the place of a source or options is the loader's own slip (an argument out of place), not its
 * caller's.
 */
function tensorSlip(value: unknown, fn: string): string {
  return value instanceof Tensor ? `${describeInput(value)} (in ${fn})` : describeValue(value);
}

/**
 * Rejects a loader's `source` that is neither a checkpoint folder (a non-empty path or URL) nor a
 * checkpoint given as parts (an object with `config` and `weights`); `caller` names the loader in
 * the error. The parts' other fields are the loader's to check.
 *
 * @example
 * ```ts
 * checkCheckpointSource({ config }, 'loadVlm'); // throws: a checkpoint given as parts needs weights
 * ```
 */
export function checkCheckpointSource(source: unknown, caller: string): void {
  checkCaller('checkCheckpointSource', caller);
  if (typeof source === 'string' || source instanceof URL) {
    if (source === '') throw new TypeError(`${caller}: the checkpoint folder path is empty`);
    return;
  }
  if (source === null || typeof source !== 'object' || Array.isArray(source) || source instanceof Tensor) {
    throw new TypeError(
      `${caller}: source must be a checkpoint folder (a path or URL) or { config, weights }, got ${tensorSlip(source, 'checkCheckpointSource')}`,
    );
  }
  for (const key of ['config', 'weights']) {
    const part = (source as Record<string, unknown>)[key];
    if (part === undefined || part === null)
      throw new TypeError(
        `${caller}: a checkpoint given as parts needs ${key} (got { ${Object.keys(source).join(', ')} })`,
      );
  }
}

/**
 * The backend of weights handed over as a Map of tensors (all of them must share it), or undefined
 * for any other kind of weights.
 */
function handedBackend(weights: unknown, caller: string): Backend | undefined {
  if (!(weights instanceof Map)) return undefined;
  let backend: Backend | undefined;
  for (const [name, t] of weights as Map<string, unknown>) {
    if (!(t instanceof Tensor)) continue; // named by the loader's own shape checks
    if (backend && t.backend !== backend) {
      throw new Error(
        `${caller}: checkpoint.weights mixes backends: ${name} is on ${t.backend.name}, earlier tensors on ${backend.name}`,
      );
    }
    backend = t.backend;
  }
  return backend;
}

/** Where and how a checkpoint loads (see {@link prepareCheckpointLoad}). */
export interface CheckpointLoad {
  /** The backend the caller gave, or a new `createBackend('auto')`. */
  backend: Backend;
  /** True when `backend` was created here: the model disposes it, and so must a load that fails. */
  ownsBackend: boolean;
  /** The caller's abort signal, for @vl/tensor's file reads (`loadJsonIfExists` and the like). */
  io: { signal?: AbortSignal };
  /** The dtype linear weights are stored as (`options.weightDtype`, default f32). */
  weightDtype: StoredDType;
  /**
   * Options for `loadSafetensors` and `loadCheckpointTensors`: f32 tensors on `backend` (linear
   * weights as `weightDtype`, converted one by one as they load), with progress and abort.
   */
  loadOptions: {
    backend: Backend;
    dtype: 'f32';
    storeAs?: (name: string, shape: readonly number[]) => StoredDType | undefined;
    onProgress?: (progress: SafetensorsProgress) => void;
    signal?: AbortSignal;
  };
}

/**
 * Checks a loader's `options` (`caller` names the loader in the error) and sets up the load: the
 * backend (that of the tensors when `handed`, a checkpoint's weights, is a Map of them; else a new
 * `createBackend('auto')` when none is given) and the options of @vl/tensor's loaders.
 * The models compute in f32, so F16/BF16 checkpoints are widened as they load (twice their size in
 * memory), except for the linear layers' weights when `options.weightDtype` keeps them smaller.
 *
 * @example
 * ```ts
 * const { backend, ownsBackend, loadOptions } = await prepareCheckpointLoad(options, 'loadVlm');
 * const tensors = await loadCheckpointTensors(folder, loadOptions);
 * ```
 */
export async function prepareCheckpointLoad(
  options: {
    backend?: Backend;
    onProgress?: (progress: SafetensorsProgress) => void;
    signal?: AbortSignal;
    weightDtype?: StoredDType;
  },
  caller: string,
  extraKeys: readonly string[] = [],
  handed?: unknown,
): Promise<CheckpointLoad> {
  checkCaller('prepareCheckpointLoad', caller);
  // extraKeys: options of the caller's own that it reads itself (a loader built on this one).
  if (!Array.isArray(extraKeys) || !extraKeys.every((key) => typeof key === 'string'))
    throw argumentError('prepareCheckpointLoad', 'extraKeys', 'an array of option names', extraKeys);
  if (options instanceof Tensor)
    throw new TypeError(
      `${caller}: options must be an object, got ${tensorSlip(options, 'prepareCheckpointLoad')}`,
    );
  checkOptionKeys(caller, options, [
    'backend',
    'onProgress',
    'signal',
    'fuseQkv',
    'weightDtype',
    ...extraKeys,
  ]);
  const { onProgress, signal } = options;
  // Checked before any file is read: a bad one failed mid-load ("onProgress is not a function"),
  // and a truthy fuseQkv: 'no' fused.
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TypeError(`${caller}: options.onProgress must be a function, got ${describeValue(onProgress)}`);
  }
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && 'aborted' in signal)) {
    throw new TypeError(`${caller}: options.signal must be an AbortSignal, got ${describeValue(signal)}`);
  }
  const { fuseQkv } = options as { fuseQkv?: unknown };
  if (fuseQkv !== undefined && typeof fuseQkv !== 'boolean') {
    throw new TypeError(`${caller}: options.fuseQkv must be true or false, got ${describeValue(fuseQkv)}`);
  }
  const weightDtype = checkWeightDtype(options.weightDtype, caller);
  // A weight q8/q4 cannot hold loads as f32, for storeLinearWeights to name it in the same words
  // as for tensors handed over.
  const storeAs = (name: string, shape: readonly number[]) =>
    isLinearWeight(name) && canStoreAs(weightDtype, shape) ? weightDtype : undefined;
  const theirs = handedBackend(handed, caller);
  if (theirs && options.backend && theirs !== options.backend) {
    throw new Error(
      `${caller}: checkpoint.weights are tensors on ${theirs.name} but options.backend is ${options.backend.name}; ` +
        'give the backend they were made on, or none',
    );
  }
  const ownsBackend = options.backend === undefined && theirs === undefined;
  const backend = options.backend ?? theirs ?? (await createBackend('auto'));
  const io = signal ? { signal } : {};
  return {
    backend,
    ownsBackend,
    io,
    weightDtype,
    loadOptions: {
      backend,
      dtype: 'f32',
      ...(weightDtype !== 'f32' ? { storeAs } : {}),
      ...(onProgress ? { onProgress } : {}),
      ...io,
    },
  };
}
