import { type Tensor, saveSafetensors } from '@vl/tensor';
import { checkConfigArg, checkObject, checkParamsMap } from '../checkArguments.js';
import type { ClipConfig } from '../model/config.js';

/** The files of an HF-layout CLIP checkpoint. */
export interface ClipCheckpointFiles {
  'config.json': string;
  'model.safetensors': Uint8Array;
}

/**
 * Serializes CLIP parameters (HF tensor names, as {@link ClipTrainer} and {@link loadClip} use them)
 * and their config into an HF `CLIPModel` checkpoint: `config.json` and `model.safetensors`.
 * Write the files anywhere (a folder in Node, OPFS or a download in browsers); {@link loadClip}
 * reads that folder back as the same model, vl's config extensions (open_clip pooling, LayerScale,
 * a convolutional stem) included. Tokenizer and preprocessing files are not part of it: a model
 * with a vocabulary of its own needs its `vocab.json` and `merges.txt` (or `tokenizer.json`), and
 * preprocessing other than CLIP's its `preprocessor_config.json`, written beside them (as `vl train
 * clip` does); without them loadClip uses the shipped CLIP vocabulary and CLIP's preprocessing.
 *
 * @example
 * ```ts
 * const files = await clipCheckpointFiles(trainer.params, config);
 * for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
 * ```
 */
export async function clipCheckpointFiles(
  params: ReadonlyMap<string, Tensor>,
  config: ClipConfig,
): Promise<ClipCheckpointFiles> {
  checkParamsMap('clipCheckpointFiles', params);
  checkObject('clipCheckpointFiles', 'config', config, 'a ClipConfig (as parseClipConfig returns)');
  if (config.vision_resnet) {
    throw new Error(
      'clipCheckpointFiles: ModifiedResNet towers have no HF layout; save them with saveSafetensors',
    );
  }
  checkConfigArg('clipCheckpointFiles', config);
  const json = {
    architectures: ['CLIPModel'],
    model_type: 'clip',
    projection_dim: config.projection_dim,
    logit_scale_init_value: config.logit_scale_init_value,
    text_config: { model_type: 'clip_text_model', ...config.text_config },
    vision_config: { model_type: 'clip_vision_model', ...config.vision_config },
  };
  return {
    'config.json': `${JSON.stringify(json, null, 2)}\n`,
    'model.safetensors': await saveSafetensors(params, { format: 'pt' }),
  };
}
