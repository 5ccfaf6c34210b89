// Engine state shared by every backend: scopes that free intermediates, the autograd tape, and
// live-tensor counts. It holds no backends; callers pass theirs in.
import { checkTensor } from './checkTensor.js';
import { describeValue } from './describeValue.js';
import { type Backend, backendGone, type TensorInfo } from './backend.js';
import { isFloat, isQuantized } from './dtype.js';
import type { Kernel } from './kernel.js';
import { formatShape } from './shape.js';
import { Tensor } from './tensor.js';

type Scope = Set<Tensor>;
const scopes: Scope[] = [];
// Live-tensor counts per backend, with the last one used at hand: ops create and dispose tensors
// by the hundred per forward pass, nearly always on one backend. (The module keeps a reference to
// the last backend used, disposed or not, until another one is used.)
const liveByBackend = new WeakMap<Backend, { n: number }>();
let lastBackend: Backend | undefined;
let lastCount = { n: 0 };

function liveCounter(backend: Backend): { n: number } {
  if (backend === lastBackend) return lastCount;
  let count = liveByBackend.get(backend);
  if (!count) liveByBackend.set(backend, (count = { n: 0 }));
  lastBackend = backend;
  lastCount = count;
  return count;
}

/** A recorded op for reverse-mode differentiation. */
export interface TapeNode {
  readonly kernel: Kernel;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly attrs: unknown;
}

const tapes: TapeNode[][] = [];
// The tensors each recording tape refers to (its nodes' inputs and outputs). Backpropagation reads
// them after the forward pass, so a scope that ends while a tape records hands them to its parent
// scope instead of freeing them; the tape's owner frees them when it is done.
const tapeTensors = new WeakMap<TapeNode[], Set<Tensor>>();

function heldByTape(t: Tensor): boolean {
  for (const tape of tapes) if (tapeTensors.get(tape)?.has(t)) return true;
  return false;
}

export function onTensorCreated(t: Tensor): void {
  liveCounter(t.backend).n++;
  scopes[scopes.length - 1]?.add(t);
}

export function onTensorDisposed(t: Tensor): void {
  liveCounter(t.backend).n--;
  for (const s of scopes) s.delete(t);
}

// Buffers shared by several tensors (views); a buffer is released when its last tensor is disposed.
const sharedHandles = new Map<unknown, number>();

function retainHandle(handle: unknown): unknown {
  sharedHandles.set(handle, (sharedHandles.get(handle) ?? 1) + 1);
  return handle;
}

/** @internal Drops one reference to a handle; true when the buffer itself should be released. */
export function releaseHandle(handle: unknown): boolean {
  const n = sharedHandles.get(handle);
  if (n === undefined) return true;
  if (n <= 2) sharedHandles.delete(handle);
  else sharedHandles.set(handle, n - 1);
  return false;
}

/** Number of tensors alive on `backend` (for backends' stats). */
export function liveTensorCount(backend: Backend): number {
  return liveByBackend.get(backend)?.n ?? 0;
}

/** Values a scope may return; tensors found in it are kept, everything else created inside is freed. */
export type TensorContainer =
  | Tensor
  | undefined
  | null
  | string
  | number
  | boolean
  | readonly TensorContainer[]
  | { readonly [key: string]: TensorContainer };

function collect(value: unknown, into: Set<Tensor>): void {
  if (value instanceof Tensor) into.add(value);
  else if (Array.isArray(value)) for (const v of value) collect(v, into);
  else if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, into);
  }
}

const isPlain = (v: object): boolean => Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype;

/**
 * The first container that is not an array or a plain object (a Map, a Set, a class instance) found
 * in `value` holding a tensor of `doomed` (directly or nested), or undefined.
 */
function hiddenHolder(value: unknown, doomed: Set<Tensor>, seen = new Set<object>()): object | undefined {
  if (!value || typeof value !== 'object' || seen.has(value) || ArrayBuffer.isView(value)) return undefined;
  if (
    value instanceof Tensor ||
    value instanceof Promise ||
    value instanceof WeakMap ||
    value instanceof WeakSet
  )
    return undefined;
  seen.add(value);
  if (!isPlain(value)) {
    // A container tidy does not look into: its own entries only (a model or a tokenizer can hold
    // large object graphs, which are not walked).
    const entries =
      value instanceof Map
        ? [...value.keys(), ...value.values()]
        : value instanceof Set
          ? [...value]
          : Object.values(value);
    return entries.some((v) => v instanceof Tensor && doomed.has(v)) ? value : undefined;
  }
  // Arrays and plain objects, which tidy keeps tensors from: look through them.
  for (const v of Object.values(value)) {
    const found = hiddenHolder(v, doomed, seen);
    if (found) return found;
  }
  return undefined;
}

function closeScope(scope: Scope, result: unknown, op = 'tidy'): void {
  scopes.pop();
  const keep = new Set<Tensor>();
  collect(result, keep);
  const parent = scopes[scopes.length - 1];
  const doomed = new Set<Tensor>();
  for (const t of scope) {
    if (keep.has(t)) continue;
    if (tapes.length > 0 && heldByTape(t)) parent?.add(t);
    else doomed.add(t);
  }
  // Tensors the result holds where tidy does not look would be freed under the caller's feet.
  const holder =
    doomed.size > 0 && result && typeof result === 'object' ? hiddenHolder(result, doomed) : undefined;
  for (const t of doomed) t.dispose();
  // The call throws below: what it would have returned from this scope is freed too.
  if (holder) for (const t of keep) if (scope.has(t)) t.dispose();
  if (parent && !holder) for (const t of keep) if (!t.isDisposed) parent.add(t);
  if (holder) {
    const name = holder.constructor?.name ?? 'object';
    throw new TypeError(
      `${op}(): the result holds tensors made inside the scope in ${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}, ` +
        `which ${op} does not look into (it keeps tensors returned directly or in arrays and plain objects), ` +
        'so they were disposed; return them in an array or a plain object, or keep() them',
    );
  }
}

function checkFn(fn: unknown, op: string): void {
  if (typeof fn !== 'function') {
    const what =
      fn === null
        ? 'null'
        : typeof fn === 'object'
          ? (fn.constructor?.name ?? 'an object')
          : `${String(fn)} (${typeof fn})`;
    throw new TypeError(`${op}(): expects a function to run, got ${what}`);
  }
}

/**
 * Runs `fn` and disposes every tensor created inside it except those it returns (in arrays and
 * plain objects too), like tfjs `tidy`. Tensors created inside a tape are kept until the tape ends.
 * A result that holds such tensors in a Map, a Set or a class instance throws a TypeError (after
 * disposing them): tidy does not look into those.
 *
 * @example
 * ```ts
 * const y = tidy(() => relu(add(matmul(x, w), b))); // the matmul and add results are freed
 * ```
 */
export function tidy<T extends TensorContainer>(fn: () => T): T {
  checkFn(fn, 'tidy');
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(scope, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    closeScope(scope, undefined);
    throw new TypeError('tidy(): the function must be synchronous; use tidyAsync() for async work');
  }
  closeScope(scope, result);
  return result;
}

/**
 * Like {@link tidy} for an async function. Tensors made by other work that runs concurrently are
 * attributed to this scope too, so do not interleave two scopes.
 *
 * @example
 * ```ts
 * const logits = await tidyAsync(async () => forward(params, await loadInput()));
 * ```
 */
export async function tidyAsync<T extends TensorContainer>(fn: () => Promise<T>): Promise<T> {
  checkFn(fn, 'tidyAsync');
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T | undefined;
  try {
    result = await fn();
    return result;
  } finally {
    // Other scopes may have opened while this one awaited: move it to the top before closing.
    const i = scopes.indexOf(scope);
    if (i >= 0 && i !== scopes.length - 1) {
      scopes.splice(i, 1);
      scopes.push(scope);
    }
    closeScope(scope, result, 'tidyAsync');
  }
}

/**
 * Keeps `t` alive past the end of the enclosing scopes (for state such as parameters or caches).
 *
 * @example
 * ```ts
 * const cache = tidy(() => keep(zeros([2, 64], { backend })));
 * ```
 */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** @internal Starts recording ops for backpropagation. */
export function pushTape(): TapeNode[] {
  const tape: TapeNode[] = [];
  tapes.push(tape);
  tapeTensors.set(tape, new Set());
  return tape;
}

/** @internal Stops recording; the tape's tensors are freed by the scopes they ended up in. */
export function popTape(tape: TapeNode[]): void {
  const i = tapes.lastIndexOf(tape);
  if (i >= 0) tapes.splice(i, 1);
  tapeTensors.delete(tape);
}

function checkInputs(kernel: Kernel, inputs: readonly Tensor[]): Backend {
  if (!Array.isArray(inputs) || inputs.length === 0) throw new Error(`${kernel.name}: no input tensors`);
  // Every input a Tensor before any is read; then each live. The condition first: the argument's
  // name is built only for the error, as this runs for every op.
  for (let i = 0; i < inputs.length; i++) {
    if (!(inputs[i] instanceof Tensor)) checkTensor(inputs[i], kernel.name, `input ${i}`);
  }
  const backend = inputs[0]!.backend;
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i]!;
    if (t.isDisposed) checkTensor(t, kernel.name, `input ${i}`);
    if (isQuantized(t.dtype) && !kernel.acceptsQuantized) {
      throw new TypeError(
        `${kernel.name}: input ${i} (tensor #${t.id} ${t.describe()}) is a block-quantized weight, which only ` +
          'matmul/linear (with transposeB) and dequantize() read; dequantize it first',
      );
    }
    if (t.backend !== backend) {
      throw new Error(
        `${kernel.name}: input ${i} is on a ${t.backend.kind} backend but input 0 is on another (${backend.kind}) backend; ` +
          'move tensors with toBackend() first',
      );
    }
  }
  if (backend.disposed) throw new Error(`${kernel.name}: ${backendGone(backend)}`);
  return backend;
}

/**
 * Whether autograd tracks `t` when a tracked input made it: floats, and quantized weights (so that
 * matmul can name a gradient that would flow into one). Integer and bool results (argmax,
 * comparisons, topk indices) are constants, as in PyTorch, so ops that read them need no rule.
 */
function carriesGradient(t: Tensor): boolean {
  return isFloat(t.dtype) || isQuantized(t.dtype);
}

/**
 * Runs a kernel on its inputs' backend and returns the output tensors. Ops are thin wrappers
 * around this.
 *
 * @example
 * ```ts
 * const [y] = runKernel(myKernel, [x], { alpha: 2 });
 * ```
 */
export function runKernel<A>(kernel: Kernel<A>, inputs: readonly Tensor[], attrs: A): Tensor[] {
  // Its name starts every other message, so a kernel that is not one is named here.
  const k = kernel as Partial<Kernel<A>> | null;
  if (typeof k?.name !== 'string' || typeof k.infer !== 'function') {
    throw new TypeError(
      `runKernel: kernel must be a Kernel ({ name, infer, cpu, ... }), got ${describeValue(kernel)}`,
    );
  }
  const backend = checkInputs(kernel as Kernel, inputs);
  const infos: TensorInfo[] = kernel.infer(inputs, attrs);
  let outputs: Tensor[];
  if (kernel.aliasInput !== undefined) {
    const source = inputs[kernel.aliasInput]!;
    outputs = [new Tensor(backend, retainHandle(source.handle), infos[0]!.shape, infos[0]!.dtype)];
  } else {
    const handles = backend.execute(kernel as Kernel, inputs, infos, attrs);
    outputs = new Array(infos.length);
    for (let i = 0; i < infos.length; i++) {
      outputs[i] = new Tensor(backend, handles[i], infos[i]!.shape, infos[i]!.dtype);
    }
  }
  const tape = tapes[tapes.length - 1];
  if (tape && inputs.some((t) => t.tracked) && outputs.some(carriesGradient)) {
    for (const o of outputs) o.tracked = carriesGradient(o);
    tape.push({ kernel: kernel as Kernel, inputs, outputs, attrs });
    const held = tapeTensors.get(tape);
    for (const t of inputs) held?.add(t);
    for (const t of outputs) held?.add(t);
  }
  return outputs;
}

/** Runs a single-output kernel. */
export function run1<A>(kernel: Kernel<A>, inputs: readonly Tensor[], attrs: A): Tensor {
  return runKernel(kernel, inputs, attrs)[0]!;
}

/** Throws unless two infos have the same shape (naming both shapes). */
export function assertSameShape(a: TensorInfo, b: TensorInfo, op: string, names = ['a', 'b']): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new RangeError(
      `${op}: ${names[0]} has shape ${formatShape(a.shape)} but ${names[1]} has shape ${formatShape(b.shape)}`,
    );
  }
}
