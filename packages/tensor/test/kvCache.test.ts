import { describe, expect, test } from 'vitest';
import { appendKv, attention, createKvCache, type KvCache, tensor, tidy } from '../src/index.node.js';
import { suiteBackends } from './util/backends.js';
import { expectClose } from './util/compare.js';
import { freshSeed, randomArray, rng } from './util/random.js';

const { reference, others } = await suiteBackends();

const B = 2;
const HQ = 4;
const HKV = 2;
const D = 8;
const MAX = 40;

/** Appends rows [B, H, T, D] to per-(b, h) host arrays: the concatenated K or V. */
function concatRows(all: number[][], rows: Float32Array, t: number): void {
  for (let bh = 0; bh < B * HKV; bh++) all[bh]!.push(...rows.subarray(bh * t * D, (bh + 1) * t * D));
}

function flatten(all: number[][]): Float32Array {
  return Float32Array.from(all.flat());
}

describe('kv cache', () => {
  test.each([['reference'], ['cpu'], ['webgpu'], ['tfjs-cpu']])(
    'appending then attending with kvLength equals attention over concatenated K/V on %s',
    async (label) => {
      const backend = label === 'reference' ? reference : others.find((o) => o.label === label)?.backend;
      if (!backend) return; // no WebGPU adapter here (backends.ts warns loudly)
      const seed = freshSeed();
      const next = rng(seed);
      const layers = 2;
      const cache = createKvCache({ backend, layers, batch: B, kvHeads: HKV, maxLength: MAX, headDim: D });
      const firstK = cache.k[0];
      const keys = Array.from({ length: layers }, () =>
        Array.from({ length: B * HKV }, () => [] as number[]),
      );
      const values = Array.from({ length: layers }, () =>
        Array.from({ length: B * HKV }, () => [] as number[]),
      );
      // A prefill of 7 tokens, three decode steps, then a chunk of 5.
      for (const t of [7, 1, 1, 1, 5]) {
        for (let layer = 0; layer < layers; layer++) {
          const q = randomArray(B * HQ * t * D, 'f32', next) as Float32Array;
          const k = randomArray(B * HKV * t * D, 'f32', next) as Float32Array;
          const v = randomArray(B * HKV * t * D, 'f32', next) as Float32Array;
          concatRows(keys[layer]!, k, t);
          concatRows(values[layer]!, v, t);
          const got = tidy(() => {
            const r = appendKv(
              cache,
              layer,
              tensor(k, [B, HKV, t, D], { backend }),
              tensor(v, [B, HKV, t, D], { backend }),
            );
            expect(r.kvLength).toBe(cache.length + t);
            return attention(tensor(q, [B, HQ, t, D], { backend }), r.k, r.v, {
              causal: true,
              kvLength: r.kvLength,
            });
          });
          const n = cache.length + t;
          const want = tidy(() =>
            attention(
              tensor(q, [B, HQ, t, D], { backend: reference }),
              tensor(flatten(keys[layer]!), [B, HKV, n, D], { backend: reference }),
              tensor(flatten(values[layer]!), [B, HKV, n, D], { backend: reference }),
              { causal: true },
            ),
          );
          expectClose(
            await got.read(),
            await want.read(),
            2e-5,
            `step T=${t} layer ${layer} on ${label} (seed ${seed})`,
            1e-4,
          );
          got.dispose();
          want.dispose();
        }
        cache.advance();
      }
      expect(cache.length).toBe(15);
      // The cache holds exactly the appended rows in its first 15 positions.
      const stored = await cache.k[1]!.read();
      const expected = keys[1]!;
      for (let bh = 0; bh < B * HKV; bh++) {
        expect(Array.from(stored.subarray(bh * MAX * D, bh * MAX * D + 15 * D))).toEqual(
          expected[bh]!.map(Math.fround),
        );
      }
      // Written in place: same tensor objects, except on tfjs (immutable tensors are replaced).
      if (label === 'tfjs-cpu') expect(firstK!.isDisposed).toBe(true);
      else expect(cache.k[0]).toBe(firstK);
      cache.dispose();
      expect(cache.k[0]!.isDisposed).toBe(true);
    },
  );

  test('overflow, double appends and unfinished steps are errors that name the lengths', () => {
    const cache: KvCache = createKvCache({
      backend: reference,
      layers: 2,
      batch: 1,
      kvHeads: 2,
      maxLength: 8,
      headDim: 4,
    });
    const rows = (t: number) => tensor(new Float32Array(2 * t * 4), [1, 2, t, 4], { backend: reference });
    appendKv(cache, 0, rows(6), rows(6));
    expect(() => appendKv(cache, 0, rows(1), rows(1))).toThrow(
      'appendKv: layer 0 already appended 6 positions this step; call cache.advance() first',
    );
    expect(() => cache.advance()).toThrow(
      'KvCache.advance(): every layer must append the same number of positions first (layer 0: 6, layer 1: none)',
    );
    appendKv(cache, 1, rows(6), rows(6));
    expect(cache.advance()).toBe(6);
    expect(() => appendKv(cache, 1, rows(3), rows(3))).toThrow(
      'appendKv: layer 1: appending 3 positions at length 6 exceeds maxLength 8',
    );
    expect(() => appendKv(cache, 2, rows(1), rows(1))).toThrow(
      'appendKv: layer 2 is out of range (the cache has 2 layers)',
    );
    expect(() =>
      appendKv(cache, 0, tensor(new Float32Array(8), [1, 1, 2, 4], { backend: reference }), rows(2)),
    ).toThrow('appendKv: k f32[1, 1, 2, 4] does not fit the cache (expected [1, 2, T, 4] f32)');
    cache.reset();
    expect(cache.length).toBe(0);
    appendKv(cache, 0, rows(8), rows(8));
    appendKv(cache, 1, rows(8), rows(8));
    expect(cache.advance()).toBe(8);
    cache.truncate(5);
    expect(cache.length).toBe(5);
    cache.dispose();
    expect(() => appendKv(cache, 0, rows(1), rows(1))).toThrow('KvCache.appendKv(): the cache was disposed');
    expect(() =>
      createKvCache({ backend: reference, layers: 1, batch: 1, kvHeads: 1, maxLength: 0, headDim: 4 }),
    ).toThrow('createKvCache: maxLength must be a positive integer, got 0');
  });
});
