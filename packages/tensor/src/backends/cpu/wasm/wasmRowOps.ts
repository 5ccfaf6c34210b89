// Row-wise and elementwise hot spots in WebAssembly SIMD (matmul.c's vectorized exp, sigmoid and
// erfc): the attention's row softmax, layerNorm and rmsNorm, and the backward of matmul's fused
// activation. Each copies its rows into the module's memory, runs on the calling thread and copies
// the result back; the copies cost a small part of what Math.exp, or a row's serial sums, cost
// per element in plain JS.
import type { TypedArray } from '../../../dtype.js';
import type { HostTensor } from '../../../kernel.js';
import type { CpuAccelerated } from '../CpuBackend.js';
import type { MatmulExports } from './matmulModule.js';
import { ACTIVATION_CODES, type MatmulActivation } from './matmulPlan.js';
import type { WasmArena } from './WasmArena.js';

/** Floats per call (whole rows for the softmax), so that the scratch region stays a few MiB. */
const CHUNK_FLOATS = 1 << 20;

/** The row operations over one arena and module instance (the calling thread's). */
export interface WasmRowOps {
  /**
   * Softmax of each row (`cols` floats) of `s`, scaled by `scale` first, in place. Entries of
   * -Infinity (masked keys) become exactly 0, and a row of them only becomes zeros. False (and
   * `s` unchanged) when the memory cannot grow for it.
   */
  softmaxRows(s: Float32Array, cols: number, scale: number): boolean;
  /** `dy * act'(z)` elementwise, as a new array; undefined when the memory cannot grow for it. */
  activationGrad(activation: MatmulActivation, z: Float32Array, dy: Float32Array): Float32Array | undefined;
  /**
   * layerNorm (`center`) or rmsNorm of each row (`cols` floats) of `x`, times `gamma` and plus
   * `beta` (each `cols` floats) when given, as a new array; undefined when the memory cannot grow.
   */
  normRows(
    x: Float32Array,
    cols: number,
    gamma: Float32Array | undefined,
    beta: Float32Array | undefined,
    eps: number,
    center: boolean,
  ): Float32Array | undefined;
}

/**
 * @example
 * ```ts
 * const rows = createWasmRowOps(arena, exports);
 * rows.softmaxRows(scores, keys, 1 / Math.sqrt(headDim)); // [rows, keys], in place
 * ```
 */
export function createWasmRowOps(arena: WasmArena, exports: MatmulExports): WasmRowOps {
  return {
    softmaxRows(s, cols, scale) {
      if (s.length === 0 || cols === 0) return true;
      const chunk = Math.max(1, Math.floor(CHUNK_FLOATS / cols)) * cols;
      const [ptr] = arena.layout([Math.min(chunk, s.length) * 4]) ?? [];
      if (ptr === undefined) return false;
      for (let at = 0; at < s.length; at += chunk) {
        const part = s.subarray(at, Math.min(s.length, at + chunk)); // [rows, cols]
        arena.f32.set(part, ptr >>> 2);
        exports.softmax_rows(ptr, part.length / cols, cols, scale);
        part.set(arena.f32.subarray(ptr >>> 2, (ptr >>> 2) + part.length));
      }
      return true;
    },
    activationGrad(activation, z, dy) {
      const act = ACTIVATION_CODES[activation];
      const size = Math.min(CHUNK_FLOATS, z.length) * 4;
      const [zPtr, dyPtr] = arena.layout([size, size]) ?? [];
      if (zPtr === undefined || dyPtr === undefined) return undefined;
      const out = new Float32Array(z.length);
      const f32 = arena.f32;
      for (let at = 0; at < z.length; at += CHUNK_FLOATS) {
        const n = Math.min(CHUNK_FLOATS, z.length - at);
        f32.set(z.subarray(at, at + n), zPtr >>> 2);
        f32.set(dy.subarray(at, at + n), dyPtr >>> 2);
        exports.activation_grad(zPtr, dyPtr, dyPtr, n, act);
        out.set(f32.subarray(dyPtr >>> 2, (dyPtr >>> 2) + n), at);
      }
      return out;
    },
    normRows(x, cols, gamma, beta, eps, center) {
      const out = new Float32Array(x.length);
      if (x.length === 0 || cols === 0) return out;
      const chunk = Math.max(1, Math.floor(CHUNK_FLOATS / cols)) * cols; // whole rows
      const [xPtr, gPtr, bPtr] = arena.layout([Math.min(chunk, x.length) * 4, cols * 4, cols * 4]) ?? [];
      if (xPtr === undefined || gPtr === undefined || bPtr === undefined) return undefined;
      const f32 = arena.f32;
      if (gamma) f32.set(gamma, gPtr >>> 2);
      if (beta) f32.set(beta, bPtr >>> 2);
      for (let at = 0; at < x.length; at += chunk) {
        const part = x.subarray(at, Math.min(x.length, at + chunk)); // [rows, cols]
        f32.set(part, xPtr >>> 2);
        exports.norm_rows(
          xPtr,
          gamma ? gPtr : 0,
          beta ? bPtr : 0,
          xPtr,
          part.length / cols,
          cols,
          eps,
          +center,
        );
        out.set(f32.subarray(xPtr >>> 2, (xPtr >>> 2) + part.length), at);
      }
      return out;
    },
  };
}

/** The accelerated `layerNorm` (inputs `[x, gamma?, beta?]`, f32). */
export function wasmLayerNorm(rows: WasmRowOps): CpuAccelerated {
  return (inputs, attrs) => {
    const { hasGamma, hasBeta, eps } = attrs as { hasGamma: boolean; hasBeta: boolean; eps: number };
    const [x, gamma, beta] = [
      inputs[0],
      hasGamma ? inputs[1] : undefined,
      hasBeta ? inputs[hasGamma ? 2 : 1] : undefined,
    ];
    return normOn(rows, x!, gamma, beta, eps, true);
  };
}

/** The accelerated `rmsNorm` (inputs `[x, gamma?]`, f32). */
export function wasmRmsNorm(rows: WasmRowOps): CpuAccelerated {
  return (inputs, attrs) => {
    const { hasGamma, eps } = attrs as { hasGamma: boolean; eps: number };
    return normOn(rows, inputs[0]!, hasGamma ? inputs[1] : undefined, undefined, eps, false);
  };
}

function normOn(
  rows: WasmRowOps,
  x: HostTensor,
  gamma: HostTensor | undefined,
  beta: HostTensor | undefined,
  eps: number,
  center: boolean,
): TypedArray[] | undefined {
  const f32 = (t: HostTensor | undefined) => t === undefined || t.data instanceof Float32Array;
  if (!(f32(x) && f32(gamma) && f32(beta))) return undefined;
  const cols = x.shape[x.shape.length - 1] ?? 1;
  const g = gamma?.data as Float32Array | undefined;
  const b = beta?.data as Float32Array | undefined;
  const out = rows.normRows(x.data as Float32Array, cols, g, b, eps, center);
  return out && [out];
}

/** The accelerated `matmulActivationGrad` (inputs `[z, dy]`, f32). */
export function wasmActivationGrad(rows: WasmRowOps): CpuAccelerated {
  return ([z, dy], attrs) => {
    const { activation } = attrs as { activation: MatmulActivation };
    if (!(z!.data instanceof Float32Array && dy!.data instanceof Float32Array)) return undefined;
    if (activation === 'none' || !(activation in ACTIVATION_CODES)) return undefined;
    const out = rows.activationGrad(activation, z!.data, dy!.data);
    return out && [out];
  };
}
