import type { DType, TypedArray } from '../../src/index.node.js';

/** Small deterministic PRNG (mulberry32) so a failing case can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fresh seed per run (printed by failing tests) unless VL_TEST_SEED pins one. */
export function freshSeed(): number {
  const pinned = process.env.VL_TEST_SEED;
  return pinned ? Number(pinned) : Math.floor(Math.random() * 2 ** 31);
}

export function randomArray(
  size: number,
  dtype: DType,
  next: () => number,
  range: [number, number] = [-2, 2],
): TypedArray {
  const [lo, hi] = range;
  switch (dtype) {
    case 'f32':
      return Float32Array.from({ length: size }, () => lo + (hi - lo) * next());
    case 'i32':
      return Int32Array.from({ length: size }, () => Math.floor(lo + (hi - lo + 1) * next()));
    case 'u32':
      return Uint32Array.from({ length: size }, () =>
        Math.floor(Math.max(0, lo) + (hi - Math.max(0, lo) + 1) * next()),
      );
    case 'bool':
      return Uint8Array.from({ length: size }, () => (next() < 0.5 ? 1 : 0));
    default:
      throw new Error(`randomArray: ${dtype} not supported`);
  }
}
