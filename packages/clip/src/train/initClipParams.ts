import { type Backend, type Shape, Rng, type Tensor, full, randomNormal, zeros } from '@vl/tensor';
import { clipShapes } from '../model/clipModel.js';
import type { ClipConfig } from '../model/config.js';

/** Options for {@link initClipParams}. */
export interface InitClipOptions {
  backend: Backend;
  /** Seed of the weights (default 0). */
  seed?: number;
}

/**
 * Fresh CLIP parameters for training from scratch, initialized as HF `CLIPModel._init_weights`
 * does for its defaults: normal(0, 0.02) for linear and embedding weights (the patch embedding
 * too), zero biases, unit LayerNorm gains, and `logit_scale = logit_scale_init_value`.
 *
 * @example
 * ```ts
 * const params = initClipParams(config, { backend, seed: 1 });
 * ```
 */
export function initClipParams(config: ClipConfig, options: InitClipOptions): Map<string, Tensor> {
  const { backend } = options;
  const rng = new Rng(options.seed ?? 0);
  const params = new Map<string, Tensor>();
  for (const [name, shape] of clipShapes(config)) params.set(name, init(name, shape));
  return params;

  function init(name: string, shape: Shape): Tensor {
    if (name === 'logit_scale') return full([], config.logit_scale_init_value, { backend });
    const isNorm = /layer_?norm|layrnorm/.test(name);
    if (name.endsWith('.bias')) return zeros(shape, { backend });
    if (isNorm) return full(shape, 1, { backend });
    return randomNormal(shape, { backend, seed: rng.next(), std: 0.02 });
  }
}
