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
