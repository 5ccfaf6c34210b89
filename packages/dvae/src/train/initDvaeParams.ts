// Fresh dVAE parameters, drawn the way dall_e's Conv2d initializes itself.
import { type Backend, Rng, type Tensor, checkOptionKeys, randomNormal, zeros } from '@vl/tensor';
import type { DvaeConfig } from '../config.js';
import { checkConfigArg } from '../checkArguments.js';
import { decoderShapes, encoderShapes } from '../dvaeShapes.js';
import { checkBackend } from '../loadDvae.js';

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

function initHalf(
  shapes: Map<string, number[]>,
  backend: Backend,
  rng: Rng,
  params: Map<string, Tensor>,
): Map<string, Tensor> {
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

/** A residual block's hidden width is `floor(n_out / 4)`: below 4 channels its convs would be empty. */
function checkWidths(config: DvaeConfig): void {
  for (const [what, nHid] of [
    ['encoder.n_hid', config.encoder.n_hid],
    ['decoder.n_hid', config.decoder.n_hid],
  ] as const) {
    if (nHid < 4) {
      throw new RangeError(
        `initDvaeParams: ${what} is ${nHid}, it must be at least 4 (the residual blocks compute n_hid / 4 hidden channels, rounded down)`,
      );
    }
  }
}

/**
 * Fresh parameters for `config`, initialized as dall_e's `Conv2d` does: weights normal with
 * standard deviation `1 / sqrt(n_in * kw²)`, zero biases. The names and shapes are those of
 * {@link encoderShapes} and {@link decoderShapes}, so the result saves as a loadable checkpoint.
 * The caller owns (and disposes) the tensors. Unknown option keys are refused (a misspelled `seed`
 * would otherwise be ignored), and so is an `n_hid` below 4, which leaves the residual blocks no
 * hidden channels; on an error no tensor is left behind.
 *
 * @example
 * ```ts
 * const params = initDvaeParams(config, { backend, seed: 1 });
 * const trainer = new DvaeTrainer(params, config, { lr: 1e-3 });
 * ```
 */
export function initDvaeParams(config: DvaeConfig, options: InitDvaeOptions): DvaeParamsPair {
  checkConfigArg('initDvaeParams', config);
  checkOptionKeys('initDvaeParams', options, ['backend', 'seed']);
  const { backend } = options;
  checkBackend(backend, 'initDvaeParams: options.backend');
  checkWidths(config);
  const seed = options.seed ?? 0;
  const rng = seed instanceof Rng ? seed : new Rng(seed);
  const encoder = new Map<string, Tensor>();
  const decoder = new Map<string, Tensor>();
  try {
    initHalf(encoderShapes(config.encoder), backend, rng, encoder);
    initHalf(decoderShapes(config.decoder), backend, rng, decoder);
  } catch (e) {
    for (const t of [...encoder.values(), ...decoder.values()]) t.dispose();
    throw e;
  }
  return { encoder, decoder };
}
