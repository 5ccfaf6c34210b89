// One qkv projection per encoder block instead of three: q_proj, k_proj and v_proj stacked into a
// `[3·C, C]` weight (and a `[3·C]` bias) that one matmul applies and attentionQkv reads in place.
// For inference: on a GPU the one product fills three times as many tiles, on the CPU one call does
// the work of three (ViT-B/32 2-8% faster in A/B runs), and no slice or transpose of the heads remains.
// Training keeps the three checkpoint tensors.
import { type Tensor, concat, keep } from '@vl/tensor';
import { checkObject, checkParamsMap } from '../checkArguments.js';
import type { ClipParams } from './params.js';

const Q = '.self_attn.q_proj.weight';

/**
 * Which blocks {@link fuseQkvProjections} fuses.
 *
 * @example
 * ```ts
 * const fused = fuseQkvProjections(params, { layers: 23 }); // a LLaVA tower read at layer -2 of 24
 * ```
 */
export interface FuseQkvOptions {
  /**
   * Fuse only the first `layers` blocks of each encoder (`….encoder.layers.<i>.…` with i < layers),
   * for a model that never runs the rest (a VLM reading an earlier layer of its vision tower).
   * Default: all of them.
   */
  layers?: number;
}

/**
 * The fused `…self_attn.qkv_proj.weight` `[3·C, C]` and `…qkv_proj.bias` `[3·C]` of every transformer
 * block in `params` (both towers), as new tensors the caller owns (kept past an enclosing `tidy`);
 * the encoder blocks use them when the params they are given hold them. Blocks whose q, k and v
 * differ in shape, dtype or in having biases, or are stored as q8/q4, are left out (they keep the
 * three products).
 *
 * @example
 * ```ts
 * const fused = fuseQkvProjections(params);
 * const features = getImageFeatures(new Map([...params, ...fused]), pixels, config);
 * for (const t of fused.values()) t.dispose();
 * ```
 */
export function fuseQkvProjections(params: ClipParams, options: FuseQkvOptions = {}): Map<string, Tensor> {
  checkParamsMap('fuseQkvProjections', params);
  checkObject('fuseQkvProjections', 'options', options, 'an object { layers? }');
  const { layers = Number.POSITIVE_INFINITY } = options;
  if (!(layers >= 0) || (Number.isFinite(layers) && !Number.isInteger(layers)))
    throw new RangeError(`fuseQkvProjections: options.layers must be an integer >= 0, got ${layers}`);
  const fused = new Map<string, Tensor>();
  try {
    fuseInto(fused, params, layers);
  } catch (e) {
    for (const t of fused.values()) t.dispose(); // no half-made set is left behind
    throw e;
  }
  return fused;
}

function fuseInto(fused: Map<string, Tensor>, params: ClipParams, layers: number): void {
  for (const name of params.keys()) {
    if (!name.endsWith(Q)) continue;
    const block = /\.encoder\.layers\.(\d+)\./.exec(name);
    if (!block || Number(block[1]) >= layers) continue;
    const attn = name.slice(0, -'.q_proj.weight'.length); // …self_attn
    const parts = ['q_proj', 'k_proj', 'v_proj'];
    const weights = parts.map((p) => params.get(`${attn}.${p}.weight`));
    const biases = parts.map((p) => params.get(`${attn}.${p}.bias`));
    const shape = weights[0]!.shape.join();
    if (weights.some((w) => w?.shape.length !== 2 || w.shape.join() !== shape)) continue;
    // Block-quantized weights cannot be stacked (each keeps its scales after its values).
    const dtype = weights[0]!.dtype;
    if (dtype === 'q8' || dtype === 'q4' || weights.some((w) => w!.dtype !== dtype)) continue;
    const withBias = biases.filter(Boolean).length;
    if (withBias !== 0 && withBias !== 3) continue;
    fused.set(`${attn}.qkv_proj.weight`, keep(concat(weights as Tensor[], 0))); // [3·C, C]
    if (withBias === 3) fused.set(`${attn}.qkv_proj.bias`, keep(concat(biases as Tensor[], 0))); // [3·C]
  }
}

/**
 * A model's params as its forward passes read them: with `fuse`, plus the fused qkv projections,
 * made on first use and freed by `dispose()` (the params themselves stay the caller's). The fused
 * copy is of the params as they were then: replacing a tensor in the source map later is not seen.
 * While any of the params is being differentiated (recorded for `grad`), the unfused params are
 * returned, so that gradients reach q_proj, k_proj and v_proj.
 *
 * @example
 * ```ts
 * const weights = new FusedQkvParams(params, true);
 * const features = tidy(() => getImageFeatures(weights.params, pixels, config));
 * weights.dispose();
 * ```
 */
export class FusedQkvParams {
  readonly #source: ClipParams;
  readonly #fuse: boolean;
  readonly #options: FuseQkvOptions;
  #fused: Map<string, Tensor> | undefined;
  #params: ClipParams | undefined;

  constructor(source: ClipParams, fuse: boolean, options: FuseQkvOptions = {}) {
    // Checked here: the params are first read on first use, far from this call.
    checkParamsMap('FusedQkvParams', source, 'source');
    checkObject('FusedQkvParams', 'options', options, 'an object { layers? }');
    this.#source = source;
    this.#fuse = fuse;
    this.#options = { ...options };
  }

  /** The params to run with. */
  get params(): ClipParams {
    for (const t of this.#source.values()) if (t.tracked) return this.#source;
    if (this.#params) return this.#params;
    this.#fused = this.#fuse ? fuseQkvProjections(this.#source, this.#options) : new Map();
    this.#params = this.#fused.size > 0 ? new Map([...this.#source, ...this.#fused]) : this.#source;
    return this.#params;
  }

  /** Frees the fused tensors (not the source params). */
  dispose(): void {
    for (const t of this.#fused?.values() ?? []) t.dispose();
    this.#fused = undefined;
    this.#params = undefined;
  }
}
