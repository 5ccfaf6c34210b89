// The public API of @vl/clip (browser entry). Explicit named exports only.
// Image inputs name DOM types (ImageBitmap, HTMLCanvasElement...): the reference below brings them
// into a consumer's program (a Node project's included), so its type check needs no setup.
/// <reference lib="dom" preserve="true" />

// --- tokenizer (src/tokenizer/) ---
export type {
  ClipTokenizerOptions,
  DecodeOptions,
  EncodeBatchOptions,
  EncodedBatch,
} from './tokenizer/ClipTokenizer.js';
export { ClipTokenizer } from './tokenizer/ClipTokenizer.js';
export { cleanText } from './tokenizer/cleanText.js';
export type { HfTokenizerJson } from './tokenizer/hfTokenizerFiles.js';
export { imagenetClasses, imagenetTemplates } from './tokenizer/imagenetPrompts.js';
export type { BpeVocabularySource } from './tokenizer/loadBpeVocabulary.js';
export { loadBpeVocabulary } from './tokenizer/loadBpeVocabulary.js';
export type { BpeVocabulary } from './tokenizer/parseBpeVocabulary.js';
export { parseBpeVocabulary } from './tokenizer/parseBpeVocabulary.js';
export type { HfVocabFiles } from './tokenizer/wordVocabularyFiles.js';
export { wordVocabularyFiles } from './tokenizer/wordVocabularyFiles.js';

// --- image preprocessing (src/image/) ---
export { centerCrop } from './image/centerCrop.js';
export type { CropRule } from './image/centerCrop.js';
export type { ImageSource } from './image/loadImage.js';
export { loadImage } from './image/loadImage.js';
export type { ImageSize, PreprocessedImages, PreprocessOptions } from './image/preprocess.js';
export { CLIP_IMAGE_MEAN, CLIP_IMAGE_STD, preprocess, preprocessToRgb } from './image/preprocess.js';
export { preprocessToTensor } from './image/preprocessToTensor.js';
export { preprocessOptionsFromHf } from './image/preprocessorConfig.js';
export type { ResampleFilter } from './image/resizeImage.js';
export { resizeImage } from './image/resizeImage.js';
export { shortestEdgeSize } from './image/shortestEdgeSize.js';
export type { DrawableImage, ImageInput, PixelImage, RgbImage } from './image/toRgbImage.js';
export { toRgbImage } from './image/toRgbImage.js';

// --- model (src/model/) ---
export { defaultTextConfig, defaultVisionConfig, parseClipConfig } from './model/config.js';
export type { ClipActivation, ClipConfig, ClipTextConfig, ClipVisionConfig } from './model/config.js';
export { checkParams, param } from './model/params.js';
export type { ClipParams } from './model/params.js';
export { clipAttention, encoderLayer, linear } from './model/encoderLayer.js';
export { type FuseQkvOptions, FusedQkvParams, fuseQkvProjections } from './model/fuseQkv.js';
export { isLinearWeight, storeLinearWeights } from './model/storedWeights.js';
export { fillTemplate } from './task/taskInputs.js';
export type { EncoderLayerConfig } from './model/encoderLayer.js';
export { clipTextForward, clipTextPooled, textTowerShapes } from './model/textTransformer.js';
export type { ClipTextOutput } from './model/textTransformer.js';
export {
  clipVisionForward,
  clipVisionPooled,
  visionPatchGrid,
  visionTowerShapes,
} from './model/visionTransformer.js';
export type { ClipVisionOutput } from './model/visionTransformer.js';
export {
  clipLogits,
  clipLoss,
  clipShapes,
  getImageFeatures,
  getTextFeatures,
  l2Normalize,
} from './model/clipModel.js';
export type { ClipLogits } from './model/clipModel.js';

// --- task API (src/task/) ---
export { ClipModel } from './task/ClipModel.js';
export type {
  ClipModelParts,
  ClipTuneOptions,
  EmbedTextOptions,
  LabelScore,
  ZeroShotOptions,
} from './task/ClipModel.js';
export { EmbeddingIndex } from './task/EmbeddingIndex.js';
export type { SearchHit } from './task/EmbeddingIndex.js';
export { loadClip } from './task/loadClip.js';
export type { ClipCheckpoint, LoadClipOptions } from './task/loadClip.js';
export { checkCheckpointSource, prepareCheckpointLoad } from './task/checkpointLoad.js';
export type { CheckpointLoad } from './task/checkpointLoad.js';
export { fromOpenClip, isOpenClipCheckpoint, openClipShapes } from './model/openClip.js';
export { openClipConfig, withOpenAiActivation } from './model/openClipConfig.js';
export type { OpenClipModelConfig } from './model/openClipConfig.js';

// --- training (src/train/) ---
export { initClipParams } from './train/initClipParams.js';
export type { InitClipOptions } from './train/initClipParams.js';
export { ClipTrainer, MAX_LOGIT_SCALE } from './train/ClipTrainer.js';
export type { ClipBatch, ClipStepResult, ClipTrainerOptions } from './train/ClipTrainer.js';
export { linearProbe } from './train/linearProbe.js';
export type { LinearProbe, LinearProbeOptions } from './train/linearProbe.js';
export { modifiedResNetForward, modifiedResNetShapes } from './model/modifiedResNet.js';
export type { ModifiedResNetConfig } from './model/modifiedResNet.js';
export { clipCheckpointFiles } from './train/saveClip.js';
export type { ClipCheckpointFiles } from './train/saveClip.js';
export { fineTuneClip } from './train/fineTuneClip.js';
export type { ClipTrainProgress, FineTuneClipOptions } from './train/fineTuneClip.js';
