// Product shapes as the WebGPU matmul sees them, for per-shape tile choices (config.ts `shapes`)
// and for recording which shapes a piece of work runs (tuneShapes.ts).
import type { DType } from '../../dtype.js';
import type { MatmulBDType } from './gemmWgsl.js';
import type { MatmulAttrs, MatmulPlan } from './plan.js';

/**
 * One product as a model calls it: the operands' shapes and dtype, and the transposes.
 *
 * @example
 * ```ts
 * const call: MatmulCall = { aShape: [32, 50, 768], bShape: [3072, 768], bDtype: 'f32', transposeA: false, transposeB: true };
 * ```
 */
export interface MatmulCall {
  readonly aShape: readonly number[];
  readonly bShape: readonly number[];
  /** f32, f16, bf16, q8 or q4. */
  readonly bDtype: DType;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
}

/** `"<batches>x<M>x<N>x<K>:<ta><tb>:<b dtype>"`: the key of config.ts `shapes`. */
export function matmulShapeKey(plan: MatmulPlan, attrs: MatmulAttrs, bDtype: MatmulBDType): string {
  const t = (x: boolean) => (x ? 't' : 'n');
  return `${plan.batches}x${plan.m}x${plan.n}x${plan.k}:${t(attrs.transposeA)}${t(attrs.transposeB)}:${bDtype}`;
}

const recorders = new WeakMap<object, Map<string, MatmulCall>>();

/** Starts collecting the GEMM shapes dispatched on `ctx` (one call per key); returns the collection. */
export function startRecording(ctx: object): Map<string, MatmulCall> {
  const calls = new Map<string, MatmulCall>();
  recorders.set(ctx, calls);
  return calls;
}

export function stopRecording(ctx: object): void {
  recorders.delete(ctx);
}

/** Notes a GEMM dispatch where a recording is under way. */
export function noteMatmul(ctx: object, key: string, call: MatmulCall): void {
  const calls = recorders.get(ctx);
  if (calls && !calls.has(key)) calls.set(key, call);
}
