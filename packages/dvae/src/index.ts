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
export { createDvaeModel, loadDvae } from './loadDvae.js';
