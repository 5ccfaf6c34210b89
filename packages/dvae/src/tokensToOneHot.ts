// Token grids <-> the decoder's one-hot input. oneHot silently gives an all-zero row for an id
// outside the vocabulary, so ids are checked first: a bad id would otherwise decode to garbage.
import { Tensor, max, min, oneHot, transpose } from '@vl/tensor';
import { checkIntegerArg, checkTensorArg } from './checkArguments.js';
import { describeValue } from './describeValue.js';

/**
 * Checks that `tokens` is an i32 `[B, h, w]` grid of ids in `[0, vocabSize)`. Reads back two
 * numbers (the min and max id), which is why it is async.
 *
 * @example
 * ```ts
 * await checkTokens(tokens, config.decoder.vocab_size); // throws on id 9000 with vocab 8192
 * ```
 */
export async function checkTokens(tokens: Tensor, vocabSize: number): Promise<void> {
  checkTokenGrid('checkTokens', tokens);
  checkIntegerArg('checkTokens', 'vocabSize', vocabSize, 1);
  await checkTokenIds('checkTokens', tokens, vocabSize);
}

/**
 * @internal The part of {@link checkTokens} that reads nothing back: `tokens` is a live i32
 * `[B, h, w]` grid with cells; `caller` (the function the user called) starts every message.
 */
export function checkTokenGrid(caller: string, tokens: unknown): asserts tokens is Tensor {
  if (!(tokens instanceof Tensor)) {
    throw new TypeError(
      `${caller}: tokens must be an i32 [B, h, w] tensor of token ids, got ${describeValue(tokens)}`,
    );
  }
  if (tokens.isDisposed)
    throw new Error(`${caller}: tokens ${tokens.describe()} were disposed (used after dispose())`);
  if (tokens.backend.disposed)
    throw new Error(
      `${caller}: tokens ${tokens.describe()} are on a ${tokens.backend.kind} backend that was disposed`,
    );
  if (tokens.shape.length !== 3 || tokens.dtype !== 'i32') {
    throw new RangeError(`${caller}: tokens must be an i32 [B, h, w] grid, got ${tokens.describe()}`);
  }
  if (tokens.shape[1] === 0 || tokens.shape[2] === 0) {
    throw new RangeError(
      `${caller}: the token grid ${tokens.describe()} is empty; h and w must be at least 1`,
    );
  }
}

/** @internal The ids of `tokens` (a checked grid) lie in `[0, vocabSize)`: two numbers read back. */
export async function checkTokenIds(caller: string, tokens: Tensor, vocabSize: number): Promise<void> {
  if (tokens.size === 0) return;
  const lo = min(tokens); // []
  const hi = max(tokens); // []
  try {
    const [a, b] = await Promise.all([lo.item(), hi.item()]);
    if (a < 0 || b >= vocabSize) {
      throw new RangeError(
        `${caller}: token ids must lie in [0, ${vocabSize}) (vocab_size), got ids from ${a} to ${b}`,
      );
    }
  } finally {
    lo.dispose();
    hi.dispose();
  }
}

/**
 * The decoder's input: `tokens` `[B, h, w]` one-hot encoded over the vocabulary, channels first
 * (dall_e's `one_hot(z, vocab).permute(0, 3, 1, 2)`).
 *
 * @example
 * ```ts
 * const z = tokensToOneHot(tokens, 8192); // [B, 32, 32] -> f32[B, 8192, 32, 32]
 * ```
 */
export function tokensToOneHot(tokens: Tensor, vocabSize: number): Tensor {
  checkTensorArg('tokensToOneHot', 'tokens', tokens, 'an i32 [B, h, w] tensor of token ids');
  if (tokens.shape.length !== 3 || tokens.dtype !== 'i32') {
    throw new RangeError(`tokensToOneHot: tokens must be an i32 [B, h, w] grid, got ${tokens.describe()}`);
  }
  checkIntegerArg('tokensToOneHot', 'vocabSize', vocabSize, 1);
  const z = oneHot(tokens, vocabSize); // [B, h, w, V]
  try {
    return transpose(z, [0, 3, 1, 2]); // [B, V, h, w]
  } finally {
    z.dispose();
  }
}
