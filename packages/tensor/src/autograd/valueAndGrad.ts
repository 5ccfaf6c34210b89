// valueAndGrad: reverse-mode gradients of a scalar loss with respect to a params tree.
import { full } from '../create.js';
import { describeValue } from '../describeValue.js';
import { run1, tidy } from '../engine.js';
import { Tensor } from '../tensor.js';
import { backward, record, untrack } from './backprop.js';
import { markNoGradient } from './noGradient.js';
import { type ParamTree, assertDistinct, flattenParams, mapParams } from './paramTree.js';
import { stopGradientKernel } from './stopGradient.js';

// A type alias rather than an interface, so that it fits tidy()'s TensorContainer.
/**
 * What {@link valueAndGrad} returns: the loss and one gradient per parameter, in the params' structure.
 *
 * @example
 * ```ts
 * const { value, grads }: ValueAndGrad<{ w: Tensor }> = valueAndGrad(() => sum(square(w)), { w });
 * ```
 */
export type ValueAndGrad<P extends ParamTree> = {
  /** The loss `f` returned (the caller owns it). */
  readonly value: Tensor;
  /**
   * d(loss)/d(param) for every param, same structure and shapes as the params; zeros for a param the
   * loss does not reach, which {@link AdamW.step} and {@link clipGradNorm} recognise and skip.
   */
  readonly grads: P;
  /**
   * Key paths (`blocks.0.w`) of the params the loss does not depend on (unused, or reached only
   * through {@link stopGradient} or integer results): PyTorch leaves their `.grad` as None.
   */
  readonly unreached: readonly string[];
};

/**
 * Runs `f` and returns its value with the gradient of that value with respect to each tensor of
 * `params` (an array, or a plain object, possibly nested, e.g. a model's params tree keyed by
 * checkpoint names). `f` must return a single-element f32 tensor (the loss).
 *
 * Every tensor created while computing the loss and its gradients is freed before this returns,
 * except `value` and the gradients, which the caller owns. Tensors that `f` wants to hand out
 * besides the loss (logits for an accuracy, say) can be kept with `keep()`. Inside `f`, free
 * intermediates with `tidy()` rather than `dispose()`: the backward pass needs them. Backward ops
 * are not recorded (no higher-order gradients), and calls do not nest. A param the loss does not
 * reach gets zeros and is listed in `unreached`; {@link AdamW.step} leaves such a param as it is
 * (no update, no weight decay, no moment update), as PyTorch skips a param whose grad is None.
 *
 * @example
 * ```ts
 * const { value: loss, grads } = valueAndGrad(() => mean(square(sub(add(matmul(x, w), b), y))), { w, b });
 * optimizer.step({ w, b }, grads); // grads.w has w's shape
 * ```
 */
export function valueAndGrad<P extends ParamTree>(f: () => Tensor, params: P): ValueAndGrad<P> {
  return valueAndGradAs('valueAndGrad', f, params);
}

/** {@link valueAndGrad} with `op` (valueAndGrad or grad) naming the API in errors. */
function valueAndGradAs<P extends ParamTree>(op: string, f: () => Tensor, params: P): ValueAndGrad<P> {
  // Checked first: grad(params, f), the arguments swapped, would otherwise walk f as params.
  if (typeof f !== 'function')
    throw new TypeError(`${op}: f must be a function () => loss, got ${describeValue(f)}`);
  const leaves = flattenParams(params, op);
  assertDistinct(leaves, op);
  const wrt = leaves.map((l) => l.tensor);
  leaves.forEach(({ path, tensor }) => {
    if (tensor.isDisposed) {
      throw new Error(`${op}: param '${path}' (tensor #${tensor.id} ${tensor.describe()}) was disposed`);
    }
    if (tensor.dtype !== 'f32') {
      throw new TypeError(
        `${op}: param '${path}' is ${tensor.describe()}; gradients need f32 params (${tensor.dtype === 'q8' || tensor.dtype === 'q4' ? 'no gradient flows into a quantized weight: train the f32 one' : 'cast first'})`,
      );
    }
  });
  return tidy(() => {
    const { tape, result: value } = record(op, wrt, f);
    try {
      checkLoss(value, op);
      const seed = full(value.shape, 1, { backend: value.backend });
      const grads = backward(op, tape, new Map([[value, seed]]), wrt);
      const tree = mapParams(
        params,
        (i) => grads[i] ?? markNoGradient(full(wrt[i]!.shape, 0, { backend: wrt[i]!.backend })),
      ) as P;
      const unreached = leaves.filter((_, i) => grads[i] === undefined).map((l) => l.path);
      // A loss that no recorded op produced (a param, or a tensor made before f) is handed out as
      // a view, so that the caller owns `value` in every case.
      const produced = tape.some((node) => node.outputs.includes(value));
      return {
        value: produced ? value : run1(stopGradientKernel, [value], undefined),
        grads: tree,
        unreached,
      };
    } finally {
      untrack(tape, wrt);
    }
  }) as ValueAndGrad<P>;
}

function checkLoss(value: unknown, op: string): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new TypeError(
      `${op}: f must return the loss as a Tensor (got ${value === null ? 'null' : typeof value})`,
    );
  }
  const t = value;
  if (t.size !== 1) {
    throw new RangeError(
      `${op}: f must return a scalar (single-element) loss, got ${t.describe()}; reduce it first, e.g. with mean()`,
    );
  }
  if (t.dtype !== 'f32') throw new TypeError(`${op}: the loss must be f32, got ${t.describe()}`);
}

/**
 * The gradients of `f` with respect to `params`, like {@link valueAndGrad} without the value
 * (which is freed).
 *
 * @example
 * ```ts
 * const grads = grad(() => mean(square(sub(predict(params, x), y))), params);
 * ```
 */
export function grad<P extends ParamTree>(f: () => Tensor, params: P): P {
  const { value, grads } = valueAndGradAs('grad', f, params);
  value.dispose();
  return grads;
}
