// The public API of @vl/vlm (browser entry). Explicit named exports only.

// --- model (src/model/) ---
export {
  checkVisionFeatureLayer,
  defaultLlamaConfig,
  defaultLlavaVisionConfig,
  imageTokenCount,
  parseLlamaConfig,
  parseLlavaConfig,
  ropeScaling,
} from './model/config.js';
export type { LlamaConfig, LlavaConfig, RopeParameters, VlmActivation } from './model/config.js';
export {
  canonicalLlavaName,
  checkVlmParams,
  llamaShapes,
  llavaShapes,
  normalizeLlavaParams,
  visionFeatureSize,
  vlmParam,
} from './model/params.js';
export type { VlmParams } from './model/params.js';
export { linearAt, llamaForward, matmulActivationOf } from './model/llama.js';
export type { LlamaForwardOptions } from './model/llama.js';
export {
  checkImageTokens,
  llavaForward,
  llavaImageFeatures,
  llavaInputEmbeddings,
  llavaVisionFeatures,
  visionFeatureLayers,
} from './model/llava.js';
export type { TokenRows } from './model/llava.js';

// --- text (src/text/) ---
export { VlmTokenizer, checkChatMessages } from './text/VlmTokenizer.js';
export type { ChatContentPart, ChatMessage, ChatRole } from './text/VlmTokenizer.js';

// --- task API (src/task/) ---
export { VlmModel } from './task/VlmModel.js';
export type { VlmImage, VlmModelParts, VlmPrompt, VlmTextPrompt, VlmTokenPrompt } from './task/VlmModel.js';
export { loadVlm, preprocessOptionsOf } from './task/loadVlm.js';
export type { LoadVlmOptions, VlmCheckpoint } from './task/loadVlm.js';
export type { GenerateOptions, GeneratedToken } from './task/generateTokens.js';

// --- training (src/train/) ---
export { initLlavaParams, visionTowerFromClip } from './train/initLlavaParams.js';
export type { InitLlavaOptions } from './train/initLlavaParams.js';
export { IGNORE_INDEX, VlmTrainer, packVlmExamples, vlmLoss } from './train/VlmTrainer.js';
export type {
  PackVlmOptions,
  VlmBatch,
  VlmSegment,
  VlmStepResult,
  VlmTrainerOptions,
} from './train/VlmTrainer.js';
export { vlmCheckpointFiles } from './train/vlmCheckpointFiles.js';
export type { VlmCheckpointFiles, VlmCheckpointOptions } from './train/vlmCheckpointFiles.js';
export {
  LLAVA_CHAT_TEMPLATE,
  WORD_TOKENIZER_SPECIALS,
  wordTokenizerFiles,
} from './train/wordTokenizerFiles.js';
export type { VlmTokenizerFiles, WordTokenizerOptions } from './train/wordTokenizerFiles.js';
