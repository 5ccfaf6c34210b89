// How much of the codebook a token grid uses. A dVAE that collapses onto a few codes wastes its
// vocabulary; perplexity (the exponential of the entropy of average code usage) counts the codes
// in effective use, from 1 (one code everywhere) to vocab_size (every code equally often).
import { Tensor } from '@vl/tensor';
import { describeValue } from '../describeValue.js';

/**
 * What {@link codebookUsage} measured.
 *
 * @example
 * ```ts
 * const { perplexity, deadCodes }: CodebookUsage = await codebookUsage(tokens, 8192);
 * ```
 */
export interface CodebookUsage {
  /** How often each code occurs, `[vocab_size]`. */
  readonly counts: Uint32Array;
  /** Grid cells counted. */
  readonly total: number;
  /** `exp(entropy)` of the average code usage, in [1, vocab_size] (0 with nothing counted). */
  readonly perplexity: number;
  /** Codes used at least once. */
  readonly usedCodes: number;
  /** Codes never used: `vocab_size - usedCodes`. */
  readonly deadCodes: number;
}

/**
 * Usage statistics of code counts (one count per codebook entry).
 *
 * @example
 * ```ts
 * codebookUsageFromCounts(Uint32Array.from([5, 5, 0, 0])).perplexity; // 2
 * ```
 */
export function codebookUsageFromCounts(counts: Uint32Array): CodebookUsage {
  if (!(counts instanceof Uint32Array)) {
    throw new TypeError(
      `codebookUsageFromCounts: counts must be a Uint32Array of code counts, got ${describeValue(counts)}`,
    );
  }
  let total = 0;
  let used = 0;
  for (const c of counts) {
    total += c;
    if (c > 0) used++;
  }
  let entropy = 0;
  for (const c of counts) {
    if (c > 0) {
      const p = c / total;
      entropy -= p * Math.log(p);
    }
  }
  return {
    counts,
    total,
    perplexity: total > 0 ? Math.exp(entropy) : 0,
    usedCodes: used,
    deadCodes: counts.length - used,
  };
}

/**
 * Reads token grids (i32 ids, any shape, e.g. `[B, h, w]` from `encode`) and returns the usage of a
 * codebook of `vocabSize` codes over all of them: counts, perplexity and dead codes. An id outside
 * `[0, vocabSize)` is an error.
 *
 * @example
 * ```ts
 * const usage = await codebookUsage(dvae.encode(images), dvae.config.encoder.vocab_size);
 * console.log(`perplexity ${usage.perplexity.toFixed(1)}, ${usage.deadCodes} dead codes`);
 * ```
 */
export async function codebookUsage(
  tokens: Tensor | readonly Tensor[],
  vocabSize: number,
): Promise<CodebookUsage> {
  if (!Number.isInteger(vocabSize) || vocabSize < 1) {
    throw new RangeError(
      `codebookUsage: vocabSize must be a positive integer, got ${describeValue(vocabSize)}`,
    );
  }
  const counts = new Uint32Array(vocabSize);
  for (const t of Array.isArray(tokens) ? tokens : [tokens as Tensor]) {
    if (!(t instanceof Tensor)) {
      throw new TypeError(`codebookUsage: tokens must be i32 tensors of token ids, got ${describeValue(t)}`);
    }
    if (t.dtype !== 'i32') throw new TypeError(`codebookUsage: tokens must be i32 ids, got ${t.describe()}`);
    const ids = await t.read();
    for (const id of ids) {
      if (!(id >= 0 && id < vocabSize)) {
        throw new RangeError(`codebookUsage: token id ${id} is outside [0, ${vocabSize}) (${t.describe()})`);
      }
      counts[id]!++;
    }
  }
  return codebookUsageFromCounts(counts);
}
