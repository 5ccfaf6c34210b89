// Elementwise hot spots of training in WebAssembly SIMD (matmul.c's vectorized exp, sigmoid and
// erfc): the attention's row softmax and the backward of matmul's fused activation. Each copies its
// rows into the module's memory, runs on the calling thread and copies the result back; the copies
// cost a small part of what Math.exp costs per element in plain JS.
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
        arena.f32.set(part, ptr >> 2);
        exports.softmax_rows(ptr, part.length / cols, cols, scale);
        part.set(arena.f32.subarray(ptr >> 2, (ptr >> 2) + part.length));
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
        f32.set(z.subarray(at, at + n), zPtr >> 2);
        f32.set(dy.subarray(at, at + n), dyPtr >> 2);
        exports.activation_grad(zPtr, dyPtr, dyPtr, n, act);
        out.set(f32.subarray(dyPtr >> 2, (dyPtr >> 2) + n), at);
      }
      return out;
    },
  };
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
