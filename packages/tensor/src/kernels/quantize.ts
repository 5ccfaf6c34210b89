// Block-quantized weights (q8, q4; layout in QuantizedDType, src/dtype.ts): quantizeWeight turns
// an f32 weight into one, dequantize turns it back. Matmul reads them directly (./matmul/), so a
// model keeps its weights at 1.125 or 0.625 bytes per value and never materializes f32 copies.
import type { TensorInfo } from '../backend.js';
import { type GpuContext, type GpuTensor, workgroups1d } from '../backends/webgpu/context.js';
import { DEVICE_ERROR_BITS, wgslDeviceErrors } from '../backends/webgpu/deviceErrors.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { isQuantized, QUANT_BLOCK, type QuantizedDType } from '../dtype.js';
import { checkTensor } from '../checkTensor.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { formatShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { dequantizeArray, quantizeArray, quantMax } from './quantize/codec.js';
import { rejectUnknownKeys } from './options.js';

/** Attributes of the quantize kernel. */
interface QuantizeAttrs {
  readonly dtype: QuantizedDType;
}

const WG = 64;
const quantParams = uniformLayout({ blocks: 'u32', size: 'u32' });

/** WGSL reading element `e` of a quantized buffer `w` (array<u32>) holding `size` values. */
export function wgslDequantElement(dtype: QuantizedDType, w: string): string {
  // Scales follow the values: size / 4 words of q8 bytes, size / 8 words of q4 nibbles.
  return dtype === 'q8'
    ? `fn dequantElement(e: u32, size: u32) -> f32 {
  let q = (bitcast<i32>(${w}[e >> 2u] << (24u - 8u * (e & 3u)))) >> 24u;
  return f32(q) * bitcast<f32>(${w}[size / 4u + (e >> 5u)]);
}`
    : `fn dequantElement(e: u32, size: u32) -> f32 {
  let q = i32((${w}[e >> 3u] >> (4u * (e & 7u))) & 15u) - 8;
  return f32(q) * bitcast<f32>(${w}[size / 8u + (e >> 5u)]);
}`;
}

function quantizeWgsl(dtype: QuantizedDType): string {
  const perWord = dtype === 'q8' ? 4 : 8;
  const bits = dtype === 'q8' ? 8 : 4;
  const field = dtype === 'q8' ? 'bitcast<u32>(q) & 0xffu' : 'u32(q + 8)';
  return `${quantParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> w: array<u32>;
${wgslDeviceErrors(2)}
@group(0) @binding(3) var<uniform> p: Params;
// amax / qmax rounded to nearest as the host codec rounds it (WGSL's division may be 2.5 ulp off):
// the quotient moves by an ulp while amax lies past the midpoint to its neighbor, compared exactly
// as below (qmax has 7 bits; s = sh + sl with 12-bit sh, and sl plus half an ulp fits 14 bits).
fn blockScale(amax: f32) -> f32 {
  let d = ${quantMax(dtype)}.0;
  var s = amax / d;
  if (!(amax > 0.0 && amax <= 3.0e38)) { return s; }
  for (var it = 0; it < 2; it++) {
    let bits = bitcast<u32>(s);
    let sh = bitcast<f32>(bits & 0xfffff000u);
    let r = amax - d * sh;
    let sl = s - sh;
    let above = d * (sl + 0.5 * (bitcast<f32>(bits + 1u) - s));
    let below = d * (sl - 0.5 * (s - bitcast<f32>(bits - 1u)));
    if (r > above || (r == above && (bits & 1u) == 1u)) {
      s = bitcast<f32>(bits + 1u);
    } else if (r < below || (r == below && (bits & 1u) == 1u)) {
      s = bitcast<f32>(bits - 1u);
    } else {
      break;
    }
  }
  return s;
}
// round(|x| / scale), ties away from zero, like the host codec, whose quotient is a double: the
// f32 product x * inv can land on the other side of a half-integer (107.4999986 as 107.5), so the
// candidate n is settled exactly. |x| >= (m + 1/2) scale iff 2|x| - c sh >= c sl, with c = 2m + 1
// (9 bits) and scale = sh + sl split into halves of 12 significant bits: both products are exact,
// and 2|x| - c sh is exact near the boundary (Sterbenz), keeping its sign elsewhere.
fn atLeastHalfStep(ax2: f32, m: f32, sh: f32, sl: f32) -> bool {
  let c = 2.0 * m + 1.0;
  return ax2 - c * sh >= c * sl;
}
fn quantize(xv: f32, inv: f32, scale: f32) -> i32 {
  var n = floor(abs(xv * inv) + 0.5);
  if (scale > 0.0) {
    let ax2 = 2.0 * abs(xv);
    let sh = bitcast<f32>(bitcast<u32>(scale) & 0xfffff000u);
    let sl = scale - sh;
    if (atLeastHalfStep(ax2, n, sh, sl)) {
      n += 1.0;
    } else if (n > 0.0 && !atLeastHalfStep(ax2, n - 1.0, sh, sl)) {
      n -= 1.0;
    }
  }
  return clamp(i32(sign(xv) * n), -${quantMax(dtype)}, ${quantMax(dtype)});
}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = gid.x + gid.y * nwg.x * ${WG}u;
  if (b >= p.blocks) { return; }
  let start = b * ${QUANT_BLOCK}u;
  var amax = 0.0;
  var finite = true;
  for (var i = 0u; i < ${QUANT_BLOCK}u; i++) {
    let xi = x[start + i];
    // On the bits: NaN and infinities have an all-ones exponent (max() may drop a NaN).
    finite = finite && (bitcast<u32>(xi) & 0x7f800000u) != 0x7f800000u;
    amax = max(amax, abs(xi));
  }
  // A block holding NaN or an infinity is flagged (the next read throws) and gets a NaN scale
  // (built from bits: WGSL has no NaN constant), so it dequantizes to NaN, not to garbage.
  if (!finite) { flagError(${DEVICE_ERROR_BITS.quantizeWeight}u); }
  var nanBits = 0x7fc00000u;
  let scale = select(bitcast<f32>(nanBits), blockScale(amax), finite);
  let inv = select(0.0, 1.0 / scale, scale > 0.0);
  w[p.size / ${perWord}u + b] = bitcast<u32>(scale);
  for (var j = 0u; j < ${QUANT_BLOCK / perWord}u; j++) {
    var word = 0u;
    for (var i = 0u; i < ${perWord}u; i++) {
      let q = quantize(x[start + j * ${perWord}u + i], inv, scale);
      word |= (${field}) << (${bits}u * i);
    }
    w[start / ${perWord}u + j] = word;
  }
}`;
}

function dequantizeWgsl(dtype: QuantizedDType): string {
  return `${quantParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
${wgslDequantElement(dtype, 'w')}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= p.size) { return; }
  y[e] = dequantElement(e, p.size);
}`;
}

function checkBlocks(op: string, x: TensorInfo, dtype: QuantizedDType): void {
  const last = x.shape[x.shape.length - 1];
  if (last === undefined || last % QUANT_BLOCK !== 0) {
    throw new RangeError(
      `${op}: ${dtype} quantizes blocks of ${QUANT_BLOCK} values along the last dim, but x has shape ` +
        `${formatShape(x.shape)}${last === undefined ? '' : ` (${last} is not a multiple of ${QUANT_BLOCK})`}; ` +
        'pad the weight or keep it in f16/f32',
    );
  }
}

/** @internal The kernel behind {@link quantizeWeight}. */
export const quantizeKernel: Kernel<QuantizeAttrs> = {
  name: 'quantize',
  infer([x], { dtype }): TensorInfo[] {
    if (x!.dtype !== 'f32')
      throw new TypeError(`quantizeWeight: x must be f32, got ${x!.dtype}${formatShape(x!.shape)}`);
    checkBlocks('quantizeWeight', x!, dtype);
    return [{ shape: x!.shape, dtype }];
  },
  cpu([x], { dtype }) {
    return [quantizeArray(x!.data, dtype)];
  },
  webgpu(ctx: GpuContext, [x]: readonly GpuTensor[], [out]: readonly GpuTensor[], { dtype }) {
    if (x!.size === 0) return;
    const blocks = x!.size / QUANT_BLOCK;
    ctx.dispatch(
      ctx.pipeline(`quantize:${dtype}`, () => quantizeWgsl(dtype)),
      [x!, out!, ctx.deviceErrors()],
      quantParams.pack({ blocks, size: x!.size }),
      workgroups1d(Math.ceil(blocks / WG)),
    );
  },
  // tfjs: the backend runs the CPU function on the host data (a load-time operation).
};

/** @internal The kernel behind {@link dequantize}. */
export const dequantizeKernel: Kernel<void> = {
  name: 'dequantize',
  acceptsQuantized: true,
  infer([w]): TensorInfo[] {
    if (!isQuantized(w!.dtype)) {
      throw new TypeError(`dequantize: w must be q8 or q4, got ${w!.dtype}${formatShape(w!.shape)}`);
    }
    return [{ shape: w!.shape, dtype: 'f32' }];
  },
  cpu([w]) {
    const size = w!.shape.reduce((a, b) => a * b, 1);
    return [dequantizeArray(w!.data as Uint32Array, w!.dtype as QuantizedDType, size)];
  },
  webgpu(ctx, [w], [out]) {
    if (out!.size === 0) return;
    const dtype = w!.dtype as QuantizedDType;
    ctx.dispatch(
      ctx.pipeline(`dequantize:${dtype}`, () => dequantizeWgsl(dtype)),
      [w!, out!],
      quantParams.pack({ blocks: out!.size / QUANT_BLOCK, size: out!.size }),
      workgroups1d(Math.ceil(out!.size / 256)),
    );
  },
  // tfjs: the backend runs the CPU function on the packed words.
};

/** Options of {@link quantizeWeight}. */
export interface QuantizeWeightOptions {
  /** `q8`: int8 values (1.125 bytes each); `q4`: 4-bit values (0.625 bytes each). */
  dtype: QuantizedDType;
}

/**
 * Quantizes an f32 weight into blocks of 32 values along its last dim, each stored as small
 * integers times one f32 scale (symmetric, round to nearest; layout in {@link QuantizedDType}).
 * The last dim (K of a `[N, K]` `linear` weight) must be a multiple of 32. The result keeps the
 * logical shape, is read by {@link matmul} (with `transposeB`) and {@link linear}, which
 * dequantize inside the kernel, and by {@link dequantize}; other ops reject it. No gradient flows
 * into a quantized weight. Runs on the weight's backend (on tfjs, on the host).
 *
 * Error per value: at most half a step, `max|block| / 254` (q8) or `max|block| / 14` (q4).
 *
 * NaN and infinities cannot be quantized. On the CPU (and tfjs, which quantizes on the host)
 * they throw a RangeError naming the index. WebGPU cannot check without reading the weight back
 * (this function is synchronous): there the kernel flags it and the backend's next read throws
 * (as for an out-of-range index in {@link gather}), and meanwhile a block holding one gets a NaN
 * scale, so it dequantizes, and multiplies, to NaN.
 *
 * @example
 * ```ts
 * const wq = keep(quantizeWeight(params['mlp.fc1.weight'], { dtype: 'q8' })); // q8[3072, 768]
 * const h = linear(x, wq, params['mlp.fc1.bias']); // [B, T, 768] -> [B, T, 3072]
 * ```
 */
export function quantizeWeight(x: Tensor, options: QuantizeWeightOptions): Tensor {
  checkTensor(x, 'quantizeWeight', 'x');
  rejectUnknownKeys('quantizeWeight', options, ['dtype']);
  const dtype = options?.dtype;
  if (dtype !== 'q8' && dtype !== 'q4') {
    throw new TypeError(`quantizeWeight: options.dtype must be 'q8' or 'q4', got ${JSON.stringify(dtype)}`);
  }
  return run1(quantizeKernel, [x], { dtype });
}

/**
 * The f32 values a quantized weight stands for (for checks, or ops that need plain values).
 *
 * @example
 * ```ts
 * const error = max(abs(sub(dequantize(wq), w))); // within max|block| / 14 for q4
 * ```
 */
export function dequantize(w: Tensor): Tensor {
  checkTensor(w, 'dequantize', 'w');
  return run1(dequantizeKernel, [w], undefined);
}
