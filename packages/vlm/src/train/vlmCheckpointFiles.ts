// Serializes a LLaVA model as an HF `LlavaForConditionalGeneration` checkpoint folder's files, with
// the tensor names of transformers before 4.52 (`language_model.model.*`, `language_model.lm_head.*`,
// `vision_tower.vision_model.*`, `multi_modal_projector.*`), which every transformers version loads
// and `loadVlm` reads back.
import { CLIP_IMAGE_MEAN, CLIP_IMAGE_STD } from '@vl/clip';
import { type Tensor, saveSafetensors } from '@vl/tensor';
import { argumentError, checkLlavaConfig, checkObject, checkTensorMap } from '../checkArguments.js';
import type { LlavaConfig } from '../model/config.js';
import { checkVlmParams, llavaShapes } from '../model/params.js';
import type { VlmTokenizerFiles } from './wordTokenizerFiles.js';

/** The files of an HF LLaVA checkpoint folder (write each under its name). */
export interface VlmCheckpointFiles extends VlmTokenizerFiles {
  'config.json': string;
  'model.safetensors': Uint8Array;
  'preprocessor_config.json': string;
  'generation_config.json': string;
}

/** Options of {@link vlmCheckpointFiles}. */
export interface VlmCheckpointOptions {
  /** Per-channel mean of the pixel normalization (default CLIP's). */
  imageMean?: readonly number[];
  /** Per-channel std of the pixel normalization (default CLIP's). */
  imageStd?: readonly number[];
}

function checkFilesArguments(
  params: unknown,
  config: unknown,
  tokenizerFiles: unknown,
  options: unknown,
): void {
  const fn = 'vlmCheckpointFiles';
  checkTensorMap(fn, 'params', params);
  checkLlavaConfig(fn, config);
  checkObject(fn, 'tokenizerFiles', tokenizerFiles, 'the tokenizer files (wordTokenizerFiles)');
  for (const name of ['tokenizer.json', 'tokenizer_config.json'] as const) {
    const text = (tokenizerFiles as Record<string, unknown>)[name];
    if (typeof text !== 'string') throw argumentError(fn, `tokenizerFiles['${name}']`, 'a string', text);
  }
  checkObject(fn, 'options', options);
  for (const key of ['imageMean', 'imageStd'] as const) {
    const v = (options as VlmCheckpointOptions)[key];
    if (v !== undefined && !Array.isArray(v) && !ArrayBuffer.isView(v))
      throw argumentError(fn, `options.${key}`, 'an array of numbers', v);
  }
}

/**
 * The files of an HF LLaVA checkpoint: `config.json` (`LlavaForConditionalGeneration`),
 * `model.safetensors`, the tokenizer files as given (a `tokenizer_config.json` with a
 * `chat_template` lets chat prompts work), `preprocessor_config.json` (a `CLIPImageProcessor` at the
 * tower's image size) and `generation_config.json` (BOS, EOS, padding). Every tensor of
 * `llavaShapes(config)` must be in `params` with its shape; other tensors are left out.
 *
 * @example
 * ```ts
 * const files = await vlmCheckpointFiles(trainer.params, config, wordTokenizerFiles(words));
 * for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
 * const vlm = await loadVlm(dir, { backend });
 * ```
 */
export async function vlmCheckpointFiles(
  params: ReadonlyMap<string, Tensor>,
  config: LlavaConfig,
  tokenizerFiles: VlmTokenizerFiles,
  options: VlmCheckpointOptions = {},
): Promise<VlmCheckpointFiles> {
  checkFilesArguments(params, config, tokenizerFiles, options);
  const expected = llavaShapes(config);
  checkVlmParams(params, expected);
  const tensors = new Map<string, Tensor>();
  for (const name of expected.keys()) {
    const saved = name.startsWith('vision_tower.')
      ? `vision_tower.vision_model.${name.slice('vision_tower.'.length)}`
      : name;
    tensors.set(saved, params.get(name)!);
  }
  const text = config.text_config;
  const json = {
    architectures: ['LlavaForConditionalGeneration'],
    model_type: 'llava',
    image_token_index: config.image_token_index,
    image_seq_length: config.image_seq_length,
    projector_hidden_act: config.projector_hidden_act,
    multimodal_projector_bias: config.multimodal_projector_bias,
    vision_feature_layer: config.vision_feature_layer,
    vision_feature_select_strategy: config.vision_feature_select_strategy,
    tie_word_embeddings: text.tie_word_embeddings,
    // Both spellings of the rotary settings: transformers 5 reads rope_parameters, 4.x rope_theta.
    text_config: { ...text, rope_theta: text.rope_parameters.rope_theta },
    vision_config: { model_type: 'clip_vision_model', ...config.vision_config },
  };
  const S = config.vision_config.image_size;
  const preprocessor = {
    image_processor_type: 'CLIPImageProcessor',
    do_resize: true,
    size: { shortest_edge: S },
    do_center_crop: true,
    crop_size: { height: S, width: S },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [...(options.imageMean ?? CLIP_IMAGE_MEAN)],
    image_std: [...(options.imageStd ?? CLIP_IMAGE_STD)],
    resample: 3,
  };
  const generation = {
    bos_token_id: text.bos_token_id,
    eos_token_id: text.eos_token_id,
    pad_token_id: text.pad_token_id,
  };
  return {
    'config.json': `${JSON.stringify(json, null, 2)}\n`,
    'model.safetensors': await saveSafetensors(tensors, { format: 'pt' }),
    'tokenizer.json': tokenizerFiles['tokenizer.json'],
    'tokenizer_config.json': tokenizerFiles['tokenizer_config.json'],
    'preprocessor_config.json': `${JSON.stringify(preprocessor, null, 2)}\n`,
    'generation_config.json': `${JSON.stringify(generation, null, 2)}\n`,
  };
}
