// The small dVAE the input and resume tests build on: a 2-group encoder over 8x8 images (a 4x4
// token grid) with 16 codes, fast enough to train a few steps in every test.
import { type Backend, type Tensor, randomUniform } from '@vl/tensor';
import { type DvaeConfig, type DvaeParamsPair, parseDvaeConfig } from '../src/index.js';

/** Encoder and decoder of 8 hidden channels, one block per group, 16 codes. */
export const TINY_DVAE: DvaeConfig = parseDvaeConfig({
  encoder: { group_count: 2, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
  decoder: { group_count: 2, n_init: 8, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
});

/** Disposes both halves of a params pair. */
export function freePair(pair: DvaeParamsPair): void {
  for (const t of [...pair.encoder.values(), ...pair.decoder.values()]) t.dispose();
}

/** A batch of two random 8x8 images on `backend`: `batch(seed)` gives [2, 3, 8, 8] in [0, 1). */
export function tinyBatches(backend: Backend): (seed: number) => Tensor {
  return (seed) => randomUniform([2, 3, 8, 8], { backend, seed });
}
