// The reverse-mode core shared by valueAndGrad and gradCheck: record a function's ops on a tape,
// then walk the tape backwards from seed gradients, calling each kernel's gradient rule.
import { type TapeNode, popTape, pushTape, run1 } from '../engine.js';
import { formatShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add } from '../kernels/binary.js';
import { stopGradientKernel } from './stopGradient.js';

let recording = false;

/**
 * Runs `f` with `wrt` tracked and its ops recorded. Call inside a scope: the tape's tensors stay
 * alive until that scope ends. The caller must call {@link untrack} when done with the tape.
 */
export function record<T>(op: string, wrt: readonly Tensor[], f: () => T): { tape: TapeNode[]; result: T } {
  if (recording) {
    throw new Error(
      `${op}: called while another gradient is being recorded; nested valueAndGrad (higher-order gradients) is not supported`,
    );
  }
  recording = true;
  for (const t of wrt) t.tracked = true;
  const tape = pushTape();
  try {
    return { tape, result: f() };
  } catch (e) {
    untrack(tape, wrt);
    throw e;
  } finally {
    popTape(tape);
    recording = false;
  }
}

/** Clears the tracked marks that recording left on `wrt` and on every tape output. */
export function untrack(tape: readonly TapeNode[], wrt: readonly Tensor[]): void {
  for (const t of wrt) t.tracked = false;
  for (const node of tape) for (const o of node.outputs) o.tracked = false;
}

/**
 * Backpropagates `seeds` (gradients of some tape tensors) through `tape` and returns the gradient
 * of each of `wrt` (`undefined` where none arrives). Runs with no tape recording, so the backward
 * ops are not recorded. Partial gradients are freed as soon as they have been used; the forward
 * tensors are left to the caller's scope.
 */
export function backward(
  op: string,
  tape: readonly TapeNode[],
  seeds: ReadonlyMap<Tensor, Tensor>,
  wrt: readonly Tensor[],
): (Tensor | undefined)[] {
  const forward = new Set<Tensor>(wrt);
  const isWrt = new Set<Tensor>(wrt);
  for (const node of tape) {
    for (const t of node.inputs) forward.add(t);
    for (const t of node.outputs) forward.add(t);
  }
  const grads = new Map<Tensor, Tensor>();
  // How many entries of `grads` hold each gradient tensor (rules may return `dy` itself).
  const refs = new Map<Tensor, number>();
  const hold = (g: Tensor) => refs.set(g, (refs.get(g) ?? 0) + 1);
  const drop = (g: Tensor) => refs.set(g, (refs.get(g) ?? 1) - 1);
  const freeIfUnused = (g: Tensor) => {
    if (!(refs.get(g) ?? 0) && !forward.has(g) && !g.isDisposed) g.dispose();
  };
  const pending: Tensor[] = [];
  const accumulate = (t: Tensor, g: Tensor) => {
    const prev = grads.get(t);
    const next = prev ? add(prev, g) : g;
    grads.set(t, next);
    hold(next);
    if (prev) {
      drop(prev);
      pending.push(prev, g);
    }
  };
  for (const [t, g] of seeds) accumulate(t, g);

  for (let n = tape.length - 1; n >= 0; n--) {
    const node = tape[n]!;
    const dy = node.outputs.map((o) => grads.get(o));
    if (dy.every((g) => g === undefined)) continue;
    const needed = node.inputs.map((t) => t.tracked);
    if (needed.some(Boolean)) {
      const dx = callRule(op, node, dy);
      dx.forEach((g, i) => {
        if (g === undefined) return;
        pending.push(g);
        if (!needed[i]) return;
        const x = node.inputs[i]!;
        checkGradient(op, node, i, x, g);
        accumulate(x, g);
      });
    }
    // This node's outputs are produced by nothing earlier on the tape: their gradients are done.
    for (const o of node.outputs) {
      const g = grads.get(o);
      if (g === undefined || isWrt.has(o)) continue;
      grads.delete(o);
      drop(g);
      pending.push(g);
    }
    for (const g of pending) freeIfUnused(g);
    pending.length = 0;
  }

  const used = new Set<Tensor>();
  return wrt.map((t) => {
    const g = grads.get(t);
    if (g === undefined) return undefined;
    // A gradient that is also a forward tensor or another gradient gets its own tensor (a view),
    // so the caller can dispose each result independently.
    const own = forward.has(g) || used.has(g) ? run1(stopGradientKernel, [g], undefined) : g;
    used.add(g);
    return own;
  });
}

/** `'binary' (op mul)`: kernels that serve several ops name the op in an `op` attribute. */
function kernelLabel(node: TapeNode): string {
  const attrOp = (node.attrs as { op?: unknown } | undefined)?.op;
  return typeof attrOp === 'string' ? `'${node.kernel.name}' (op ${attrOp})` : `'${node.kernel.name}'`;
}

function callRule(op: string, node: TapeNode, dy: (Tensor | undefined)[]): (Tensor | undefined)[] {
  const { kernel } = node;
  if (!kernel.grad) {
    const tracked = node.inputs
      .map((t, i) => (t.tracked ? `input ${i} ${t.describe()}` : ''))
      .filter(Boolean);
    throw new Error(
      `${op}: kernel ${kernelLabel(node)} has no gradient rule, but the loss depends on its output through ${tracked.join(', ')}; ` +
        'wrap the input in stopGradient() if no gradient should flow there',
    );
  }
  let dx: (Tensor | undefined)[];
  try {
    dx = kernel.grad({ dy, inputs: node.inputs, outputs: node.outputs, attrs: node.attrs });
  } catch (e) {
    const gone = [...node.inputs, ...node.outputs].find((t) => t.isDisposed);
    if (gone) {
      throw new Error(
        `${op}: the gradient of kernel ${kernelLabel(node)} needs tensor #${gone.id} ${gone.describe()}, which was disposed ` +
          'while the gradient was being recorded; let tidy() free intermediates instead of calling dispose() inside f',
        { cause: e },
      );
    }
    throw e;
  }
  // Extra trailing `undefined`s (a rule written for an optional input that is absent) are fine.
  if (
    !Array.isArray(dx) ||
    dx.length < node.inputs.length ||
    dx.slice(node.inputs.length).some((g) => g !== undefined)
  ) {
    throw new Error(
      `${op}: the gradient rule of kernel ${kernelLabel(node)} returned ${Array.isArray(dx) ? dx.length : typeof dx} gradients for ${node.inputs.length} inputs`,
    );
  }
  return dx.slice(0, node.inputs.length);
}

function checkGradient(op: string, node: TapeNode, i: number, x: Tensor, g: Tensor): void {
  const sameShape = g.shape.length === x.shape.length && g.shape.every((d, k) => d === x.shape[k]);
  if (!sameShape || g.dtype !== x.dtype || g.backend !== x.backend) {
    throw new Error(
      `${op}: the gradient rule of kernel ${kernelLabel(node)} returned ${g.dtype}${formatShape(g.shape)} on ${g.backend.kind} ` +
        `for input ${i}, which is ${x.dtype}${formatShape(x.shape)} on ${x.backend.kind}`,
    );
  }
}
