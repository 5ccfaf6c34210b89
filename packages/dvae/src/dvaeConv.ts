// dall_e's Conv2d: weights `w` and bias `b`, "same" padding of (k - 1) / 2 for the odd kernels used.
import { Tensor, conv2d } from '@vl/tensor';
import { checkParamsMap, checkTensorArg } from './checkArguments.js';
import { describeValue } from './describeValue.js';
import type { DvaeParams } from './dvaeShapes.js';

/**
 * Applies the checkpoint conv `name` (`name.w` `[O, C, k, k]`, `name.b` `[O]`) with dall_e's padding.
 *
 * @example
 * ```ts
 * const h = dvaeConv(params, 'blocks.input', x); // [B, 3, H, W] -> [B, n_hid, H, W]
 * ```
 */
export function dvaeConv(params: DvaeParams, name: string, x: Tensor): Tensor {
  checkParamsMap('dvaeConv', 'params', params);
  if (typeof name !== 'string') {
    throw new TypeError(
      `dvaeConv: name must be a conv's checkpoint name (such as 'blocks.input'), got ${describeValue(name)}`,
    );
  }
  checkTensorArg('dvaeConv', 'x', x);
  return paramsConv(params, name, x, 'dvaeConv');
}

/**
 * @internal {@link dvaeConv} without the argument checks, for the forward passes (one call per
 * layer); a missing or non-tensor weight is named with `caller`, the function the user called.
 */
export function paramsConv(params: DvaeParams, name: string, x: Tensor, caller: string): Tensor {
  const w = params.get(`${name}.w`);
  const b = params.get(`${name}.b`);
  if (w === undefined || b === undefined) {
    throw new Error(`${caller}: tensor ${name}.w or ${name}.b is missing from the params`);
  }
  // Two instanceof tests: a wrong entry would otherwise be reported by conv2d, not by `caller`.
  if (!(w instanceof Tensor && b instanceof Tensor)) {
    throw new TypeError(
      `${caller}: params ${name}.w and ${name}.b must be tensors, got ${describeValue(w)} and ${describeValue(b)}`,
    );
  }
  const k = w.shape[2] ?? 1;
  return conv2d(x, w, b, { padding: Math.floor((k - 1) / 2) }); // [B, O, H, W]
}
