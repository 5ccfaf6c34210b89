// Brute-force cosine search over L2-normalized vectors kept in one contiguous Float32Array: at
// 100,000 x 512 a query is ~51 M multiply-adds (tens of ms in JS), with no approximation error.
// Saved as a safetensors file (the vectors, and the items' JSON in a tensor of their own), so an
// index of a photo library is built once, not on every start.
import { SafetensorsError, decodeSafetensorsTensor, encodeSafetensors, parseSafetensors } from '@vl/tensor';

const FORMAT = 'vl-embedding-index';

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
  /** What {@link EmbeddingIndex.save} was given to keep beside the vectors (empty for a new index). */
  metadata: Readonly<Record<string, string>> = {};

  constructor(
    readonly dim: number,
    initialCapacity = 1024,
  ) {
    if (!Number.isInteger(dim) || dim <= 0)
      throw new RangeError(`EmbeddingIndex: dim must be a positive integer, got ${dim}`);
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
    if (items && items.length !== vectors.length) {
      throw new RangeError(`EmbeddingIndex.add: ${vectors.length} vectors but ${items.length} items`);
    }
    // Checked and normalized first, so that a bad vector leaves the index as it was.
    const rows = new Float32Array(vectors.length * this.dim);
    vectors.forEach((v, i) => {
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
    });
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
   * JSON values (strings, numbers, booleans, null, and arrays and plain objects of them). `metadata`
   * (default: the index's own) is kept beside them, such as the model the vectors came from.
   *
   * @example
   * ```ts
   * await writeFile('photos.index.safetensors', index.save());
   * ```
   */
  save(metadata: Readonly<Record<string, string>> = this.metadata): Uint8Array {
    for (const key of ['format', 'itemsBytes'])
      if (Object.hasOwn(metadata, key))
        throw new RangeError(`EmbeddingIndex.save: metadata key "${key}" is reserved`);
    // Each item serialized once: checked here, and joined into the array below.
    const itemJson = this.#items.map((item, i) => {
      let json: string | undefined;
      try {
        json = JSON.stringify(item);
      } catch (e) {
        throw new TypeError(`EmbeddingIndex.save: item ${i} is not JSON: ${(e as Error).message}`, {
          cause: e,
        });
      }
      if (json === undefined)
        throw new TypeError(`EmbeddingIndex.save: item ${i} (${typeof item}) is not JSON`);
      return json;
    });
    const vectors = this.#data.subarray(0, this.size * this.dim);
    // The items' JSON as UTF-8 in a tensor of its own (a header is limited to 100 MB; a photo
    // library's paths can exceed that), padded to whole u32 words.
    const json = new TextEncoder().encode(`[${itemJson.join(',')}]`);
    const words = new Uint32Array(Math.ceil(json.length / 4));
    new Uint8Array(words.buffer).set(json);
    return encodeSafetensors(
      {
        vectors: { dtype: 'f32', shape: [this.size, this.dim], data: vectors },
        items: { dtype: 'u32', shape: [words.length], data: words },
      },
      { ...metadata, format: FORMAT, itemsBytes: String(json.length) },
    );
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
    const nonFinite = vectors.findIndex((v) => !Number.isFinite(v));
    if (nonFinite >= 0) throw bad(`vector ${Math.floor(nonFinite / dim)} holds ${vectors[nonFinite]}`);
    const index = new EmbeddingIndex<M>(dim, n);
    index.#data.set(vectors);
    index.#items = items as M[];
    const { format: _, itemsBytes: __, ...rest } = file.metadata;
    index.metadata = rest;
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
    if (!Number.isInteger(index) || index < 0 || index >= this.size)
      throw new RangeError(`EmbeddingIndex.entry: index ${index} is not in [0, ${this.size})`);
    return { vector: this.#data.slice(index * this.dim, (index + 1) * this.dim), item: this.#items[index]! };
  }

  /** The `k` stored vectors most similar to `query` (cosine), best first. */
  search(query: ArrayLike<number>, k = 10): SearchHit<M>[] {
    if (query.length !== this.dim) {
      throw new RangeError(
        `EmbeddingIndex.search: the query has length ${query.length}, the index holds ${this.dim}`,
      );
    }
    if (!Number.isInteger(k) || k < 0)
      throw new RangeError(`EmbeddingIndex.search: k must be a non-negative integer, got ${k}`);
    const q = Float32Array.from(query);
    const norm = finiteNorm(q, this.dim);
    if (!(norm > 0 && Number.isFinite(norm))) {
      throw new RangeError(
        `EmbeddingIndex.search: the query has norm ${norm} (it must be finite and nonzero)`,
      );
    }
    const n = this.size;
    const kk = Math.min(k, n);
    // A min-heap of the best kk scores so far.
    const heapScore = new Float32Array(kk);
    const heapIndex = new Int32Array(kk);
    let filled = 0;
    const data = this.#data;
    const dim = this.dim;
    for (let i = 0; i < n; i++) {
      const base = i * dim;
      let s = 0;
      for (let j = 0; j < dim; j++) s += data[base + j]! * q[j]!;
      s /= norm;
      if (filled < kk) {
        let c = filled++;
        while (c > 0) {
          const p = (c - 1) >> 1;
          if (heapScore[p]! <= s) break;
          heapScore[c] = heapScore[p]!;
          heapIndex[c] = heapIndex[p]!;
          c = p;
        }
        heapScore[c] = s;
        heapIndex[c] = i;
      } else if (kk > 0 && s > heapScore[0]!) {
        let c = 0;
        for (;;) {
          const l = 2 * c + 1;
          if (l >= kk) break;
          const r = l + 1;
          const m = r < kk && heapScore[r]! < heapScore[l]! ? r : l;
          if (heapScore[m]! >= s) break;
          heapScore[c] = heapScore[m]!;
          heapIndex[c] = heapIndex[m]!;
          c = m;
        }
        heapScore[c] = s;
        heapIndex[c] = i;
      }
    }
    const hits: SearchHit<M>[] = [];
    for (let i = 0; i < filled; i++) {
      hits.push({ index: heapIndex[i]!, score: heapScore[i]!, item: this.#items[heapIndex[i]!]! });
    }
    return hits.sort((a, b) => b.score - a.score || a.index - b.index);
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
