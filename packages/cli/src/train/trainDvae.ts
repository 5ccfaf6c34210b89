import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type DvaeConfig,
  type DvaeModel,
  cosineAnneal,
  createDvaeModel,
  dvaeCheckpointFiles,
  initDvaeParams,
  kmeansInitDvae,
  loadDvae,
  parseDvaeConfig,
  trainDvae as runTraining,
} from '@vl/dvae';
import { cosineWithWarmup } from '@vl/tensor';
import type { ModelDefaults } from '../models.js';
import { imagesToTensor } from '../pixels.js';
import { ProgressBar } from '../progress.js';
import type { CaptionData } from './captionData.js';
import type { TrainRunOptions } from './trainRunOptions.js';
import { removeOptimizerState } from './resumeState.js';
import { TrainingStopped, stoppedParams } from './trainingStopped.js';

/** Options of {@link trainDvae}. */
export interface TrainDvaeOptions extends TrainRunOptions {
  data: CaptionData;
  /**
   * A folder `trainDvae` wrote: training continues from its weights (its config, not
   * {@link smallDvaeConfig}); the schedules start over, so use another `seed` to see new images.
   */
  init?: string;
}

/**
 * The small dVAE `vl train dvae` trains: two groups (a 64x64 image becomes a 32x32 token grid, one
 * code per 2x2 pixels), 512 codes, 32 hidden channels (64 in the last group), one block per group.
 * A 16x16 grid was too coarse for the shapes world's textured backgrounds (stripes and checkers a
 * few pixels wide) to come back at 28 dB.
 */
export function smallDvaeConfig(): DvaeConfig {
  return parseDvaeConfig({
    encoder: { group_count: 2, n_hid: 32, n_blk_per_group: 1, input_channels: 3, vocab_size: 512 },
    decoder: {
      group_count: 2,
      n_init: 32,
      n_hid: 32,
      n_blk_per_group: 1,
      output_channels: 3,
      vocab_size: 512,
    },
  });
}

/** Images a fresh run's k-means init looks at (64 images of 64 px: 65,536 cells for 512 codes). */
const KMEANS_IMAGES = 64;
/** The encoder's learning rate, relative to the decoder's. */
const ENCODER_LR_SCALE = 0.1;
/**
 * The KL weight the run anneals up to. A grid cell here covers 2x2 pixels (12 pixel channels) where
 * DALL-E's covers 8x8 (192), so with the loss in nats per pixel channel a weight of 0.1 here weighs
 * the KL as about 1.6 would there (the paper's 6.6 would drown the codes' information).
 */
const KL_WEIGHT = 0.1;

/**
 * Trains the small dVAE (gumbel-softmax with tau annealed from 1 to 1/16, KL weight annealed up to
 * 0.1, AdamW) and writes a checkpoint folder that `loadDvae` reads, plus `vl.json`. A fresh run
 * starts from {@link kmeansInitDvae} on the first 64 images: the codebook is k-means of the cells,
 * so before the first step the dVAE already reconstructs images as flat cells of quantized colour,
 * and the gumbel-softmax steps train from there (the encoder at a tenth of the decoder's rate).
 * From a random init, hundreds of steps reached only 20-22 dB here: the encoder's codes collapsed
 * or the small decoder learned their meaning slowly. Returns the trained model (the caller
 * disposes it).
 */
export async function trainDvae(options: TrainDvaeOptions): Promise<DvaeModel> {
  const { data, out, steps, batchSize, lr, seed, imageSize, backend, io, signal } = options;
  let config = smallDvaeConfig();
  let params: ReturnType<typeof initDvaeParams>;
  if (options.init) {
    const prior = await loadDvae(options.init, { backend });
    config = prior.config;
    params = { encoder: new Map(prior.encoderParams), decoder: new Map(prior.decoderParams) }; // taken over by training
  }
  const factor = 2 ** (config.encoder.group_count - 1);
  if (imageSize % factor !== 0) throw new RangeError(`--size ${imageSize} must be a multiple of ${factor}`);
  const batch = (step: number) =>
    imagesToTensor(
      Array.from({ length: batchSize }, (_, i) => data.pair(step * batchSize + i).image),
      backend,
    ); // [B, 3, S, S]
  if (!options.init) {
    const fresh = initDvaeParams(config, { backend, seed });
    const images = imagesToTensor(
      Array.from({ length: KMEANS_IMAGES }, (_, i) => data.pair(i).image),
      backend,
    ); // [64, 3, S, S]
    const init = await kmeansInitDvae(fresh, config, images, { seed });
    images.dispose();
    for (const half of ['encoder', 'decoder'] as const)
      for (const [name, t] of fresh[half]) if (init.params[half].get(name) !== t) t.dispose();
    params = init.params;
    io.stderr.write(
      `k-means init: ${init.codesUsed} codes in use, ${init.psnr.toFixed(1)} dB on its ${KMEANS_IMAGES} images before training\n`,
    );
  }
  const bar = new ProgressBar(io, `training dvae on ${data.name}`, { quietMs: 0 });
  const warmup = Math.min(100, Math.floor(steps / 10));
  type Pair = Awaited<ReturnType<typeof runTraining>>;
  const freePair = (pair: Pair) => {
    for (const t of [...pair.encoder.values(), ...pair.decoder.values()]) t.dispose();
  };
  let trained: Pair;
  let stopped: number | undefined;
  let state: Uint8Array | undefined;
  try {
    trained = await runTraining(params!, config, batch, {
      ...(options.resume ? { resumeFrom: options.resume } : {}), // --resume: the stopped run's state
      steps,
      seed,
      lr: cosineWithWarmup({ lr, warmupSteps: warmup, totalSteps: steps, minLr: lr / 20 }),
      tau: cosineAnneal({ from: 1, to: 1 / 16, steps: Math.max(1, Math.floor(steps * 0.8)) }),
      beta: cosineAnneal({ from: 0, to: KL_WEIGHT, steps: Math.max(1, Math.floor(steps / 2)) }),
      encoderLrScale: ENCODER_LR_SCALE,
      signal,
      onProgress: (p) =>
        bar.update(
          p.step,
          steps,
          `loss ${p.loss.toFixed(3)} mse ${p.mse.toFixed(4)} tau ${p.tau.toFixed(2)} ppl ${p.perplexity.toFixed(0)}`,
        ),
    });
  } catch (e) {
    // Interrupted after some steps: what was trained is written all the same.
    const got = stoppedParams<Pair>(e, freePair);
    if (!got) throw e;
    ({ params: trained, steps: stopped, state } = got);
  } finally {
    // The trainer worked on copies: the starting weights are done with.
    freePair(params! as Pair);
  }
  bar.finish();
  await mkdir(out, { recursive: true });
  await removeOptimizerState(out); // an earlier stop's: it went with the weights replaced here
  const files = await dvaeCheckpointFiles(config, trained);
  const defaults: ModelDefaults = { imageSize };
  await Promise.all([
    ...Object.entries(files).map(([name, bytes]) => writeFile(join(out, name), bytes)),
    writeFile(join(out, 'vl.json'), `${JSON.stringify(defaults, null, 2)}\n`),
  ]);
  if (stopped !== undefined) {
    freePair(trained);
    throw new TrainingStopped(out, stopped, steps, { state }); // vl train writes the state after the record
  }
  return createDvaeModel(config, trained.encoder, trained.decoder, backend, () => {
    for (const t of [...trained.encoder.values(), ...trained.decoder.values()]) t.dispose();
  });
}
