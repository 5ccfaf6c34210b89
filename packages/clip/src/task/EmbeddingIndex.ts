// Brute-force cosine search over L2-normalized vectors kept in one contiguous Float32Array: at
// 100,000 x 512 a query is ~51 M multiply-adds (tens of ms in JS), with no approximation error.
// Saved as a safetensors file (the vectors, and the items' JSON in a tensor of their own), so an
// index of a photo library is built once, not on every start.
import { isPlainObject } from '../checkArguments.js';
import { describeInput } from './describeInput.js';
import { SafetensorsError, decodeSafetensorsTensor, encodeSafetensors, parseSafetensors } from '@vl/tensor';

const FORMAT = 'vl-embedding-index';
/** How far a loaded row's L2 norm may be from 1 before load renormalizes it (float32 rounding is ~1e-7). */
const UNIT_TOLERANCE = 1e-3;

/** One search hit. */
export interface SearchHit<M> {
  /** Position of the vector in insertion order. */
  index: number;
  /** Cosine similarity with the query. */
  score: number;
  /** What was stored with the vector. */
  item: M;
}

/**
 * A growable index of L2-normalized embeddings with top-k cosine search, for text-to-image and
 * image-to-image search. Vectors are normalized on insert, so any embedding may be added.
 *
 * @example
 * ```ts
 * const index = new EmbeddingIndex<string>(512);
 * index.add(await model.embedImages(images), paths);
 * const [best] = index.search((await model.embedTexts(['a dog on a beach']))[0]!, 5);
 * console.log(best?.item, best?.score);
 * ```
 */
export class EmbeddingIndex<M = number> {
  #data: Float32Array;
  #items: M[] = [];
  /**
   * The metadata kept beside the vectors: what {@link EmbeddingIndex.save} was last given (a frozen
   * copy), or what {@link EmbeddingIndex.load} read; empty for a new index. `save()` without
   * arguments writes it again.
   */
  metadata: Readonly<Record<string, string>> = {};

  constructor(
    readonly dim: number,
    initialCapacity = 1024,
  ) {
    if (!Number.isInteger(dim) || dim <= 0)
      throw new RangeError(`EmbeddingIndex: dim must be a positive integer, got ${dim}`);
    // Infinity failed in Float32Array's own words; a string or NaN quietly made an empty index.
    if (typeof initialCapacity !== 'number' || !(initialCapacity >= 0 && initialCapacity < Infinity))
      throw new RangeError(
        `EmbeddingIndex: initialCapacity must be a number of vectors >= 0, got ${describeInput(initialCapacity)}`,
      );
    this.#data = new Float32Array(dim * Math.max(1, initialCapacity));
  }

  /** Number of vectors stored. */
  get size(): number {
    return this.#items.length;
  }

  /**
   * Adds vectors (each of length `dim`) with their items (default: their insertion index). All or
   * nothing: a vector of the wrong length or without a finite, nonzero norm adds none of them.
   */
  add(vectors: readonly ArrayLike<number>[], items?: readonly M[]): void {
    if (!Array.isArray(vectors)) {
      throw new TypeError(
        `EmbeddingIndex.add: vectors must be an array of vectors (got ${describeInput(vectors)}); wrap one vector in [ ]`,
      );
    }
    if (items !== undefined && !Array.isArray(items))
      throw new TypeError(
        `EmbeddingIndex.add: items must be an array (one per vector), got ${describeInput(items)}`,
      );
    if (items && items.length !== vectors.length) {
      throw new RangeError(`EmbeddingIndex.add: ${vectors.length} vectors but ${items.length} items`);
    }
    // Checked and normalized first, so that a bad vector leaves the index as it was.
    const rows = new Float32Array(vectors.length * this.dim);
    // A for loop, not forEach: a hole in a sparse array is a missing vector (forEach skipped it,
    // and a zero row was added).
    for (let i = 0; i < vectors.length; i++) {
      const v = vectors[i]!;
      if (typeof (v as { length?: unknown } | null)?.length !== 'number') {
        throw new TypeError(
          `EmbeddingIndex.add: vector ${i} is ${describeInput(v)}, not an array of ${this.dim} numbers; wrap one vector in [ ]`,
        );
      }
      if (v.length !== this.dim) {
        throw new RangeError(
          `EmbeddingIndex.add: vector ${i} has length ${v.length}, the index holds ${this.dim}`,
        );
      }
      const norm = finiteNorm(v, this.dim);
      if (!(norm > 0 && Number.isFinite(norm)))
        throw new RangeError(
          `EmbeddingIndex.add: vector ${i} has norm ${norm} (it must be finite and nonzero)`,
        );
      for (let j = 0; j < this.dim; j++) rows[i * this.dim + j] = v[j]! / norm;
    }
    const needed = (this.size + vectors.length) * this.dim;
    if (needed > this.#data.length) {
      const grown = new Float32Array(Math.max(needed, this.#data.length * 2));
      grown.set(this.#data.subarray(0, this.size * this.dim));
      this.#data = grown;
    }
    this.#data.set(rows, this.size * this.dim);
    const first = this.size;
    for (let i = 0; i < vectors.length; i++)
      this.#items.push(items ? items[i]! : ((first + i) as unknown as M));
  }

  /**
   * The index as a safetensors file: the normalized vectors as `vectors` (F32 `[size, dim]`) and
   * the items' JSON as `items` (UTF-8 in U32 words), for {@link EmbeddingIndex.load}. Items must be
   * JSON values that read back equal (strings, finite numbers, booleans, null, and arrays and plain
   * objects of them); anything else (NaN, a Date, a Map, a class instance, undefined in an array) is
   * an error naming the item and the path inside it. `metadata` (default: the index's own) is kept
   * beside them, such as the model the vectors came from, and becomes the index's
   * {@link EmbeddingIndex.metadata}.
   *
   * @example
   * ```ts
   * await writeFile('photos.index.safetensors', index.save({ model: 'openai/clip-vit-base-patch32' }));
   * index.metadata.model; // 'openai/clip-vit-base-patch32', written again by a later save()
   * ```
   */
  save(metadata: Readonly<Record<string, string>> = this.metadata): Uint8Array {
    if (!isPlainObject(metadata)) {
      throw new TypeError(
        `EmbeddingIndex.save: metadata must be an object of strings (or left out), got ${describeInput(metadata)}`,
      );
    }
    for (const key of ['format', 'itemsBytes'])
      if (Object.hasOwn(metadata, key))
        throw new RangeError(`EmbeddingIndex.save: metadata key "${key}" is reserved`);
    for (const [key, value] of Object.entries(metadata))
      if (typeof value !== 'string')
        throw new TypeError(
          `EmbeddingIndex.save: metadata ${JSON.stringify(key)} must be a string, got ${describeInput(value)}`,
        );
    // Each item checked (JSON.stringify quietly turns NaN into null, a Date into a string, a Map into
    // {}), then serialized once and joined into the array below.
    const itemJson = this.#items.map((item, i) => {
      const problem = notJson(item, '', []);
      if (problem) {
        throw new TypeError(
          `EmbeddingIndex.save: item ${i}${problem.path ? `: ${problem.path}` : ''} (${problem.what}) is not JSON${problem.object ? '; use plain objects, arrays, strings and numbers' : ''}`,
        );
      }
      try {
        return JSON.stringify(item);
      } catch (e) {
        throw new TypeError(`EmbeddingIndex.save: item ${i} is not JSON: ${(e as Error).message}`, {
          cause: e,
        });
      }
    });
    const vectors = this.#data.subarray(0, this.size * this.dim);
    // The items' JSON as UTF-8 in a tensor of its own (a header is limited to 100 MB; a photo
    // library's paths can exceed that), padded to whole u32 words.
    const json = new TextEncoder().encode(`[${itemJson.join(',')}]`);
    const words = new Uint32Array(Math.ceil(json.length / 4));
    new Uint8Array(words.buffer).set(json);
    const bytes = encodeSafetensors(
      {
        vectors: { dtype: 'f32', shape: [this.size, this.dim], data: vectors },
        items: { dtype: 'u32', shape: [words.length], data: words },
      },
      { ...metadata, format: FORMAT, itemsBytes: String(json.length) },
    );
    // Only once written, and a copy, so that a later change to the caller's object does not reach
    // the index.
    if (metadata !== this.metadata) this.metadata = Object.freeze({ ...metadata });
    return bytes;
  }

  /**
   * An index from the bytes {@link EmbeddingIndex.save} wrote; a file that is not one is an error
   * that says what is wrong with it.
   *
   * @example
   * ```ts
   * const index = EmbeddingIndex.load<string>(await readFile('photos.index.safetensors'));
   * ```
   */
  static load<M = number>(bytes: ArrayBuffer | ArrayBufferView): EmbeddingIndex<M> {
    if (!(bytes instanceof ArrayBuffer || ArrayBuffer.isView(bytes)))
      throw new TypeError(
        `EmbeddingIndex.load: bytes must be the file's bytes (an ArrayBuffer or a Uint8Array), got ${describeInput(bytes)}`,
      );
    const bad = (why: string) => new SafetensorsError(`EmbeddingIndex.load: ${why}`);
    const file = parseSafetensors(bytes, { source: 'EmbeddingIndex.load' });
    if (file.metadata.format !== FORMAT)
      throw bad(
        `not an embedding index (metadata format ${JSON.stringify(file.metadata.format)}, expected "${FORMAT}")`,
      );
    const info = file.get('vectors');
    if (info?.dtype !== 'F32' || info.shape.length !== 2 || !(info.shape[1]! > 0))
      throw bad(
        `the file needs vectors F32 [size, dim] with dim > 0, got ${info ? `${info.dtype}[${info.shape.join(', ')}]` : 'none'}`,
      );
    const [n, dim] = info.shape as [number, number];
    const itemsInfo = file.get('items');
    const length = Number(file.metadata.itemsBytes);
    if (
      itemsInfo?.dtype !== 'U32' ||
      !Number.isSafeInteger(length) ||
      length < 0 ||
      length > itemsInfo.dataOffsets[1] - itemsInfo.dataOffsets[0]
    )
      throw bad(
        'the file needs its items as U32 words of UTF-8 JSON, and their byte count as metadata itemsBytes',
      );
    let items: unknown;
    try {
      const words = decodeSafetensorsTensor(file, itemsInfo).data as Uint32Array;
      items = JSON.parse(
        new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(words.buffer, 0, length)),
      );
    } catch {
      throw bad('its items are not UTF-8 JSON');
    }
    if (!Array.isArray(items) || items.length !== n)
      throw bad(
        `its items must be a JSON array of ${n} (one per vector), got ${Array.isArray(items) ? items.length : typeof items}`,
      );
    const vectors = decodeSafetensorsTensor(file, info).data as Float32Array;
    const index = new EmbeddingIndex<M>(dim, n);
    const data = index.#data; // [n, dim], row-major
    data.set(vectors);
    // search reads scores as cosines, so every row must be unit length. Another writer's rows are
    // renormalized; a saved unit row (its norm off 1 only by float32 rounding, ~1e-7) is left
    // bit for bit as it was, so save/load round trips are exact.
    for (let i = 0; i < n; i++) {
      const base = i * dim;
      let sq = 0;
      for (let j = 0; j < dim; j++) {
        const x = data[base + j]!;
        if (!Number.isFinite(x)) throw bad(`vector ${i} holds ${x}`);
        sq += x * x;
      }
      const norm = Math.sqrt(sq);
      if (!(norm > 0)) throw bad(`vector ${i} has norm 0 (stored vectors must be unit length)`);
      if (Math.abs(norm - 1) > UNIT_TOLERANCE)
        for (let j = 0; j < dim; j++) data[base + j] = data[base + j]! / norm;
    }
    index.#items = items as M[];
    const { format: _, itemsBytes: __, ...rest } = file.metadata;
    index.metadata = Object.freeze(rest);
    return index;
  }

  /**
   * A copy of stored vector `index` (normalized) and its item: to look an entry up, or to carry
   * vectors over into another index without embedding again.
   *
   * @example
   * ```ts
   * const { vector, item } = index.entry(0);
   * const similar = index.search(vector, 5); // the entries most like the first
   * ```
   */
  entry(index: number): { vector: Float32Array; item: M } {
    if (typeof index !== 'number')
      throw new TypeError(
        `EmbeddingIndex.entry: index must be a number in [0, ${this.size}), got ${describeInput(index)}`,
      );
    if (!Number.isInteger(index) || index < 0 || index >= this.size)
      throw new RangeError(`EmbeddingIndex.entry: index ${index} is not in [0, ${this.size})`);
    return { vector: this.#data.slice(index * this.dim, (index + 1) * this.dim), item: this.#items[index]! };
  }

  /**
   * The `k` stored vectors most similar to `query` (cosine), best first. Scores are compared at
   * double precision and rounded to float32 only when returned; of equal scores (duplicate
   * vectors) the lower index comes first, whatever the query.
   *
   * @example
   * ```ts
   * const hits = index.search(queryVector, 5); // [{ index, score, item }, ...], score descending
   * ```
   */
  search(query: ArrayLike<number>, k = 10): SearchHit<M>[] {
    if (typeof (query as { length?: unknown } | null)?.length !== 'number') {
      throw new TypeError(
        `EmbeddingIndex.search: query must be an array of ${this.dim} numbers, got ${describeInput(query)}`,
      );
    }
    if (query.length !== this.dim) {
      const nested = typeof (query[0] as unknown as { length?: unknown } | undefined)?.length === 'number';
      throw new RangeError(
        `EmbeddingIndex.search: the query has length ${query.length}, the index holds ${this.dim}${nested ? '; pass one vector, not an array of vectors' : ''}`,
      );
    }
    if (!Number.isInteger(k) || k < 0)
      throw new RangeError(`EmbeddingIndex.search: k must be a non-negative integer, got ${k}`);
    const q = Float32Array.from(query); // [dim]
    const norm = finiteNorm(q, this.dim);
    if (!(norm > 0 && Number.isFinite(norm))) {
      throw new RangeError(
        `EmbeddingIndex.search: the query has norm ${norm} (it must be finite and nonzero)`,
      );
    }
    const n = this.size;
    const kk = Math.min(k, n);
    // A min-heap of the best kk (score, index) pairs so far, the worst at the root: worse means a
    // lower score, or an equal score and a higher index. Scores stay in float64: rounded to
    // float32 here, near-duplicates tie and the heap keeps whichever came first, not the best.
    const heapScore = new Float64Array(kk); // [kk] cosines
    const heapIndex = new Int32Array(kk); // [kk] rows
    let filled = 0;
    const data = this.#data; // [size, dim], rows unit length
    const dim = this.dim;
    for (let i = 0; i < n; i++) {
      const s = dotRow(data, i * dim, q, dim) / norm;
      if (filled < kk) {
        // Sift up. Row i is the highest index so far, so it is worse than any equal score.
        let c = filled++;
        while (c > 0) {
          const p = (c - 1) >> 1;
          if (heapScore[p]! < s) break;
          heapScore[c] = heapScore[p]!;
          heapIndex[c] = heapIndex[p]!;
          c = p;
        }
        heapScore[c] = s;
        heapIndex[c] = i;
      } else if (kk > 0 && s > heapScore[0]!) {
        // Strictly better than the root: an equal score would be a later duplicate, which loses.
        let c = 0;
        for (;;) {
          const l = 2 * c + 1;
          if (l >= kk) break;
          const r = l + 1;
          const m =
            r < kk &&
            (heapScore[r]! < heapScore[l]! ||
              (heapScore[r] === heapScore[l] && heapIndex[r]! > heapIndex[l]!))
              ? r
              : l;
          if (heapScore[m]! >= s) break;
          heapScore[c] = heapScore[m]!;
          heapIndex[c] = heapIndex[m]!;
          c = m;
        }
        heapScore[c] = s;
        heapIndex[c] = i;
      }
    }
    const order = Array.from({ length: filled }, (_, i) => i);
    order.sort((a, b) => heapScore[b]! - heapScore[a]! || heapIndex[a]! - heapIndex[b]!);
    return order.map((h) => ({
      index: heapIndex[h]!,
      score: Math.fround(heapScore[h]!),
      item: this.#items[heapIndex[h]!]!,
    }));
  }
}

/** The L2 norm of the first `n` values, NaN when one of them is not finite. */
function finiteNorm(v: ArrayLike<number>, n: number): number {
  let sq = 0;
  for (let j = 0; j < n; j++) {
    const x = v[j]!;
    if (!Number.isFinite(x)) return Number.NaN;
    sq += x * x;
  }
  return Math.sqrt(sq);
}

/** Where and what the first value inside `value` is that JSON would not give back equal. */
interface NotJson {
  /** Path inside the item, such as `.tags[1]`; empty for the item itself. */
  path: string;
  /** What the value is, such as `NaN` or `Date`. */
  what: string;
  /** Whether it is an object that is not a plain object or an array. */
  object?: boolean;
}

/**
 * The first value inside `value` (depth first) that `JSON.parse(JSON.stringify(value))` would not
 * give back equal, or undefined when there is none. Undefined object properties pass: JSON leaves
 * them out and reading one back gives undefined again. `ancestors` holds the objects above, to
 * name a cycle.
 */
function notJson(value: unknown, path: string, ancestors: object[]): NotJson | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : { path, what: String(value) };
    case 'bigint':
      return { path, what: `bigint ${value}n` };
    case 'undefined':
    case 'function':
    case 'symbol':
      return { path, what: typeof value };
  }
  if (value === null) return undefined;
  const object = value as object;
  if (ancestors.includes(object)) return { path, what: 'a cycle back to an enclosing object' };
  if (Array.isArray(object)) {
    ancestors.push(object);
    for (let i = 0; i < object.length; i++) {
      const problem = notJson(object[i], `${path}[${i}]`, ancestors);
      if (problem) return problem;
    }
    ancestors.pop();
    return undefined;
  }
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    return {
      path,
      what: typeof name === 'string' && name ? name : 'an object with a prototype',
      object: true,
    };
  }
  ancestors.push(object);
  for (const [key, v] of Object.entries(object)) {
    if (v === undefined) continue;
    const problem = notJson(
      v,
      `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`,
      ancestors,
    );
    if (problem) return problem;
  }
  ancestors.pop();
  return undefined;
}

/**
 * The float64 dot product of row `data[base, base + dim)` with `q`, in four running sums: one sum's
 * chain of dependent additions made the search wait on the adder's latency (about 2x slower at 512
 * dimensions). Every row is summed in the same order, so equal rows still score exactly equal.
 */
function dotRow(data: Float32Array, base: number, q: Float32Array, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < dim; j += 4) {
    s0 += data[base + j]! * q[j]!;
    s1 += data[base + j + 1]! * q[j + 1]!;
    s2 += data[base + j + 2]! * q[j + 2]!;
    s3 += data[base + j + 3]! * q[j + 3]!;
  }
  for (; j < dim; j++) s0 += data[base + j]! * q[j]!;
  return s0 + s1 + (s2 + s3);
}
