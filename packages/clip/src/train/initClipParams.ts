import {
  type Backend,
  type Shape,
  Rng,
  type Tensor,
  checkOptionKeys,
  full,
  randomNormal,
  zeros,
} from '@vl/tensor';
import { argumentError, checkConfigArg } from '../checkArguments.js';
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
 * does (initializer_factor 1, initializer_range 0.02), with d a tower's width and L its depth:
 * token, position and patch embeddings normal(0, 0.02); the class embedding and both projections
 * normal(0, d^-0.5); attention q/k/v normal(0, d^-0.5 (2L)^-0.5) and out_proj normal(0, d^-0.5);
 * MLP fc1 normal(0, (2d)^-0.5) and fc2 normal(0, d^-0.5 (2L)^-0.5); zero biases, unit LayerNorm
 * gains, and `logit_scale = logit_scale_init_value`; a convolutional stem's convs (a vl extension)
 * normal(0, sqrt(2 / fan_in)). (A flat 0.02 everywhere starts the blocks
 * 2-5x smaller than this at small widths, and a tower's output then barely depends on its input.)
 *
 * @example
 * ```ts
 * const params = initClipParams(config, { backend, seed: 1 });
 * ```
 */
export function initClipParams(config: ClipConfig, options: InitClipOptions): Map<string, Tensor> {
  checkConfigArg('initClipParams', config);
  checkOptionKeys('initClipParams', options, ['backend', 'seed']);
  const { backend } = options;
  if (typeof (backend as { upload?: unknown } | undefined)?.upload !== 'function')
    throw argumentError('initClipParams', 'options.backend', 'a Backend from createBackend()', backend);
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed))
    throw argumentError('initClipParams', 'options.seed', 'a safe integer', options.seed);
  const rng = new Rng(options.seed ?? 0);
  const params = new Map<string, Tensor>();
  for (const [name, shape] of clipShapes(config)) params.set(name, init(name, shape));
  return params;

  function init(name: string, shape: Shape): Tensor {
    if (name === 'logit_scale') return full([], config.logit_scale_init_value, { backend });
    const isNorm = /layer_?norm|layrnorm/.test(name);
    if (name.endsWith('.bias')) return zeros(shape, { backend });
    if (isNorm) return full(shape, 1, { backend });
    return randomNormal(shape, { backend, seed: rng.next(), std: stdOf(name, shape) });
  }

  function stdOf(name: string, shape: Shape): number {
    const tower = name.startsWith('text') ? config.text_config : config.vision_config;
    const d = tower.hidden_size;
    const depth = (2 * tower.num_hidden_layers) ** -0.5;
    if (/self_attn\.[qkv]_proj\.weight$/.test(name)) return d ** -0.5 * depth;
    if (/self_attn\.out_proj\.weight$/.test(name)) return d ** -0.5;
    if (/mlp\.fc1\.weight$/.test(name)) return (2 * d) ** -0.5;
    if (/mlp\.fc2\.weight$/.test(name)) return d ** -0.5 * depth;
    if (/class_embedding$|(text|visual)_projection\.weight$/.test(name)) return d ** -0.5;
    // A convolutional stem's 3x3 convs, followed by ReLU: He init, sqrt(2 / fan_in).
    if (/conv_stem\.\d+\.weight$/.test(name)) return Math.sqrt(2 / (shape[1]! * 9));
    return 0.02; // token, position and patch embeddings
  }
}
