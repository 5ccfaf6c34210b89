/**
 * A seeded pseudo-random number generator: the same seed gives the same sequence everywhere.
 *
 * @example
 * ```ts
 * const random: Random = createRandom(7);
 * random.float(0, 1);
 * ```
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max] (both included). */
  int(min: number, max: number): number;
  /** A float in [min, max). */
  float(min: number, max: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** `true` with probability `p`. */
  chance(p: number): boolean;
}

/**
 * Throws unless `value` is a safe integer: a fraction or a number past 2^53 would be folded into
 * the same seed as a neighbouring integer (`hashSeed(0.5) === hashSeed(0)`) without a word.
 */
function checkInteger(value: number, what: string, caller: string): void {
  if (typeof value !== 'number') {
    throw new TypeError(`${caller}: ${what} must be an integer, got ${typeof value} ${String(value)}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(
      `${caller}: ${what} must be an integer from -(2^53 - 1) to 2^53 - 1, got ${String(value)}`,
    );
  }
}

/**
 * Mixes any number of integers into one well-spread 32-bit seed (a MurmurHash3-style finalizer
 * over a running combination), so `hashSeed(seed, index)` gives unrelated seeds for neighbouring indices.
 * Every part must be a safe integer (negative ones and ones past 2^32 are fine); a fraction, NaN or
 * Infinity throws a RangeError naming the part.
 *
 * @example
 * ```ts
 * const sampleSeed = hashSeed(42, 7); // an unsigned 32-bit integer
 * ```
 */
export function hashSeed(...parts: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const [index, part] of parts.entries()) {
    checkInteger(part, `parts[${index}]`, 'hashSeed()');
    // Fold in both 32-bit halves so seeds above 2^32 are not silently truncated.
    const low = part >>> 0;
    const high = Math.floor(part / 2 ** 32) >>> 0;
    h = mix(h ^ low);
    h = mix(h ^ high ^ 0x85ebca6b);
  }
  return h >>> 0;
}

function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * A small, fast seeded PRNG (sfc32, seeded through {@link hashSeed}), independent of `Math.random`.
 * The seed must be a safe integer: a fraction, NaN or Infinity throws a RangeError.
 *
 * @example
 * ```ts
 * const random = createRandom(1);
 * const die = random.int(1, 6);
 * const colour = random.pick(['red', 'blue']);
 * ```
 */
export function createRandom(seed: number): Random {
  checkInteger(seed, 'seed', 'createRandom()');
  let a = hashSeed(seed, 1);
  let b = hashSeed(seed, 2);
  let c = hashSeed(seed, 3);
  let d = 1;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    float: (min, max) => min + next() * (max - min),
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError('Random.pick(): the list is empty');
      return items[Math.floor(next() * items.length)]!;
    },
    chance: (p) => next() < p,
  };
}
