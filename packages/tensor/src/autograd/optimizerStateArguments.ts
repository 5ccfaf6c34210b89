// The arguments of the optimizer-state savers and loaders, checked before any file is read or
// written: `saveOptimizers({ adamw: undefined })` or a state dict for an optimizer would otherwise
// fail inside with "o.stateDict is not a function" or "Cannot convert undefined or null to object".
import type { Backend } from '../backend.js';
import { checkTensor } from '../checkTensor.js';
import { describeValue } from '../describeValue.js';
import type { AdamW, AdamWStateDict } from './AdamW.js';
import { checkBackendOption } from '../io/loaderArguments.js';
import { isPlainObject } from './paramTree.js';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Throws unless `optimizers` is an object of state dicts ({@link AdamW.stateDict}) by name. */
export function checkStateDicts(
  optimizers: unknown,
  op: string,
): asserts optimizers is Readonly<Record<string, AdamWStateDict>> {
  if (!isPlainObject(optimizers)) {
    throw new TypeError(
      `${op}: optimizers must be an object of AdamW state dicts by name, e.g. { adamw: opt.stateDict() }, got ${describeValue(optimizers)}`,
    );
  }
  for (const [name, dict] of Object.entries(optimizers)) {
    if (!isRecord(dict) || !Number.isInteger(dict.stepCount) || !isRecord(dict.state)) {
      throw new TypeError(
        `${op}: optimizers.${name} must be a state dict { stepCount, state } from opt.stateDict(), got ${describeValue(dict)}`,
      );
    }
    for (const [path, entry] of Object.entries(dict.state)) {
      const what = `optimizers.${name}.state['${path}']`;
      const { m, v, step } = isRecord(entry) ? entry : {};
      checkTensor(m, op, `${what}.m`);
      checkTensor(v, op, `${what}.v`);
      if (!Number.isInteger(step))
        throw new TypeError(`${op}: ${what}.step must be an integer, got ${describeValue(step)}`);
    }
  }
}

/** Throws unless `optimizers` is an object of optimizers (with `stateDict()`) by name. */
export function checkOptimizers(
  optimizers: unknown,
  op: string,
): asserts optimizers is Readonly<Record<string, AdamW>> {
  if (!isPlainObject(optimizers)) {
    throw new TypeError(
      `${op}: optimizers must be an object of AdamW optimizers by name, e.g. { adamw: opt }, got ${describeValue(optimizers)}`,
    );
  }
  for (const [name, o] of Object.entries(optimizers)) {
    if (typeof (o as Partial<AdamW> | null)?.stateDict !== 'function')
      throw new TypeError(`${op}: optimizers.${name} must be an AdamW, got ${describeValue(o)}`);
  }
}

/** Throws unless `targets` is an object of `{ optimizer, params }` by name. */
export function checkTargets(targets: unknown, op: string): void {
  if (!isPlainObject(targets)) {
    throw new TypeError(
      `${op}: targets must be an object of { optimizer, params } by name, got ${describeValue(targets)}`,
    );
  }
  for (const [name, target] of Object.entries(targets)) {
    const optimizer = isRecord(target) ? (target.optimizer as Partial<AdamW> | null) : undefined;
    if (typeof optimizer?.loadStateDict !== 'function' || typeof optimizer.stateDict !== 'function') {
      throw new TypeError(
        `${op}: targets.${name} must be { optimizer, params } with an AdamW optimizer, got ${describeValue(target)}`,
      );
    }
  }
}

/** Throws unless `options` holds a backend, a caller name and, if given, a check function. */
export function checkLoadOptions(
  options: unknown,
  op: string,
): asserts options is { backend: Backend; caller: string; check?: (extra: unknown) => void } {
  checkBackendOption(options, op);
  const { caller, check } = options as { caller?: unknown; check?: unknown };
  if (typeof caller !== 'string' || caller === '')
    throw new TypeError(
      `${op}: options.caller must name the API for errors (a string), got ${describeValue(caller)}`,
    );
  if (check !== undefined && typeof check !== 'function')
    throw new TypeError(
      `${op}: options.check must be a function (extra) => void, got ${describeValue(check)}`,
    );
}
