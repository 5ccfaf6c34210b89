// The public API of @vl/dvae (browser entry). Explicit named exports only.

// --- config (config.ts) ---
export type { DvaeConfig, DvaeDecoderConfig, DvaeEncoderConfig } from './config.js';
export { defaultDecoderConfig, defaultEncoderConfig, LOGIT_LAPLACE_EPS, parseDvaeConfig } from './config.js';

// --- params and forward functions ---
export type { DvaeParams } from './dvaeShapes.js';
export {
  checkDvaeParams,
  decoderGroupChannels,
  decoderShapes,
  encoderGroupChannels,
  encoderShapes,
} from './dvaeShapes.js';
export { dvaeConv } from './dvaeConv.js';
export { checkEncoderInput, dvaeEncoder } from './dvaeEncoder.js';
export { dvaeDecoder } from './dvaeDecoder.js';
export { mapPixels, unmapPixels } from './mapPixels.js';
export { checkTokens, tokensToOneHot } from './tokensToOneHot.js';

// --- task API (loadDvae.ts) ---
export type { DvaeModel, LoadDvaeOptions } from './loadDvae.js';
export { checkImageRange, createDvaeModel, loadDvae } from './loadDvae.js';

// --- training (src/train/) ---
export type { GumbelSoftmaxOptions } from './train/gumbelSoftmax.js';
export { gumbelSoftmax } from './train/gumbelSoftmax.js';
export type { CalibrateEncoderLogitsOptions } from './train/calibrateEncoderLogits.js';
export { calibrateEncoderLogits } from './train/calibrateEncoderLogits.js';
export type { KmeansInitDvaeOptions, KmeansInitDvaeResult } from './train/kmeansInitDvae.js';
export { kmeansInitDvae } from './train/kmeansInitDvae.js';
export { logitLaplaceLogProb, splitDecoderStats } from './train/logitLaplace.js';
export { klToUniform } from './train/klToUniform.js';
export type { CosineAnnealOptions } from './train/cosineAnneal.js';
export { cosineAnneal } from './train/cosineAnneal.js';
export type { CodebookUsage } from './train/codebookUsage.js';
export { codebookUsage, codebookUsageFromCounts } from './train/codebookUsage.js';
export type { DvaeLossOptions, DvaeLossParts } from './train/dvaeLoss.js';
export { dvaeLoss } from './train/dvaeLoss.js';
export type { DvaeParamsPair, InitDvaeOptions } from './train/initDvaeParams.js';
export { initDvaeParams } from './train/initDvaeParams.js';
export type { DvaeSchedule, DvaeStepResult, DvaeTrainerOptions } from './train/DvaeTrainer.js';
export { DvaeTrainer } from './train/DvaeTrainer.js';
export type { DvaeTrainProgress, TrainDvaeOptions } from './train/trainDvae.js';
export { trainDvae } from './train/trainDvae.js';
export type { DvaeCheckpointFiles } from './train/dvaeCheckpointFiles.js';
export { dvaeCheckpointFiles } from './train/dvaeCheckpointFiles.js';
