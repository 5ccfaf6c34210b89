// The task API: load a dVAE checkpoint folder and encode / decode images with it.
import {
  type Backend,
  type SafetensorsProgress,
  Tensor,
  argmax,
  createBackend,
  checkOptionKeys,
  isNotFound,
  joinSource,
  loadJsonIfExists,
  loadSafetensors,
  max,
  min,
  sigmoid,
  slice,
  tidy,
} from '@vl/tensor';
import { decoderBytesPerImage, encoderBytesPerImage, mapBatch } from './batchPieces.js';
import { checkDvaePair, type DvaeConfig, parseDvaeConfig } from './config.js';
import { checkConfigArg } from './checkArguments.js';
import {
  checkParamsAgainst,
  decoderShapes,
  type DvaeParams,
  encoderShapes,
  paramsBackend,
} from './dvaeShapes.js';
import { dvaeDecoder } from './dvaeDecoder.js';
import { checkImages, dvaeEncoder } from './dvaeEncoder.js';
import { describeValue } from './describeValue.js';
import { mapPixels, unmapPixels } from './mapPixels.js';
import { checkTokenGrid, checkTokenIds, tokensToOneHot } from './tokensToOneHot.js';

/**
 * Options of {@link loadDvae}.
 *
 * @example
 * ```ts
 * const options: LoadDvaeOptions = { backend: await createBackend('auto') };
 * ```
 */
export interface LoadDvaeOptions {
  /** Where the weights live and every computation runs; default `createBackend('auto')`, disposed with the model. */
  backend?: Backend;
  /** Download progress of each weights file. */
  onProgress?: (progress: SafetensorsProgress) => void;
  /** Aborts the download. */
  signal?: AbortSignal;
}

/**
 * A loaded DALL-E dVAE. Images are f32 NCHW tensors with values in [0, 1] (divide 8-bit pixels by
 * 255); token grids are i32 `[B, H/8, W/8]` (with the default four groups). Returned tensors belong
 * to the caller, who disposes them. Pixel values are not checked by `encode` and `encoderLogits`
 * (that would read the images back from the device): images in 0..255 or with NaN give meaningless
 * tokens without an error; `reconstruct` checks them, and {@link checkImageRange} checks them on
 * request. After `dispose()`, every method throws.
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
  /**
   * Codebook logits `[B, vocab_size, h, w]` of f32 images `[B, C, H, W]` in [0, 1] (map_pixels is
   * applied here; values outside [0, 1] are not detected, see {@link checkImageRange}).
   */
  encoderLogits(images: Tensor): Tensor;
  /**
   * The token grid `[B, h, w]` (i32): the argmax of {@link DvaeModel.encoderLogits}. Images must be
   * f32 in [0, 1]; 0..255 pixels or NaN give meaningless tokens without an error (see {@link checkImageRange}).
   */
  encode(images: Tensor): Tensor;
  /** The decoder's logit-Laplace statistics `[B, 2 * output_channels, H, W]` for a token grid. */
  decoderStats(tokens: Tensor): Promise<Tensor>;
  /** Images in [0, 1]: `unmap_pixels(sigmoid(stats[:, :output_channels]))`. */
  decode(tokens: Tensor): Promise<Tensor>;
  /** `decode(encode(images))`; images outside [0, 1] (or NaN) are an error (one min/max readback). */
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
export async function loadDvae(source: string | URL, options: LoadDvaeOptions = {}): Promise<DvaeModel> {
  if (!(typeof source === 'string' || source instanceof URL) || source === '') {
    throw new TypeError(
      `loadDvae: source must be a checkpoint folder (a path or URL), got ${source === '' ? 'an empty path' : describeValue(source)}`,
    );
  }
  checkOptionKeys('loadDvae', options, ['backend', 'onProgress', 'signal']);
  if (options.backend !== undefined) checkBackend(options.backend, 'loadDvae: options.backend');
  const { onProgress, signal } = options;
  const io = { ...(signal ? { signal } : {}) };
  const rawConfig = await loadJsonIfExists(joinSource(source, 'config.json'), io);
  if (rawConfig === undefined) {
    throw new Error(
      `loadDvae: ${String(source)} has no config.json (a dVAE checkpoint folder holds config.json, encoder.safetensors and decoder.safetensors)`,
    );
  }
  const config = parseDvaeConfig(rawConfig);
  const ownsBackend = options.backend === undefined;
  const backend = options.backend ?? (await createBackend('auto'));
  // f16 / bf16 checkpoints (tooling/dvae-convert --dtype float16) widen to f32 as they load: the
  // convolutions compute in f32.
  const st = { backend, dtype: 'f32' as const, ...io, ...(onProgress ? { onProgress } : {}) };
  const load = async (file: string) => {
    try {
      return await loadSafetensors(joinSource(source, file), st);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      throw new Error(
        `loadDvae: ${String(source)} has no ${file} (the dVAE's ${file.split('.')[0]} weights)`,
        {
          cause: e,
        },
      );
    }
  };
  let enc: Awaited<ReturnType<typeof loadSafetensors>> | undefined;
  let dec: Awaited<ReturnType<typeof loadSafetensors>> | undefined;
  try {
    enc = await load('encoder.safetensors');
    dec = await load('decoder.safetensors');
    checkParamsAgainst(
      'loadDvae',
      'encoder.safetensors',
      enc.tensors,
      encoderShapes(config.encoder),
      'encoder',
    );
    checkParamsAgainst(
      'loadDvae',
      'decoder.safetensors',
      dec.tensors,
      decoderShapes(config.decoder),
      'decoder',
    );
  } catch (e) {
    enc?.dispose();
    dec?.dispose();
    if (ownsBackend) backend.dispose();
    throw e;
  }
  const [e, d] = [enc, dec];
  return createDvaeModel(config, e.tensors, d.tensors, backend, () => {
    e.dispose();
    d.dispose();
    if (ownsBackend) backend.dispose();
  });
}

/** @internal A duck-typed Backend check: the methods every backend implements. */
export function checkBackend(backend: unknown, what: string): asserts backend is Backend {
  const b = backend as Partial<Backend> | null;
  const ok =
    typeof b === 'object' &&
    b !== null &&
    typeof b.kind === 'string' &&
    typeof b.upload === 'function' &&
    typeof b.download === 'function' &&
    typeof b.execute === 'function' &&
    typeof b.release === 'function';
  if (!ok) {
    const got =
      typeof backend === 'string' ? `the string ${JSON.stringify(backend)}` : describeValue(backend);
    throw new TypeError(`${what} must be a Backend from createBackend(), got ${got}`);
  }
  if (b.disposed) throw new Error(`${what} was disposed; create a new one with createBackend()`);
}

/**
 * @internal The error for pixels outside [0, 1] (or NaN) with min `lo` and max `hi`, its message
 * starting with `caller`. Shared by {@link checkImageRange} and the functions that read pixels on
 * the host (kmeansInitDvae).
 */
export function pixelRangeError(caller: string, lo: number, hi: number): RangeError | undefined {
  if (lo >= 0 && hi <= 1) return undefined;
  return new RangeError(
    `${caller}: images must hold pixel values in [0, 1], got values from ${lo} to ${hi}${hi > 1 && hi <= 255 ? ' (8-bit pixels? divide by 255)' : ''}${Number.isNaN(lo) || Number.isNaN(hi) ? ' (NaN pixels)' : ''}`,
  );
}

/**
 * Checks that images hold pixel values in [0, 1], the range the dVAE expects: reads back their
 * min and max (two numbers), so it is async. Pixels in 0..255 (divide by 255) or NaN would
 * otherwise encode to meaningless tokens without an error.
 *
 * @example
 * ```ts
 * await checkImageRange(images); // throws on images with values from 0 to 255
 * const tokens = dvae.encode(images);
 * ```
 */
export async function checkImageRange(images: Tensor): Promise<void> {
  if (!(images instanceof Tensor))
    throw new TypeError(`checkImageRange: images must be a tensor, got ${describeValue(images)}`);
  await checkPixelRange(images, 'checkImageRange');
}

/**
 * @internal {@link checkImageRange} with the error's message starting with `caller`: reads back the
 * min and max of `images` (a live tensor) on their own backend; nothing to check in an empty one.
 */
export async function checkPixelRange(images: Tensor, caller: string): Promise<void> {
  if (images.size === 0) return;
  const lo = min(images); // []
  const hi = max(images); // []
  try {
    const [a, b] = await Promise.all([lo.item(), hi.item()]);
    const error = pixelRangeError(caller, a, b);
    if (error) throw error;
  } finally {
    lo.dispose();
    hi.dispose();
  }
}

/**
 * Wraps already-loaded params in the {@link DvaeModel} API (for weights that come from somewhere
 * other than a folder, such as training). The params are checked against the config as
 * {@link loadDvae} checks a checkpoint (a missing, misshapen or non-f32 tensor is named); on an
 * error the caller still owns them. Every param must live on `backend` (a Backend from
 * `createBackend()`), where the model computes. `reconstruct` also needs the two halves to make a
 * pair (equal `group_count`, decoder `output_channels` equal to encoder `input_channels`);
 * `encode` and `decode` each use one half.
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
  const caller = 'createDvaeModel';
  checkConfigArg(caller, config);
  checkParamsAgainst(caller, 'encoderParams', encoderParams, encoderShapes(config.encoder), 'encoder');
  checkParamsAgainst(caller, 'decoderParams', decoderParams, decoderShapes(config.decoder), 'decoder');
  checkBackend(backend, 'createDvaeModel: backend');
  if (typeof disposeParams !== 'function') {
    // Checked now: it is called only by dispose(), long after the mistake.
    throw new TypeError(
      `createDvaeModel: disposeParams must be a function that frees the params (() => {} to keep them), got ${describeValue(disposeParams)}`,
    );
  }
  // Params on another backend would fail inside the first conv, naming neither the param nor `backend`.
  const home = paramsBackend({ encoder: encoderParams, decoder: decoderParams }, 'createDvaeModel');
  if (home !== backend) {
    throw new Error(
      `createDvaeModel: the params are on another backend (${home.name}) than backend (${backend.name}); pass the params' backend, or move the params with toBackend()`,
    );
  }
  const eps = config.logit_laplace_eps;
  const c = config.decoder.output_channels;
  let disposed = false;
  const alive = (what: string) => {
    if (disposed) throw new Error(`DvaeModel.${what}: the dVAE was disposed (used after dispose())`);
  };
  // Kernels refuse inputs from two backends, in their own words; this names the argument.
  const sameBackend = (t: Tensor, arg: string, what: string) => {
    if (t instanceof Tensor && t.backend !== backend) {
      throw new Error(
        `DvaeModel.${what}: ${arg} ${t.describe()} are on another backend (${t.backend.name}) than the dVAE (${backend.name}); move them with toBackend(${arg}, dvae.backend)`,
      );
    }
  };
  // Batches too large for one binding of the device run in pieces (batchPieces.ts).
  const imageBytes = (images: Tensor) =>
    encoderBytesPerImage(config.encoder, images.shape[2]!, images.shape[3]!);
  const logitsOf = (images: Tensor): Tensor =>
    tidy(() => dvaeEncoder(encoderParams, mapPixels(images, eps), config.encoder)); // [b, V, h, w]
  const encoderLogits = (images: Tensor): Tensor => {
    alive('encoderLogits');
    checkImages('DvaeModel.encoderLogits', 'images', images, config.encoder); // before mapPixels, so the error speaks of images
    sameBackend(images, 'images', 'encoderLogits');
    return mapBatch(images, imageBytes(images), logitsOf); // [B, V, h, w]
  };
  const encode = (images: Tensor): Tensor => {
    alive('encode');
    checkImages('DvaeModel.encode', 'images', images, config.encoder);
    sameBackend(images, 'images', 'encode');
    return mapBatch(images, imageBytes(images), (x) => tidy(() => argmax(logitsOf(x), 1))); // i32[B, h, w]
  };
  const decoderStats = async (tokens: Tensor, what = 'decoderStats'): Promise<Tensor> => {
    alive(what);
    sameBackend(tokens, 'tokens', what);
    checkTokenGrid(`DvaeModel.${what}`, tokens);
    await checkTokenIds(`DvaeModel.${what}`, tokens, config.decoder.vocab_size);
    alive(what); // the model may have been disposed while the ids were read
    const bytes = decoderBytesPerImage(config.decoder, tokens.shape[1]!, tokens.shape[2]!);
    return mapBatch(tokens, bytes, (t) =>
      tidy(() => dvaeDecoder(decoderParams, tokensToOneHot(t, config.decoder.vocab_size), config.decoder)),
    ); // [B, 2C, H, W]
  };
  const decode = async (tokens: Tensor, what = 'decode'): Promise<Tensor> => {
    const stats = await decoderStats(tokens, what); // [B, 2C, H, W]
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
    decoderStats: (tokens: Tensor) => decoderStats(tokens),
    decode: (tokens: Tensor) => decode(tokens),
    async reconstruct(images: Tensor): Promise<Tensor> {
      alive('reconstruct');
      checkDvaePair(config, 'DvaeModel.reconstruct');
      checkImages('DvaeModel.reconstruct', 'images', images, config.encoder);
      sameBackend(images, 'images', 'reconstruct');
      await checkPixelRange(images, 'DvaeModel.reconstruct');
      alive('reconstruct');
      const tokens = encode(images); // i32[B, h, w]
      try {
        return await decode(tokens, 'reconstruct'); // [B, C, H, W]
      } finally {
        tokens.dispose();
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      disposeParams();
    },
  };
}
