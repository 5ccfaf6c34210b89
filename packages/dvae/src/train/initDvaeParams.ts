// Fresh dVAE parameters, drawn the way dall_e's Conv2d initializes itself.
import { type Backend, Rng, type Tensor, randomNormal, zeros } from '@vl/tensor';
import type { DvaeConfig } from '../config.js';
import { decoderShapes, encoderShapes } from '../dvaeShapes.js';

/**
 * Options of {@link initDvaeParams}.
 *
 * @example
 * ```ts
 * const options: InitDvaeOptions = { backend, seed: 1 };
 * ```
 */
export interface InitDvaeOptions {
  /** Where the tensors live. */
  backend: Backend;
  /** Seed (or an Rng to draw one from) of the weights (default 0). */
  seed?: number | Rng;
}

/**
 * Both halves' parameters by checkpoint name.
 *
 * @example
 * ```ts
 * const { encoder, decoder }: DvaeParamsPair = initDvaeParams(config, { backend });
 * ```
 */
export interface DvaeParamsPair {
  /** The encoder's tensors (`blocks.input.w`, ...). */
  encoder: Map<string, Tensor>;
  /** The decoder's tensors. */
  decoder: Map<string, Tensor>;
}

function initHalf(shapes: Map<string, number[]>, backend: Backend, rng: Rng): Map<string, Tensor> {
  const params = new Map<string, Tensor>();
  for (const [name, shape] of shapes) {
    if (name.endsWith('.b')) {
      params.set(name, zeros(shape, { backend })); // [O]
    } else {
      // dall_e: w ~ N(0, 1 / (n_in * kw²)), i.e. unit fan-in variance.
      const [, nIn = 1, kh = 1, kw = 1] = shape;
      const std = 1 / Math.sqrt(nIn * kh * kw);
      params.set(name, randomNormal(shape, { backend, seed: rng.next(), std })); // [O, C, k, k]
    }
  }
  return params;
}

/**
 * Fresh parameters for `config`, initialized as dall_e's `Conv2d` does: weights normal with
 * standard deviation `1 / sqrt(n_in * kw²)`, zero biases. The names and shapes are those of
 * {@link encoderShapes} and {@link decoderShapes}, so the result saves as a loadable checkpoint.
 * The caller owns (and disposes) the tensors.
 *
 * @example
 * ```ts
 * const params = initDvaeParams(config, { backend, seed: 1 });
 * const trainer = new DvaeTrainer(params, config, { steps: 10_000 });
 * ```
 */
export function initDvaeParams(config: DvaeConfig, options: InitDvaeOptions): DvaeParamsPair {
  const { backend } = options;
  const seed = options.seed ?? 0;
  const rng = seed instanceof Rng ? seed : new Rng(seed);
  return {
    encoder: initHalf(encoderShapes(config.encoder), backend, rng),
    decoder: initHalf(decoderShapes(config.decoder), backend, rng),
  };
}
