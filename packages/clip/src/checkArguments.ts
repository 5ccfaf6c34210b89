// Checks of the arguments the exported functions take. A wrong value (the undefined of a misspelled
// Map lookup, a string, a tensor where a config belongs) fails here with a message that names the
// function and the argument, instead of JavaScript's own "Cannot read properties of undefined" or a
// tensor op's name from deep inside. Each is a few typeof/instanceof tests, once per call.
import { Tensor } from '@vl/tensor';
import type { ClipConfig } from './model/config.js';
import type { ClipParams } from './model/params.js';
import { rewordError } from './rewordError.js';
import { describeInput } from './task/describeInput.js';

/** A value for an error message: a short string (a name, a dtype) quoted, else as describeInput says. */
function describeArg(v: unknown): string {
  return typeof v === 'string' && v.length <= 40 ? `the string ${JSON.stringify(v)}` : describeInput(v);
}

/** `fn: name must be what, got ...` as a TypeError. */
export function argumentError(fn: string, name: string, what: string, v: unknown): TypeError {
  return new TypeError(`${fn}: ${name} must be ${what}, got ${describeArg(v)}`);
}

/** `v` must be a Tensor. */
export function checkTensor(fn: string, name: string, v: unknown): asserts v is Tensor {
  if (!(v instanceof Tensor)) throw new TypeError(`${fn}: ${name} is not a Tensor (got ${describeArg(v)})`);
}

/** `v` must be a Tensor or undefined (an optional tensor left out). */
export function checkOptionalTensor(fn: string, name: string, v: unknown): asserts v is Tensor | undefined {
  if (v !== undefined) checkTensor(fn, name, v);
}

/** `v` must be a string. */
export function checkString(fn: string, name: string, v: unknown): asserts v is string {
  if (typeof v !== 'string') throw argumentError(fn, name, 'a string', v);
}

/** An object that is neither an array nor a tensor (a config, an options bag). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Tensor);
}

/** `v` must be an object (not an array or a tensor); `what` says which. */
export function checkObject(fn: string, name: string, v: unknown, what = 'an object'): asserts v is object {
  if (!isPlainObject(v)) throw argumentError(fn, name, what, v);
}

/** `v` must be something `for...of` reads (an array, a Set, a Map's keys()). */
export function checkIterable(
  fn: string,
  name: string,
  v: unknown,
  what: string,
): asserts v is Iterable<unknown> {
  if (typeof (v as { [Symbol.iterator]?: unknown } | null | undefined)?.[Symbol.iterator] !== 'function')
    throw argumentError(fn, name, what, v);
}

/** Whether `v` reads like a Map (any ReadonlyMap: get, has and keys; a Map itself at once). */
function isMapLike(v: unknown): boolean {
  if (v instanceof Map) return true;
  const m = v as Partial<Record<'get' | 'has' | 'keys', unknown>> | null | undefined;
  return typeof m?.get === 'function' && typeof m.has === 'function' && typeof m.keys === 'function';
}

/** Model parameters must be a Map of tensors by checkpoint name (`name` defaults to `params`). */
export function checkParamsMap(fn: string, v: unknown, name = 'params'): asserts v is ClipParams {
  if (!isMapLike(v)) {
    const hint = v instanceof Promise ? ' (await it first)' : '';
    throw new TypeError(
      `${fn}: ${name} must be a Map of tensors by checkpoint name, got ${describeArg(v)}${hint}`,
    );
  }
}

/** A map of expected shapes by tensor name (what clipShapes returns). */
export function checkShapesMap(fn: string, name: string, v: unknown): void {
  if (!isMapLike(v))
    throw argumentError(fn, name, 'a Map of shapes by tensor name (as clipShapes returns)', v);
}

/**
 * A {@link ClipConfig}'s outline: an object whose tower sections the caller reads are objects (the
 * text tower's when `text`, the image tower's, `vision_resnet` or `vision_config`, when `vision`).
 * Their fields are checked where they matter (parseClipConfig, the params' shape checks).
 */
export function checkConfigArg(
  fn: string,
  config: unknown,
  towers: { text?: boolean; vision?: boolean } = {},
): asserts config is ClipConfig {
  checkObject(fn, 'config', config, 'a ClipConfig (as parseClipConfig returns)');
  const { text_config, vision_config, vision_resnet } = config as Record<string, unknown>;
  if (towers.text !== false) checkObject(fn, 'config.text_config', text_config);
  if (towers.vision === false) return;
  if (vision_resnet !== undefined) checkObject(fn, 'config.vision_resnet', vision_resnet);
  else checkObject(fn, 'config.vision_config', vision_config);
}

/**
 * `run()`, with any error it throws said again starting with `fn: ` (same kind, the original as
 * its cause): for exported functions whose checks are shared with a loader that names its file.
 */
export function namedErrors<T>(fn: string, run: () => T): T {
  try {
    return run();
  } catch (e) {
    throw e instanceof Error ? rewordError(e, `${fn}: ${e.message}`) : e;
  }
}
