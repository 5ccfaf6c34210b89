// Checks of the arguments the public functions share. Each message starts with the function the
// caller called and names the argument, so a wrong value (a misspelled `map.get(...)` giving
// undefined, a tensor where a config belongs) is reported there instead of as JavaScript's own
// "Cannot read properties of undefined" or a kernel's error from deep inside. Cheap: a few
// typeof / instanceof tests, once per call.
import { Tensor } from '@vl/tensor';
import type { DvaeConfig } from './config.js';
import { describeValue } from './describeValue.js';
import type { DvaeParams } from './dvaeShapes.js';

/** A live tensor, or an error naming `caller` and `arg`; `what` says what the argument should be. */
export function checkTensorArg(
  caller: string,
  arg: string,
  v: unknown,
  what = 'a Tensor',
): asserts v is Tensor {
  if (!(v instanceof Tensor))
    throw new TypeError(`${caller}: ${arg} must be ${what}, got ${describeValue(v)}`);
  if (v.isDisposed) throw new Error(`${caller}: ${arg} ${v.describe()} was disposed (used after dispose())`);
}

/** A non-array object that is not a tensor (a config, options), or a TypeError naming `caller` and `arg`. */
export function checkObjectArg(
  caller: string,
  arg: string,
  v: unknown,
  what = 'an object',
): asserts v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Tensor) {
    throw new TypeError(`${caller}: ${arg} must be ${what}, got ${describeValue(v)}`);
  }
}

/**
 * A {@link DvaeConfig}'s outline: an object whose `encoder` and `decoder` are objects. Their fields
 * are checked where they matter (parseDvaeConfig, the shape checks of the params).
 */
export function checkConfigArg(caller: string, config: unknown): asserts config is DvaeConfig {
  checkObjectArg(caller, 'config', config, 'a DvaeConfig (as parseDvaeConfig returns)');
  checkObjectArg(caller, 'config.encoder', config.encoder, 'an object (a DvaeEncoderConfig)');
  checkObjectArg(caller, 'config.decoder', config.decoder, 'an object (a DvaeDecoderConfig)');
}

/** A Map of tensors by checkpoint name (anything with a Map's get, has and keys), or a TypeError. */
export function checkParamsMap(caller: string, arg: string, params: unknown): asserts params is DvaeParams {
  const p = params as Partial<Record<'get' | 'has' | 'keys', unknown>> | null | undefined;
  if (typeof p?.get !== 'function' || typeof p.has !== 'function' || typeof p.keys !== 'function') {
    throw new TypeError(
      `${caller}: ${arg} must be a Map of tensors by checkpoint name, got ${describeValue(params)}${params instanceof Promise ? ' (await it first)' : ''}`,
    );
  }
}

/** `{ encoder, decoder }`, each a Map of tensors by checkpoint name (see {@link checkParamsMap}). */
export function checkParamsPair(
  caller: string,
  arg: string,
  params: unknown,
): asserts params is { readonly encoder: DvaeParams; readonly decoder: DvaeParams } {
  checkObjectArg(caller, arg, params, '{ encoder, decoder }, two Maps of tensors by checkpoint name');
  checkParamsMap(caller, `${arg}.encoder`, params.encoder);
  checkParamsMap(caller, `${arg}.decoder`, params.decoder);
}

/** An integer of at least `min`, or a TypeError (not a number) or RangeError naming `caller` and `arg`. */
export function checkIntegerArg(caller: string, arg: string, v: unknown, min: number): asserts v is number {
  if (typeof v !== 'number') {
    throw new TypeError(`${caller}: ${arg} must be an integer >= ${min}, got ${describeValue(v)}`);
  }
  if (!Number.isInteger(v) || v < min) {
    throw new RangeError(`${caller}: ${arg} must be an integer >= ${min}, got ${v}`);
  }
}
