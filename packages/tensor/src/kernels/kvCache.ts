// A preallocated key/value cache for autoregressive decoding: per layer, K and V tensors
// [B, Hkv, maxLength, D] that new positions are written into IN PLACE, and the number of valid
// positions. Attention reads the valid prefix with `kvLength`, so nothing is sliced or copied.
//
// The cache tensors are the one mutable exception to "tensors are immutable": appendKv's kernel takes
// the cache tensor as an input and writes into its buffer (the CPU backend's host array, the WebGPU
// buffer through a dispatch queued in order with the other work). A view (reshape) of a cache tensor
// sees the writes too. tfjs tensors cannot be written, so there the layer's tensors are replaced by
// updated copies (and the previous ones disposed): use the tensors appendKv returns within the step.
import type { Backend } from '../backend.js';
import { checkTensor } from '../checkTensor.js';
import { zeros } from '../create.js';
import { describeValue } from '../describeValue.js';
import type { DType } from '../dtype.js';
import { keep, run1, runKernel } from '../engine.js';
import { showValue } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { kvCacheUpdateKernel, kvCacheWriteKernel } from './attention/kvCacheWrite.js';
import { checkOptionKeys } from './options.js';

/**
 * Options of {@link createKvCache}.
 *
 * @example
 * ```ts
 * const options: KvCacheOptions = { backend, layers: 22, batch: 1, kvHeads: 4, maxLength: 2048, headDim: 64 };
 * ```
 */
export interface KvCacheOptions {
  backend: Backend;
  layers: number;
  batch: number;
  kvHeads: number;
  /** Positions each layer can hold. */
  maxLength: number;
  headDim: number;
  /** Only f32 for now (the attention kernels read f32). */
  dtype?: DType;
}

/** What {@link appendKv} returns: the layer's cache tensors and how many positions are now valid. */
export interface KvAppendResult {
  /** `[B, Hkv, maxLength, D]`; pass to `attention` with `kvLength`. */
  readonly k: Tensor;
  readonly v: Tensor;
  /** `cache.length` plus the positions just appended. */
  readonly kvLength: number;
}

/**
 * Per-layer preallocated K and V tensors `[B, Hkv, maxLength, D]` and the number of valid
 * positions. Made by {@link createKvCache}; written by {@link appendKv}; `advance()` once per step.
 *
 * @example
 * ```ts
 * const cache = createKvCache({ backend, layers: 2, batch: 1, kvHeads: 4, maxLength: 256, headDim: 64 });
 * const { k, v, kvLength } = appendKv(cache, 0, kNew, vNew); // per layer
 * cache.advance(); // after every layer appended
 * ```
 */
export class KvCache {
  readonly backend: Backend;
  readonly layers: number;
  readonly batch: number;
  readonly kvHeads: number;
  readonly maxLength: number;
  readonly headDim: number;
  readonly dtype: DType;
  readonly #k: Tensor[];
  readonly #v: Tensor[];
  #length = 0;
  #pending: (number | undefined)[];
  #disposed = false;

  /** @internal Use {@link createKvCache}. */
  constructor(options: Required<KvCacheOptions>) {
    checkKvCacheOptions(options, 'KvCache (make one with createKvCache)');
    ({
      backend: this.backend,
      layers: this.layers,
      batch: this.batch,
      kvHeads: this.kvHeads,
      maxLength: this.maxLength,
      headDim: this.headDim,
      dtype: this.dtype,
    } = options);
    const shape = [this.batch, this.kvHeads, this.maxLength, this.headDim];
    const make = () => keep(zeros(shape, { backend: this.backend, dtype: this.dtype }));
    this.#k = Array.from({ length: this.layers }, make);
    this.#v = Array.from({ length: this.layers }, make);
    this.#pending = new Array<number | undefined>(this.layers).fill(undefined);
  }

  /** Per-layer key tensors `[B, Hkv, maxLength, D]`. */
  get k(): readonly Tensor[] {
    return this.#k;
  }

  /** Per-layer value tensors `[B, Hkv, maxLength, Dv]`. */
  get v(): readonly Tensor[] {
    return this.#v;
  }

  /** Positions written by completed steps (what the next {@link appendKv} writes after). */
  get length(): number {
    return this.#length;
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }

  /**
   * Ends a step: every layer must have appended the same number of positions, which `length` then
   * grows by. Returns the new length.
   */
  advance(): number {
    this.#check('advance()');
    const counts = new Set(this.#pending);
    if (counts.size !== 1 || this.#pending[0] === undefined) {
      const list = this.#pending.map((n, i) => `layer ${i}: ${n ?? 'none'}`).join(', ');
      throw new Error(
        `KvCache.advance(): every layer must append the same number of positions first (${list})`,
      );
    }
    this.#length += this.#pending[0];
    this.#pending.fill(undefined);
    return this.#length;
  }

  /** Drops positions from `length` on (e.g. rejected speculative tokens) and any pending appends. */
  truncate(length: number): void {
    this.#check('truncate()');
    if (!Number.isInteger(length) || length < 0 || length > this.#length) {
      throw new RangeError(
        `KvCache.truncate(): length ${showValue(length)} must be an integer in [0, ${this.#length}]`,
      );
    }
    this.#length = length;
    this.#pending.fill(undefined);
  }

  /** Starts over at length 0 (stale contents are never read: attention stops at kvLength). */
  reset(): void {
    this.truncate(0);
  }

  /** Frees every layer's tensors. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of [...this.#k, ...this.#v]) t.dispose();
  }

  /** @internal */
  append(layer: number, k: Tensor, v: Tensor): KvAppendResult {
    this.#check('appendKv()');
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.layers) {
      throw new RangeError(
        `appendKv: layer ${showValue(layer)} is out of range (the cache has ${this.layers} layers)`,
      );
    }
    checkTensor(k, 'appendKv', 'k');
    checkTensor(v, 'appendKv', 'v');
    const expected = `[${this.batch}, ${this.kvHeads}, T, ${this.headDim}] ${this.dtype}`;
    for (const [name, t] of [
      ['k', k],
      ['v', v],
    ] as const) {
      const [b, h, , d] = t.shape;
      if (
        t.rank !== 4 ||
        b !== this.batch ||
        h !== this.kvHeads ||
        d !== this.headDim ||
        t.dtype !== this.dtype
      ) {
        throw new RangeError(
          `appendKv: ${name} ${t.describe()} does not fit the cache (expected ${expected})`,
        );
      }
      if (t.backend !== this.backend)
        throw new Error(`appendKv: ${name} is on a ${t.backend.kind} backend, not the cache's`);
    }
    const count = k.shape[2]!;
    if (v.shape[2] !== count)
      throw new RangeError(`appendKv: k ${k.describe()} and v ${v.describe()} differ in T`);
    const done = this.#pending[layer];
    if (done !== undefined) {
      throw new Error(
        `appendKv: layer ${layer} already appended ${done} positions this step; call cache.advance() first`,
      );
    }
    if (this.#length + count > this.maxLength) {
      throw new RangeError(
        `appendKv: layer ${layer}: appending ${count} positions at length ${this.#length} exceeds maxLength ${this.maxLength}`,
      );
    }
    const attrs = { offset: this.#length };
    if (this.backend.kind === 'tfjs') {
      for (const [list, rows] of [
        [this.#k, k],
        [this.#v, v],
      ] as const) {
        const old = list[layer]!;
        list[layer] = keep(run1(kvCacheUpdateKernel, [old, rows], attrs));
        old.dispose();
      }
    } else {
      runKernel(kvCacheWriteKernel, [this.#k[layer]!, k], attrs);
      runKernel(kvCacheWriteKernel, [this.#v[layer]!, v], attrs);
    }
    this.#pending[layer] = count;
    return { k: this.#k[layer]!, v: this.#v[layer]!, kvLength: this.#length + count };
  }

  #check(what: string): void {
    if (this.#disposed) throw new Error(`KvCache.${what}: the cache was disposed`);
  }
}

/**
 * Creates a KV cache: per layer, K and V tensors `[B, Hkv, maxLength, D]` allocated once (kept out
 * of `tidy` scopes) and a length of 0.
 *
 * @example
 * ```ts
 * const cache = createKvCache({ backend, layers: 12, batch: 1, kvHeads: 12, maxLength: 77, headDim: 64 });
 * ```
 */
export function createKvCache(options: KvCacheOptions): KvCache {
  checkOptionKeys('createKvCache', options, [
    'backend',
    'layers',
    'batch',
    'kvHeads',
    'maxLength',
    'headDim',
    'dtype',
  ]);
  const { backend, layers, batch, kvHeads, maxLength, headDim, dtype = 'f32' } = options;
  const checked = { backend, layers, batch, kvHeads, maxLength, headDim, dtype };
  checkKvCacheOptions(checked, 'createKvCache');
  return new KvCache(checked);
}

/** Throws, naming `op`, unless `options` describe a cache that can be made. */
function checkKvCacheOptions(options: Required<KvCacheOptions>, op: string): void {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`${op}: options must be an object, got ${showValue(options)}`);
  const { backend, layers, batch, kvHeads, maxLength, headDim, dtype } = options;
  if (!backend || typeof backend.upload !== 'function')
    throw new TypeError(`${op}: options.backend is required`);
  for (const [name, value] of Object.entries({ layers, batch, kvHeads, maxLength, headDim })) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`${op}: ${name} must be a positive integer, got ${showValue(value)}`);
  }
  if (dtype !== 'f32')
    throw new TypeError(`${op}: dtype ${dtype} is not supported (attention reads f32 caches)`);
}

/**
 * Writes new keys and values `[B, Hkv, T, D]` of one layer into the cache at position
 * `cache.length`, in place (no copy of the cache; on tfjs the layer's tensors are replaced). Call
 * `cache.advance()` once all layers have appended. Throws when the cache would overflow.
 *
 * @example
 * ```ts
 * const { k, v, kvLength } = appendKv(cache, layer, rope(kNew, { offset: cache.length }), vNew);
 * const y = attention(rope(q, { offset: cache.length }), k, v, { causal: true, kvLength });
 * ```
 */
export function appendKv(cache: KvCache, layer: number, k: Tensor, v: Tensor): KvAppendResult {
  if (!(cache instanceof KvCache))
    throw new TypeError(
      `appendKv: cache is not a KvCache (got ${describeValue(cache)}); make one with createKvCache`,
    );
  return cache.append(layer, k, v);
}
