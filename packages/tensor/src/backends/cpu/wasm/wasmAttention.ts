// Attention over short sequences in one WebAssembly job (matmul.c, KIND_ATTENTION): q, k and v are
// copied into the module's memory once and read in place through their views ([B, T, H, D],
// [B, H, T, D] or a packed qkv), each (batch item, query head) a task for the threads, the output
// written into its own layout. The general path (attentionMatmul.ts) gathers each operand into
// [B, H, T, X], runs two batched products and a softmax, and scatters back: for CLIP's 50 to 77
// tokens those copies cost more than the arithmetic.
import type {
  AttentionAttrs,
  AttentionDims,
  AttentionView,
} from '../../../kernels/attention/attentionDims.js';
import type { AttentionArrays } from '../../../kernels/attention/attentionReference.js';
import { DESC, KIND, runJob, type WasmMatmulContext } from './wasmMatmul.js';

/** Floats of matmul.c's per-thread edge tile (MR x NR). */
const TILE_FLOATS = 32;
/** Below this many multiply-adds one thread does the job (waking a worker costs more). */
const PARALLEL_MIN_MACS = 1 << 18;

/** The attention output in the layout of `dims.views.out`, or undefined when the job does not fit here. */
export type FusedAttention = (
  arrays: AttentionArrays,
  dims: AttentionDims,
  attrs: AttentionAttrs,
) => Float32Array | undefined;

/**
 * @example
 * ```ts
 * const fused = createWasmAttention({ arena, exports, workers, threads: 2 });
 * const out = fused(arrays, dims, attrs) ?? generalPath(); // out in dims.views.out's layout
 * ```
 */
export function createWasmAttention(ctx: WasmMatmulContext): FusedAttention {
  const { arena, exports, workers, threads } = ctx;
  const packB = exports.pack_b_floats();
  const packA = exports.workspace_floats() - packB - TILE_FLOATS;
  const roundUp8 = (x: number) => Math.ceil(x / 8) * 8;
  return ({ q, k, v, mask }, dims, attrs) => {
    const { batch: B, qHeads: Hq, kvHeads: Hkv, tq: Tq, tk: Tk, d: D, dv: Dv, views } = dims;
    const L = attrs.kvLength;
    // Every key position in use: a decode step over a preallocated cache (L < Tk) would copy the
    // whole cache for a few rows, which the general path does not.
    if (mask !== undefined || attrs.mask !== 'none' || D !== Dv || L < 1 || L !== Tk || Tq < 1)
      return undefined;
    if (!(q instanceof Float32Array && k instanceof Float32Array && v instanceof Float32Array))
      return undefined;
    if (Tq * roundUp8(L) > packA || Math.max(D * roundUp8(L), L * roundUp8(D)) > packB) return undefined;
    const outSize = B * Hq * Tq * D;
    // Each distinct array once (a packed qkv is one).
    const sources = [...new Set([q, k, v])];
    const regions = arena.layout([...sources.map((s) => s.length * 4), outSize * 4, 21 * 4]);
    if (!regions) return undefined;
    const ptrOf = new Map(sources.map((s, i) => [s, regions[i]!]));
    sources.forEach((s, i) => {
      arena.f32.set(s, regions[i]! >>> 2);
    });
    const outPtr = regions[sources.length]!;
    const tablePtr = regions[sources.length + 1]!;
    const i32 = arena.i32;
    const t = tablePtr >>> 2;
    const at = (data: Float32Array, w: AttentionView) => ptrOf.get(data)! + w.offset * 4;
    i32[t] = at(q, views.q);
    i32[t + 1] = at(k, views.k);
    i32[t + 2] = at(v, views.v);
    i32[t + 3] = outPtr + views.out.offset * 4;
    arena.f32[t + 4] = attrs.scale;
    i32[t + 5] = attrs.causal ? 1 : 0;
    // Past L - 1 every key is visible, below -Tq none: clamped so that i + offset + 1 cannot overflow.
    i32[t + 6] = Math.max(-Tq - 1, Math.min(L, attrs.queryOffset));
    i32[t + 7] = Hq;
    i32[t + 8] = Hkv;
    [views.q, views.k, views.v, views.out].forEach((w, i) => {
      i32[t + 9 + 3 * i] = w.batch;
      i32[t + 10 + 3 * i] = w.head;
      i32[t + 11 + 3 * i] = w.token;
    });
    const tasks = B * Hq;
    const parts =
      workers && tasks > 1 && tasks * Tq * L * D * 2 >= PARALLEL_MIN_MACS ? Math.min(threads, tasks) : 1;
    const d = arena.descPtr >>> 2;
    i32[d + DESC.m] = Tq;
    i32[d + DESC.n] = L;
    i32[d + DESC.k] = D;
    i32[d + DESC.batch] = tasks;
    i32[d + DESC.table] = tablePtr;
    i32[d + DESC.nextTask] = 0;
    i32[d + DESC.kind] = KIND.attention;
    runJob(ctx, parts);
    return arena.f32.slice(outPtr >>> 2, (outPtr >>> 2) + outSize);
  };
}
