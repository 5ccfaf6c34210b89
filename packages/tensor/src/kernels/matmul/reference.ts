// The CPU reference of matmul (also the CPU fallback): operands copied into plain row-major f32
// [M, K] and [K, N] matrices (undoing transposes and half precision), then an i-k-j loop that
// streams rows of b, accumulating in double precision.
import { bf16ToF32, f16ToF32, isQuantized } from '../../dtype.js';
import { sizeOf } from '../../shape.js';
import { dequantizeArray } from '../quantize/codec.js';
import type { HostTensor } from '../../kernel.js';
import { ACTIVATION_FNS } from './activation.js';
import { type MatmulAttrs, batchOffsets, matmulOperands, planMatmul } from './plan.js';

/** `rows x cols` values of `src` from `offset`, as row-major f32, transposed when stored `[cols, rows]`. */
function matrix(
  src: HostTensor,
  offset: number,
  rows: number,
  cols: number,
  transposed: boolean,
): Float32Array {
  const data = src.data;
  const decode = src.dtype === 'f16' ? f16ToF32 : src.dtype === 'bf16' ? bf16ToF32 : undefined;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = data[offset + (transposed ? c * rows + r : r * cols + c)]!;
      out[r * cols + c] = decode ? decode(v) : v;
    }
  }
  return out;
}

/** `act(op(a) @ op(b) + bias) + residual` on host arrays; returns the f32 output `[...batch, M, N]`. */
export function matmulReference(inputs: readonly HostTensor[], attrs: MatmulAttrs): Float32Array {
  const { a, b: stored, bias, residual } = matmulOperands(inputs, attrs);
  // Quantized weights: the matmul of their dequantized values (what the fast kernels must match).
  const b: HostTensor = isQuantized(stored.dtype)
    ? {
        data: dequantizeArray(stored.data as Uint32Array, stored.dtype, sizeOf(stored.shape)),
        shape: stored.shape,
        dtype: 'f32',
      }
    : stored;
  const plan = planMatmul(a, b, attrs);
  const { m, n, k } = plan;
  const out = new Float32Array(plan.batches * m * n);
  const act = ACTIVATION_FNS[attrs.activation];
  const row = new Float64Array(n);
  // Items that share b (broadcast weights) share its decoded copy.
  const bCache = new Map<number, Float32Array>();
  for (let item = 0; item < plan.batches; item++) {
    const [aOff, bOff] = batchOffsets(plan, item);
    const am = matrix(a, aOff, m, k, attrs.transposeA);
    let bm = bCache.get(bOff);
    if (!bm) bCache.set(bOff, (bm = matrix(b, bOff, k, n, attrs.transposeB)));
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let p = 0; p < k; p++) {
        const aip = am[i * k + p]!;
        const bRow = p * n;
        for (let j = 0; j < n; j++) row[j]! += aip * bm[bRow + j]!;
      }
      const o = (item * m + i) * n;
      for (let j = 0; j < n; j++) out[o + j] = act(row[j]! + (bias ? bias.data[j]! : 0));
    }
  }
  if (residual) addResidual(out, residual);
  return out;
}

/** `out += residual`, elementwise (the residual has the output's shape). */
export function addResidual(out: Float32Array, residual: HostTensor): void {
  const r = residual.data;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + r[i]!;
}
