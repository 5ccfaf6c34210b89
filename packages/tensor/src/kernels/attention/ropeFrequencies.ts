// Rotary-embedding inverse frequencies, computed the way Hugging Face transformers computes them
// (modeling_rope_utils.py: _compute_default_rope_parameters, _compute_linear_scaling_rope_parameters,
// _compute_llama3_parameters) in float32 like torch, so the angles match checkpoints bit for bit.

/**
 * How the rotary frequencies are scaled for contexts longer than the model was trained on
 * (`rope_scaling` of a Hugging Face config, in camelCase).
 *
 * @example
 * ```ts
 * const scaling: RopeScaling = { type: 'linear', factor: 4 };
 * ```
 */
export type RopeScaling =
  | { readonly type: 'linear'; readonly factor: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

const f32 = Math.fround;
/** 2π as the f32 scalar torch multiplies by (`2 * math.pi / inv_freq` is `inv_freq.reciprocal() * 2π`). */
const TWO_PI_F32 = f32(2 * Math.PI);

/**
 * `inv_freq[i] = 1 / theta^(2i / rotaryDim)` for i < rotaryDim / 2, in f32, then scaled.
 *
 * torch evaluates `1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))`: the exponent is an f32
 * division, the power an f32 pow and `1.0 / t` is `t.reciprocal() * 1.0`; each step rounds to f32.
 *
 * @example
 * ```ts
 * const invFreq = ropeInverseFrequencies(128, 500000, {
 *   type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192,
 * }); // Float32Array(64), Llama 3.1
 * ```
 */
export function ropeInverseFrequencies(
  rotaryDim: number,
  theta: number,
  scaling?: RopeScaling,
): Float32Array {
  if (!Number.isInteger(rotaryDim) || rotaryDim < 0 || rotaryDim % 2 !== 0)
    throw new RangeError(`ropeInverseFrequencies: rotaryDim must be an even integer >= 0, got ${rotaryDim}`);
  if (!(theta > 0 && Number.isFinite(theta)))
    throw new RangeError(`ropeInverseFrequencies: theta must be a finite number > 0, got ${theta}`);
  const half = rotaryDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f32(1 / f32(f32(theta) ** f32((2 * i) / rotaryDim)));
  if (!scaling) return inv;
  if (scaling.type === 'linear') return inv.map((x) => f32(x / f32(scaling.factor)));
  return llama3(inv, scaling);
}

function llama3(inv: Float32Array, s: Extract<RopeScaling, { type: 'llama3' }>): Float32Array {
  const factor = f32(s.factor);
  const oldContext = s.originalMaxPositionEmbeddings;
  // Python floats; torch compares and subtracts them as f32 scalars.
  const lowFreqWavelen = f32(oldContext / s.lowFreqFactor);
  const highFreqWavelen = f32(oldContext / s.highFreqFactor);
  const smoothDenominator = f32(s.highFreqFactor - s.lowFreqFactor);
  return inv.map((x) => {
    const wavelen = f32(f32(1 / x) * TWO_PI_F32);
    // Long wavelengths (low frequencies) are divided by the factor, short ones kept.
    const scaled = wavelen > lowFreqWavelen ? f32(x / factor) : x;
    const medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    if (!medium) return scaled;
    // In between, interpolate: smooth = (old_context_len / wavelen - low) / (high - low).
    const smooth = f32(
      f32(f32(f32(1 / wavelen) * f32(oldContext)) - f32(s.lowFreqFactor)) / smoothDenominator,
    );
    const a = f32(f32(f32(1 - smooth) * scaled) / factor);
    return f32(a + f32(smooth * scaled));
  });
}
