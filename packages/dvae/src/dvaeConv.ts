// dall_e's Conv2d: weights `w` and bias `b`, "same" padding of (k - 1) / 2 for the odd kernels used.
import { type Tensor, conv2d } from '@vl/tensor';
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
  const w = params.get(`${name}.w`);
  const b = params.get(`${name}.b`);
  if (w === undefined || b === undefined) throw new Error(`dvae: tensor ${name}.w or ${name}.b is missing`);
  const k = w.shape[2] ?? 1;
  return conv2d(x, w, b, { padding: Math.floor((k - 1) / 2) }); // [B, O, H, W]
}
