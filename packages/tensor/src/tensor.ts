import { type Backend, backendGone } from './backend.js';
import type { DType, DTypeArrays, TypedArray } from './dtype.js';
import { onTensorCreated, onTensorDisposed, releaseHandle } from './engine.js';
import { formatShape, type Shape, sizeOf } from './shape.js';

let nextId = 1;

/**
 * An n-dimensional array on a backend. Tensors are immutable; ops are exported functions that take
 * tensors and return new ones. Free a tensor with {@link Tensor.dispose}, or create it inside
 * {@link tidy} to have it freed for you.
 *
 * @example
 * ```ts
 * const x = tensor([1, 2, 3, 4], [2, 2], { backend });
 * const values = await x.read(); // Float32Array [1, 2, 3, 4]
 * x.dispose();
 * ```
 */
export class Tensor<D extends DType = DType> {
  readonly id: number;
  readonly shape: Shape;
  readonly dtype: D;
  readonly backend: Backend;
  readonly size: number;
  #handle: unknown;
  #disposed = false;
  /** @internal Set by autograd on tensors whose gradient is being traced. */
  tracked = false;

  /** @internal Tensors are made by {@link tensor} and by ops, not with `new`. */
  constructor(backend: Backend, handle: unknown, shape: Shape, dtype: D) {
    this.id = nextId++;
    this.backend = backend;
    this.#handle = handle;
    // Shapes are frozen, so an op passing its input's shape through (unary ops, views) shares it.
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    onTensorCreated(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** @internal The backend's buffer; throws when the tensor was disposed. */
  get handle(): unknown {
    if (this.#disposed) throw new Error(`tensor #${this.id} ${this.describe()} was used after dispose()`);
    if (this.backend.disposed)
      throw new Error(`tensor #${this.id} ${this.describe()}: ${backendGone(this.backend)}`);
    return this.#handle;
  }

  /** Copies the values to the host: one readback, after the queued work that produces them. */
  async read(): Promise<DTypeArrays[D]> {
    const handle = this.handle;
    return (await this.backend.download(handle, this)) as DTypeArrays[D];
  }

  /** Reads a single-element tensor as a number. */
  async item(): Promise<number> {
    if (this.size !== 1)
      throw new RangeError(`item(): tensor ${this.describe()} has ${this.size} elements, not 1`);
    return (await this.read())[0]!;
  }

  /** Frees the tensor's buffer. Safe to call twice. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (releaseHandle(this.#handle) && !this.backend.disposed) this.backend.release(this.#handle, this);
    this.#handle = undefined;
    onTensorDisposed(this);
  }

  /** e.g. `f32[2, 3]` */
  describe(): string {
    return `${this.dtype}${formatShape(this.shape)}`;
  }

  toString(): string {
    return `Tensor#${this.id}(${this.describe()} on ${this.backend.kind})`;
  }
}

/** Anything a host array can be made from. */
export type TensorData = TypedArray | readonly number[] | readonly boolean[];
