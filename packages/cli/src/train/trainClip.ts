import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CLIP_IMAGE_MEAN,
  CLIP_IMAGE_STD,
  type ClipBatch,
  ClipModel,
  ClipTokenizer,
  clipCheckpointFiles,
  fineTuneClip,
  initClipParams,
  loadClip,
  preprocessToTensor,
  wordVocabularyFiles,
} from '@vl/clip';
import { shapeLabels } from '@vl/shapes';
import { type Tensor, cosineWithWarmup, tensor } from '@vl/tensor';
import type { ModelDefaults } from '../models.js';
import { ProgressBar } from '../progress.js';
import type { CaptionData } from './captionData.js';
import type { TrainRunOptions } from './trainRunOptions.js';
import { removeOptimizerState } from './resumeState.js';
import { TrainingStopped, disposeAll, stoppedParams } from './trainingStopped.js';
import { CAPTION_CONTEXT, smallClipConfig } from './shapesClipConfig.js';

/** Prompt templates of the shapes CLIP: its labels already read "a red circle". */
export const SHAPES_TEMPLATES = ['{}', 'a picture of {}'];

/** Options of {@link trainClip}. */
export interface TrainClipOptions extends TrainRunOptions {
  data: CaptionData;
  /** A folder `trainClip` wrote: training continues from its weights (same vocabulary and sizes). */
  init?: string;
}

/**
 * Trains the small CLIP from scratch on caption pairs and writes an HF-layout checkpoint folder
 * (`config.json`, `model.safetensors`, `vocab.json`, `merges.txt`, `preprocessor_config.json`) plus
 * `vl.json` with the task defaults. Returns the trained model (the caller disposes it).
 */
export async function trainClip(options: TrainClipOptions): Promise<ClipModel> {
  const { data, out, steps, batchSize, lr, seed, imageSize, backend, io, signal } = options;
  if (imageSize % 8 !== 0) {
    throw new RangeError(
      `--size ${imageSize} must be a multiple of 8 (the image tower's stem halves it 3 times)`,
    );
  }
  const files = wordVocabularyFiles(data.vocabulary);
  const tokenizer = ClipTokenizer.fromHfFiles(files, { contextLength: CAPTION_CONTEXT });
  let config = smallClipConfig(imageSize, tokenizer.vocabSize, tokenizer.startId, tokenizer.endId);
  let params: ReadonlyMap<string, Tensor>;
  if (options.init) {
    const prior = await loadClip(options.init, { backend });
    if (prior.tokenizer.vocabSize !== tokenizer.vocabSize)
      throw new RangeError(
        `--init ${options.init}: its vocabulary has ${prior.tokenizer.vocabSize} tokens, this data's ${tokenizer.vocabSize}`,
      );
    config = prior.config;
    params = prior.params; // taken over by the trainer
  } else params = initClipParams(config, { backend, seed });
  const preprocess = { size: imageSize, crop: imageSize, mean: CLIP_IMAGE_MEAN, std: CLIP_IMAGE_STD };
  const batch = (step: number): ClipBatch => {
    const pairs = Array.from({ length: batchSize }, (_, i) => data.pair(step * batchSize + i));
    const enc = tokenizer.encodeBatch(
      pairs.map((p) => p.caption),
      // Padded to the batch's longest caption: the text tower is causal, so the padding up to
      // the context could not change the loss, only cost time.
      { contextLength: CAPTION_CONTEXT, truncate: true, padId: tokenizer.endId, padding: 'longest' },
    );
    return {
      pixelValues: preprocessToTensor(
        pairs.map((p) => p.image),
        backend,
        preprocess,
      ), // [B, 3, S, S]
      inputIds: tensor(enc.inputIds, enc.shape, { backend, dtype: 'i32' }), // [B, T]
      attentionMask: tensor(enc.attentionMask, enc.shape, { backend }), // [B, T]
    };
  };
  const bar = new ProgressBar(io, `training clip on ${data.name}`, { quietMs: 0 });
  const warmup = Math.min(100, Math.floor(steps / 10));
  let trained: ReadonlyMap<string, Tensor>;
  let stopped: number | undefined;
  let state: Uint8Array | undefined;
  try {
    trained = await fineTuneClip(params, config, batch, {
      steps,
      lr: cosineWithWarmup({ lr, warmupSteps: warmup, totalSteps: steps, minLr: lr / 20 }),
      weightDecay: 0.05,
      signal,
      onProgress: ({ step, smoothedLoss }) => bar.update(step, steps, `loss ${smoothedLoss.toFixed(3)}`),
      ...(options.resume ? { resumeFrom: options.resume } : {}), // --resume: the stopped run's state
    });
  } catch (e) {
    // Interrupted after some steps: what was trained is written all the same.
    const got = stoppedParams<ReadonlyMap<string, Tensor>>(e, disposeAll);
    if (!got) throw e;
    ({ params: trained, steps: stopped, state } = got);
  }
  bar.finish();

  await mkdir(out, { recursive: true });
  await removeOptimizerState(out); // an earlier stop's: it went with the weights replaced here
  const checkpoint = await clipCheckpointFiles(trained, config);
  const defaults: ModelDefaults = {
    imageSize,
    templates: SHAPES_TEMPLATES,
    ...(data.name === 'shapes' ? { labels: shapeLabels() } : {}),
  };
  const preprocessor = {
    do_resize: true,
    size: { shortest_edge: imageSize },
    do_center_crop: true,
    crop_size: { height: imageSize, width: imageSize },
    do_normalize: true,
    image_mean: CLIP_IMAGE_MEAN,
    image_std: CLIP_IMAGE_STD,
    resample: 3,
    rescale_factor: 1 / 255,
  };
  await Promise.all([
    writeFile(join(out, 'config.json'), checkpoint['config.json']),
    writeFile(join(out, 'model.safetensors'), checkpoint['model.safetensors']),
    writeFile(join(out, 'vocab.json'), `${JSON.stringify(files.vocab)}\n`),
    writeFile(join(out, 'merges.txt'), `#version: 0.2\n${files.merges}\n`),
    writeFile(join(out, 'preprocessor_config.json'), `${JSON.stringify(preprocessor, null, 2)}\n`),
    writeFile(join(out, 'vl.json'), `${JSON.stringify(defaults, null, 2)}\n`),
  ]);
  if (stopped !== undefined) {
    disposeAll(trained);
    throw new TrainingStopped(out, stopped, steps, { state }); // vl train writes the state after the record
  }
  return new ClipModel({ config, params: trained, tokenizer, backend, preprocess });
}
