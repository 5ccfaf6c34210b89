// Brute-force cosine search over L2-normalized vectors kept in one contiguous Float32Array: at
// 100,000 x 512 a query is ~51 M multiply-adds (tens of ms in JS), with no approximation error.

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

  /** Adds vectors (each of length `dim`) with their items (default: their insertion index). */
  add(vectors: readonly ArrayLike<number>[], items?: readonly M[]): void {
    if (items && items.length !== vectors.length) {
      throw new RangeError(`EmbeddingIndex.add: ${vectors.length} vectors but ${items.length} items`);
    }
    const needed = (this.size + vectors.length) * this.dim;
    if (needed > this.#data.length) {
      const grown = new Float32Array(Math.max(needed, this.#data.length * 2));
      grown.set(this.#data.subarray(0, this.size * this.dim));
      this.#data = grown;
    }
    vectors.forEach((v, i) => {
      if (v.length !== this.dim) {
        throw new RangeError(
          `EmbeddingIndex.add: vector ${i} has length ${v.length}, the index holds ${this.dim}`,
        );
      }
      let sq = 0;
      for (let j = 0; j < this.dim; j++) sq += v[j]! * v[j]!;
      const norm = Math.sqrt(sq);
      if (!(norm > 0) || !Number.isFinite(norm))
        throw new RangeError(`EmbeddingIndex.add: vector ${i} has norm ${norm}`);
      const offset = this.size * this.dim;
      for (let j = 0; j < this.dim; j++) this.#data[offset + j] = v[j]! / norm;
      this.#items.push(items ? items[i]! : (this.size as unknown as M));
    });
  }

  /** The `k` stored vectors most similar to `query` (cosine), best first. */
  search(query: ArrayLike<number>, k = 10): SearchHit<M>[] {
    if (query.length !== this.dim) {
      throw new RangeError(
        `EmbeddingIndex.search: the query has length ${query.length}, the index holds ${this.dim}`,
      );
    }
    const q = Float32Array.from(query);
    let norm = 0;
    for (const x of q) norm += x * x;
    norm = Math.sqrt(norm);
    if (!(norm > 0)) throw new RangeError('EmbeddingIndex.search: the query has zero norm');
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
