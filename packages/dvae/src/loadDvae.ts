// The task API: load a dVAE checkpoint folder and encode / decode images with it.
import {
  type Backend,
  type SafetensorsProgress,
  type Tensor,
  argmax,
  joinSource,
  loadJson,
  loadSafetensors,
  sigmoid,
  slice,
  tidy,
} from '@vl/tensor';
import { decoderBytesPerImage, encoderBytesPerImage, mapBatch } from './batchPieces.js';
import { type DvaeConfig, parseDvaeConfig } from './config.js';
import { checkDvaeParams, decoderShapes, type DvaeParams, encoderShapes } from './dvaeShapes.js';
import { dvaeDecoder } from './dvaeDecoder.js';
import { checkEncoderInput, dvaeEncoder } from './dvaeEncoder.js';
import { mapPixels, unmapPixels } from './mapPixels.js';
import { checkTokens, tokensToOneHot } from './tokensToOneHot.js';

/**
 * Options of {@link loadDvae}.
 *
 * @example
 * ```ts
 * const options: LoadDvaeOptions = { backend: await createBackend('auto') };
 * ```
 */
export interface LoadDvaeOptions {
  /** Where the weights live and every computation runs. */
  backend: Backend;
  /** Download progress of each weights file. */
  onProgress?: (progress: SafetensorsProgress) => void;
  /** Aborts the download. */
  signal?: AbortSignal;
}

/**
 * A loaded DALL-E dVAE. Images are f32 NCHW in [0, 1]; token grids are i32 `[B, H/8, W/8]` (with
 * the default four groups). Returned tensors belong to the caller, who disposes them.
 *
 * @example
 * ```ts
 * const dvae = await loadDvae('/models/dvae', { backend });
 * const tokens = dvae.encode(images); // i32[B, 32, 32]
 * const images2 = await dvae.decode(tokens); // f32[B, 3, 256, 256]
 * dvae.dispose();
 * ```
 */
export interface DvaeModel {
  /** The parsed `config.json`. */
  readonly config: DvaeConfig;
  /** Where the weights live and every computation runs. */
  readonly backend: Backend;
  /** The encoder's tensors by checkpoint name. */
  readonly encoderParams: DvaeParams;
  /** The decoder's tensors by checkpoint name. */
  readonly decoderParams: DvaeParams;
  /** Codebook logits `[B, vocab_size, h, w]` of images in [0, 1] (map_pixels is applied here). */
  encoderLogits(images: Tensor): Tensor;
  /** The token grid `[B, h, w]` (i32): the argmax of {@link DvaeModel.encoderLogits}. */
  encode(images: Tensor): Tensor;
  /** The decoder's logit-Laplace statistics `[B, 2 * output_channels, H, W]` for a token grid. */
  decoderStats(tokens: Tensor): Promise<Tensor>;
  /** Images in [0, 1]: `unmap_pixels(sigmoid(stats[:, :output_channels]))`. */
  decode(tokens: Tensor): Promise<Tensor>;
  /** `decode(encode(images))`. */
  reconstruct(images: Tensor): Promise<Tensor>;
  /** Frees the weights. */
  dispose(): void;
}

/**
 * Loads a dVAE checkpoint folder (a path or URL) holding `config.json`, `encoder.safetensors` and
 * `decoder.safetensors`, with dall_e's tensor names. Every tensor's shape is checked against the
 * config; a mismatch names the tensor and both shapes.
 *
 * @example
 * ```ts
 * const backend = await createBackend('auto');
 * const dvae = await loadDvae('https://example.com/dvae/', { backend });
 * const tokens = dvae.encode(images); // [B, 3, 256, 256] -> i32[B, 32, 32]
 * ```
 */
export async function loadDvae(source: string | URL, options: LoadDvaeOptions): Promise<DvaeModel> {
  const { backend, onProgress, signal } = options;
  const io = { ...(signal ? { signal } : {}) };
  const config = parseDvaeConfig(await loadJson(joinSource(source, 'config.json'), io));
  const st = { backend, ...io, ...(onProgress ? { onProgress } : {}) };
  const enc = await loadSafetensors(joinSource(source, 'encoder.safetensors'), st);
  let dec: Awaited<ReturnType<typeof loadSafetensors>> | undefined;
  try {
    dec = await loadSafetensors(joinSource(source, 'decoder.safetensors'), st);
    checkDvaeParams(enc.tensors, encoderShapes(config.encoder), 'encoder');
    checkDvaeParams(dec.tensors, decoderShapes(config.decoder), 'decoder');
  } catch (e) {
    enc.dispose();
    dec?.dispose();
    throw e;
  }
  return createDvaeModel(config, enc.tensors, dec.tensors, backend, () => {
    enc.dispose();
    dec?.dispose();
  });
}

/**
 * Wraps already-loaded, already-checked params in the {@link DvaeModel} API (for weights that come
 * from somewhere other than a folder, such as training).
 *
 * @example
 * ```ts
 * const dvae = createDvaeModel(config, encParams, decParams, backend, () => {});
 * ```
 */
export function createDvaeModel(
  config: DvaeConfig,
  encoderParams: DvaeParams,
  decoderParams: DvaeParams,
  backend: Backend,
  disposeParams: () => void,
): DvaeModel {
  const eps = config.logit_laplace_eps;
  const c = config.decoder.output_channels;
  // Batches too large for one binding of the device run in pieces (batchPieces.ts).
  const imageBytes = (images: Tensor) =>
    encoderBytesPerImage(config.encoder, images.shape[2]!, images.shape[3]!);
  const logitsOf = (images: Tensor): Tensor =>
    tidy(() => dvaeEncoder(encoderParams, mapPixels(images, eps), config.encoder)); // [b, V, h, w]
  const encoderLogits = (images: Tensor): Tensor => {
    checkEncoderInput(images, config.encoder); // before mapPixels, so the error speaks of images
    return mapBatch(images, imageBytes(images), logitsOf); // [B, V, h, w]
  };
  const encode = (images: Tensor): Tensor => {
    checkEncoderInput(images, config.encoder);
    return mapBatch(images, imageBytes(images), (x) => tidy(() => argmax(logitsOf(x), 1))); // i32[B, h, w]
  };
  const decoderStats = async (tokens: Tensor): Promise<Tensor> => {
    await checkTokens(tokens, config.decoder.vocab_size);
    const bytes = decoderBytesPerImage(config.decoder, tokens.shape[1]!, tokens.shape[2]!);
    return mapBatch(tokens, bytes, (t) =>
      tidy(() => dvaeDecoder(decoderParams, tokensToOneHot(t, config.decoder.vocab_size), config.decoder)),
    ); // [B, 2C, H, W]
  };
  const decode = async (tokens: Tensor): Promise<Tensor> => {
    const stats = await decoderStats(tokens); // [B, 2C, H, W]
    try {
      const [b, , h, w] = stats.shape as [number, number, number, number];
      return tidy(() => unmapPixels(sigmoid(slice(stats, [0, 0, 0, 0], [b, c, h, w])), eps)); // [B, C, H, W]
    } finally {
      stats.dispose();
    }
  };
  return {
    config,
    backend,
    encoderParams,
    decoderParams,
    encoderLogits,
    encode,
    decoderStats,
    decode,
    async reconstruct(images: Tensor): Promise<Tensor> {
      const tokens = encode(images); // i32[B, h, w]
      try {
        return await decode(tokens); // [B, C, H, W]
      } finally {
        tokens.dispose();
      }
    },
    dispose: disposeParams,
  };
}
