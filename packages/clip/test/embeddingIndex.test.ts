// EmbeddingIndex: search ranks by exact (float64) scores with ties to the lower index; save refuses
// items JSON would not give back equal (NaN, Date, Map, undefined in an array), naming the item and
// the path in it; arguments of the wrong kind are named; load makes foreign rows unit length (and
// refuses zero rows) while a saved index round trips bit for bit; save(metadata) keeps the metadata.
import { encodeSafetensors } from '@vl/tensor';
import { describe, expect, test } from 'vitest';
import { EmbeddingIndex } from '../src/index.js';

/** An index file as another writer might make it: rows as given, not normalized. */
function foreignFile(rows: number[][], items: unknown[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(items));
  const words = new Uint32Array(Math.ceil(json.length / 4));
  new Uint8Array(words.buffer).set(json);
  return encodeSafetensors(
    {
      vectors: { dtype: 'f32', shape: [rows.length, rows[0]!.length], data: Float32Array.from(rows.flat()) },
      items: { dtype: 'u32', shape: [words.length], data: words },
    },
    { format: 'vl-embedding-index', itemsBytes: String(json.length) },
  );
}

describe('EmbeddingIndex.search ranks by exact score, ties to the lower index', () => {
  test('exact duplicates: the lowest indices win whatever the query and k', () => {
    const index = new EmbeddingIndex<string>(2);
    index.add(
      [
        [0, 1],
        [1, 0],
        [1, 0],
        [1, 0],
        [1, 0],
      ],
      ['b0', 'a1', 'a2', 'a3', 'a4'],
    );
    for (const query of [
      [1, 0],
      [1, 0.5],
      [0.3, 0.1],
    ]) {
      expect(index.search(query, 2).map((h) => h.index)).toEqual([1, 2]);
      expect(index.search(query, 3).map((h) => h.index)).toEqual([1, 2, 3]);
    }
    // [1, 1] scores every row the same (row 0 too): the first rows win.
    expect(index.search([1, 1], 3).map((h) => h.index)).toEqual([0, 1, 2]);
    expect(index.search([1, 1], 5).map((h) => h.index)).toEqual([0, 1, 2, 3, 4]);
  });

  test('near-duplicates: top-1 is the vector with the best score, and hits are sorted by it', () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32 - 0.5;
    };
    const dim = 8;
    for (let t = 0; t < 500; t++) {
      const base = Array.from({ length: dim }, rnd);
      const index = new EmbeddingIndex(dim);
      // The same photo re-encoded: rows that differ in their last bits.
      index.add(Array.from({ length: 6 }, () => base.map((x) => x + rnd() * 1e-6)));
      const q = Float32Array.from({ length: dim }, rnd);
      const qNorm = Math.hypot(...q);
      // [6] scores at double precision from the stored float32 rows.
      const exact = Array.from({ length: index.size }, (_, i) => {
        const v = index.entry(i).vector;
        return v.reduce((a, x, j) => a + x * q[j]!, 0) / qNorm;
      });
      const order = exact
        .map((s, i) => ({ s, i }))
        .sort((a, b) => b.s - a.s || a.i - b.i)
        .map((e) => e.i);
      const hits = index.search(q, 3);
      expect(hits.map((h) => h.index)).toEqual(order.slice(0, 3));
      expect(hits[0]!.score).toBe(Math.fround(exact[order[0]!]!));
    }
  });
});

describe('EmbeddingIndex.save refuses items JSON would not give back equal', () => {
  const cases: [string, unknown, string][] = [
    ['NaN inside', { path: 'a.jpg', tags: ['x', Number.NaN] }, 'item 1: .tags[1] (NaN) is not JSON'],
    ['Infinity', Number.POSITIVE_INFINITY, 'item 1 (Infinity) is not JSON'],
    ['a Date', { taken: new Date(0) }, 'item 1: .taken (Date) is not JSON; use plain objects'],
    ['a Map', new Map([[1, 2]]), 'item 1 (Map) is not JSON'],
    ['a Set', [new Set([1])], 'item 1: [0] (Set) is not JSON'],
    ['a typed array', { v: new Float32Array(2) }, 'item 1: .v (Float32Array) is not JSON'],
    ['a class instance', { p: new (class Photo {})() }, 'item 1: .p (Photo) is not JSON'],
    ['undefined in an array', [1, undefined], 'item 1: [1] (undefined) is not JSON'],
    ['a hole in an array', new Array(2), 'item 1: [0] (undefined) is not JSON'],
    ['a bigint', { n: 1n }, 'item 1: .n (bigint 1n) is not JSON'],
    ['a symbol', { 'odd key': Symbol('s') }, 'item 1: ["odd key"] (symbol) is not JSON'],
    ['a function inside', { f: () => 1 }, 'item 1: .f (function) is not JSON'],
  ];
  test.each(cases)('%s', (_, item, message) => {
    const index = new EmbeddingIndex<unknown>(2);
    index.add(
      [
        [1, 0],
        [0, 1],
      ],
      ['ok', item],
    );
    expect(() => index.save()).toThrow(`EmbeddingIndex.save: ${message}`);
  });

  test('a cycle is named, and JSON values (undefined properties too) round trip equal', () => {
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    const withCycle = new EmbeddingIndex<unknown>(2);
    withCycle.add([[1, 0]], [cyclic]);
    expect(() => withCycle.save()).toThrow('item 0: .self (a cycle back to an enclosing object) is not JSON');

    const items: unknown[] = [
      'é😀\u0000',
      0.1,
      -5,
      true,
      null,
      [],
      { nested: { list: [1, 'two', null, { deep: false }] }, 'odd key': [] },
      Object.assign(Object.create(null), { bare: 1 }),
      { caption: undefined, path: 'b.jpg' },
    ];
    const index = new EmbeddingIndex<unknown>(2);
    index.add(
      items.map((_, i) => [1, i]),
      items,
    );
    const loaded = EmbeddingIndex.load<unknown>(index.save());
    for (let i = 0; i < items.length; i++) expect(loaded.entry(i).item).toEqual(items[i]);
  });
});

describe('arguments of the wrong kind are named', () => {
  const index = new EmbeddingIndex(4);
  index.add([[1, 2, 3, 4]]);

  test('add: one vector not wrapped in an array', () => {
    expect(() => index.add(new Float32Array([1, 2, 3, 4]) as never)).toThrow(
      'EmbeddingIndex.add: vectors must be an array of vectors (got a Float32Array of length 4); wrap one vector in [ ]',
    );
    expect(() => index.add([1, 2, 3, 4] as never)).toThrow(
      'EmbeddingIndex.add: vector 0 is the number 1, not an array of 4 numbers; wrap one vector in [ ]',
    );
    expect(() => index.add([[1, 0, 0, 0]], 'x' as never)).toThrow(
      'EmbeddingIndex.add: items must be an array (one per vector), got a string of length 1',
    );
    expect(index.size).toBe(1);
  });

  test('add: a hole in a sparse array of vectors is named, not added as a zero row', () => {
    // forEach skipped the hole: a zero vector went in, and the saved index would not load again.
    const sparse = new Array<number[]>(2);
    sparse[1] = [0, 1, 0, 0];
    expect(() => index.add(sparse, ['a', 'b'] as never)).toThrow(
      'EmbeddingIndex.add: vector 0 is undefined, not an array of 4 numbers',
    );
    expect(index.size).toBe(1);
  });

  test('search: a query that is not an array of numbers', () => {
    expect(() => index.search(null as never)).toThrow(
      'EmbeddingIndex.search: query must be an array of 4 numbers, got null',
    );
    expect(() => index.search(3 as never)).toThrow('query must be an array of 4 numbers, got the number 3');
    expect(() => index.search([[1, 2, 3, 4]] as never)).toThrow(
      'the query has length 1, the index holds 4; pass one vector, not an array of vectors',
    );
  });

  test('save: metadata that is not an object', () => {
    expect(() => index.save(null as never)).toThrow(
      'EmbeddingIndex.save: metadata must be an object of strings (or left out), got null',
    );
    expect(() => index.save('ViT-B/32' as never)).toThrow('metadata must be an object of strings');
  });
});

describe('EmbeddingIndex.load makes stored rows unit length', () => {
  test('rows of another writer are renormalized, so scores are cosines', () => {
    const index = EmbeddingIndex.load<string>(
      foreignFile(
        [
          [3, 4],
          [0, 2],
        ],
        ['a', 'b'],
      ),
    );
    const [best, second] = index.search([3, 4], 2);
    expect(best).toMatchObject({ index: 0, item: 'a' });
    expect(best!.score).toBeCloseTo(1, 6);
    expect(second!.score).toBeCloseTo(0.8, 6);
    expect(Array.from(index.entry(1).vector)).toEqual([0, 1]);
  });

  test('a zero row is refused by its index', () => {
    expect(() =>
      EmbeddingIndex.load(
        foreignFile(
          [
            [1, 0],
            [0.6, 0.8],
            [0, 0],
          ],
          ['a', 'b', 'c'],
        ),
      ),
    ).toThrow('EmbeddingIndex.load: vector 2 has norm 0 (stored vectors must be unit length)');
  });

  test('a saved index loads and saves again bit for bit', () => {
    let seed = 3;
    const rnd = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32 - 0.5;
    };
    const index = new EmbeddingIndex(37);
    index.add(Array.from({ length: 300 }, () => Array.from({ length: 37 }, rnd)));
    const bytes = index.save();
    expect(EmbeddingIndex.load(bytes).save()).toEqual(bytes);
    // A row within the tolerance (norm off 1 by 1e-4) is kept as stored.
    const nearlyUnit = EmbeddingIndex.load(foreignFile([[0.6, 0.8001]], ['a']));
    expect(nearlyUnit.entry(0).vector).toEqual(Float32Array.of(0.6, 0.8001));
  });
});

test('save(metadata) becomes the index metadata, kept by a later save()', () => {
  const index = new EmbeddingIndex<string>(2);
  index.add([[1, 0]], ['a']);
  const given = { model: 'openai/clip-vit-base-patch32' };
  index.save(given);
  expect(index.metadata).toEqual(given);
  expect(Object.isFrozen(index.metadata)).toBe(true);
  given.model = 'changed afterwards';
  index.add([[0, 1]], ['b']);
  expect(EmbeddingIndex.load(index.save()).metadata).toEqual({ model: 'openai/clip-vit-base-patch32' });
  // A save that fails leaves the metadata as it was.
  expect(() => index.save({ format: 'x' })).toThrow('metadata key "format" is reserved');
  expect(() => index.save({ epoch: 3 } as never)).toThrow('must be a string');
  expect(index.metadata).toEqual({ model: 'openai/clip-vit-base-patch32' });
});
