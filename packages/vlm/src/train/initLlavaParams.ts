// Fresh LLaVA parameters for training: the projector and the Llama decoder initialized as HF
// transformers' `_init_weights` does (normal(0, initializer_range) for linear and embedding weights,
// zero biases, unit RMSNorm gains), and the vision tower either initialized the same way or taken
// from a trained CLIP, as LLaVA does (its tower is a pretrained CLIP image encoder).
import { type Backend, Rng, type Shape, type Tensor, full, randomNormal, zeros } from '@vl/tensor';
import { argumentError, checkLlavaConfig, checkObject, checkTensorMap } from '../checkArguments.js';
import type { LlavaConfig } from '../model/config.js';
import { checkVlmParams, llavaShapes } from '../model/params.js';

/** Options of {@link initLlavaParams}. */
export interface InitLlavaOptions {
  /** Where the new tensors live. */
  backend: Backend;
  /** Seed of the weights (default 0). */
  seed?: number;
  /** Std of the normal init of linear and embedding weights (HF `initializer_range`, default 0.02). */
  std?: number;
  /**
   * A trained vision tower under `vision_tower.*` (e.g. {@link visionTowerFromClip} of a CLIP's
   * params): used as is (the tensors are shared, not copied) instead of a random one. Its shapes
   * must match `config.vision_config`.
   */
  visionTower?: ReadonlyMap<string, Tensor>;
}

/**
 * The vision tower of HF CLIP params (`vision_model.*`, as `loadClip` and `ClipTrainer` name them)
 * under the names LLaVA reads (`vision_tower.*`). The tensors are shared, not copied; the text tower
 * and the projections are left out.
 *
 * @example
 * ```ts
 * const clip = await loadClip('/models/shapes-clip', { backend });
 * const tower = visionTowerFromClip(clip.params); // 'vision_model.post_layernorm.weight' -> 'vision_tower.post_layernorm.weight'
 * ```
 */
export function visionTowerFromClip(clipParams: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  checkTensorMap('visionTowerFromClip', 'clipParams', clipParams);
  const out = new Map<string, Tensor>();
  for (const [name, t] of clipParams) {
    if (name.startsWith('vision_model.')) out.set(`vision_tower.${name.slice('vision_model.'.length)}`, t);
  }
  if (out.size === 0)
    throw new Error('visionTowerFromClip: the params have no vision_model.* tensors (is it a CLIP?)');
  return out;
}

function checkInitArguments(config: unknown, options: unknown): void {
  const fn = 'initLlavaParams';
  checkLlavaConfig(fn, config);
  checkObject(fn, 'options', options, 'an object with the backend');
  const { backend, seed, std, visionTower } = options as Partial<InitLlavaOptions>;
  checkObject(fn, 'options.backend', backend, 'a Backend');
  if (seed !== undefined && typeof seed !== 'number')
    throw argumentError(fn, 'options.seed', 'a number', seed);
  if (std !== undefined && typeof std !== 'number') throw argumentError(fn, 'options.std', 'a number', std);
  if (visionTower !== undefined) checkTensorMap(fn, 'options.visionTower', visionTower);
}

/**
 * Fresh LLaVA parameters (every tensor of `llavaShapes(config)`) for training from scratch: HF's
 * init for the projector and the decoder, and for the vision tower unless `visionTower` gives a
 * trained one.
 *
 * @example
 * ```ts
 * const params = initLlavaParams(config, { backend, seed: 1, visionTower: visionTowerFromClip(clip.params) });
 * const trainer = new VlmTrainer(params, config, { lr: 1e-3 });
 * ```
 */
export function initLlavaParams(config: LlavaConfig, options: InitLlavaOptions): Map<string, Tensor> {
  checkInitArguments(config, options);
  const { backend, visionTower } = options;
  const std = options.std ?? 0.02;
  const rng = new Rng(options.seed ?? 0);
  const shapes = llavaShapes(config);
  if (visionTower) {
    const expected = new Map([...shapes].filter(([name]) => name.startsWith('vision_tower.')));
    checkVlmParams(visionTower, expected);
  }
  const params = new Map<string, Tensor>();
  for (const [name, shape] of shapes) {
    const given = name.startsWith('vision_tower.') ? visionTower?.get(name) : undefined;
    params.set(name, given ?? init(name, shape));
  }
  return params;

  function init(name: string, shape: Shape): Tensor {
    if (name.endsWith('.bias')) return zeros(shape, { backend });
    // RMSNorm gains (`*layernorm.weight`, `norm.weight`) and CLIP's LayerNorm gains (`layrnorm`).
    if (/(layer_?norm\d?|layrnorm|\.norm)\.weight$/.test(name)) return full(shape, 1, { backend });
    return randomNormal(shape, { backend, seed: rng.next(), std });
  }
}
