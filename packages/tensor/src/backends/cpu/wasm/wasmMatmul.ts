// The accelerated `matmul` for the CPU backend: copies the operands into the WebAssembly memory,
// describes the job to matmul.c, runs it on one or more threads and copies the result out.
import type { HostTensor } from '../../../kernel.js';
import type { CpuAccelerated } from '../CpuBackend.js';
import type { MatmulWorkers } from './MatmulWorkers.js';
import type { MatmulExports } from './matmulModule.js';
import { ACTIVATION_CODES, type MatmulAttrs, planMatmul, taskGrid } from './matmulPlan.js';
import type { WasmArena } from './WasmArena.js';

// The descriptor matmul.c reads (struct Desc), in Int32 words.
const DESC = {
  m: 0,
  n: 1,
  k: 2,
  lda: 3,
  ldb: 4,
  ldc: 5,
  transA: 6,
  transB: 7,
  bias: 8,
  act: 9,
  batch: 10,
  table: 11,
  taskRows: 12,
  taskCols: 13,
  nextTask: 14,
  workspace: 16, // one per thread
} as const;
/** MAX_THREADS in matmul.c. */
export const MAX_THREADS = 16;
/** Bytes of the descriptor; checked against the module's desc_bytes() at startup. */
export const DESC_BYTES = (DESC.workspace + MAX_THREADS) * 4;
/** Outputs from this size on are faulted in while the workers compute (see below). */
const PREFAULT_MIN_FLOATS = 64 * 1024;
/** Floats of bias padding: edge tiles read a whole 8-column strip of the bias. */
const BIAS_PAD = 8;

/** What the accelerated matmul runs on. */
export interface WasmMatmulContext {
  readonly arena: WasmArena;
  /** The calling thread's instance. */
  readonly exports: MatmulExports;
  /** Worker threads, when more than one thread is used. */
  readonly workers: MatmulWorkers | undefined;
  /** Total threads including the calling one. */
  readonly threads: number;
}

const isF32 = (t: HostTensor | undefined): t is HostTensor & { data: Float32Array } =>
  t !== undefined && t.dtype === 'f32' && t.data instanceof Float32Array;

/**
 * The `matmul` kernel on WebAssembly SIMD. Handles f32 `a`, `b` and optional f32 bias `[N]`;
 * returns undefined for anything else (f16 weights, odd shapes) so the reference runs instead.
 */
export function createWasmMatmul(ctx: WasmMatmulContext): CpuAccelerated {
  const { arena, exports, workers, threads } = ctx;
  const packBFloats = exports.pack_b_floats();
  return (inputs, attrs, outputs) => {
    const [a, b, bias] = inputs;
    if (!isF32(a) || !isF32(b) || (inputs.length > 2 && !isF32(bias)) || inputs.length > 3) return undefined;
    const { transposeA, transposeB, activation } = (attrs ?? {}) as Partial<MatmulAttrs>;
    const act = ACTIVATION_CODES[activation ?? 'none'];
    if (act === undefined) return undefined;
    const plan = planMatmul(a.shape, b.shape, transposeA === true, transposeB === true);
    const out = outputs[0];
    if (!plan || !out || out.dtype !== 'f32') return undefined;
    if (out.shape.length !== plan.outShape.length || out.shape.some((d, i) => d !== plan.outShape[i]))
      return undefined;
    if (bias && bias.data.length !== plan.n) return undefined;
    const grid = taskGrid(plan, workers ? threads : 1, packBFloats);
    if (!grid) return undefined;

    const items = plan.aOffsets.length;
    const cSize = items * plan.m * plan.n;
    const regions = arena.layout([
      a.data.length * 4,
      b.data.length * 4,
      bias ? (plan.n + BIAS_PAD) * 4 : 0,
      cSize * 4,
      items * 3 * 4,
    ]);
    if (!regions) return undefined; // over 4 GiB: let the reference do it
    const [aPtr, bPtr, biasPtr, cPtr, tablePtr] = regions as [number, number, number, number, number];

    const f32 = arena.f32;
    f32.set(a.data, aPtr >> 2);
    f32.set(b.data, bPtr >> 2);
    if (bias) {
      f32.set(bias.data, biasPtr >> 2);
      f32.fill(0, (biasPtr >> 2) + plan.n, (biasPtr >> 2) + plan.n + BIAS_PAD);
    }
    const i32 = arena.i32;
    for (let item = 0, t = tablePtr >> 2; item < items; item++, t += 3) {
      i32[t] = aPtr + plan.aOffsets[item]! * 4;
      i32[t + 1] = bPtr + plan.bOffsets[item]! * 4;
      i32[t + 2] = cPtr + item * plan.m * plan.n * 4;
    }
    const d = arena.descPtr >> 2;
    i32[d + DESC.m] = plan.m;
    i32[d + DESC.n] = plan.n;
    i32[d + DESC.k] = plan.k;
    i32[d + DESC.lda] = plan.lda;
    i32[d + DESC.ldb] = plan.ldb;
    i32[d + DESC.ldc] = plan.n;
    i32[d + DESC.transA] = plan.transA ? 1 : 0;
    i32[d + DESC.transB] = plan.transB ? 1 : 0;
    i32[d + DESC.bias] = bias ? biasPtr : 0;
    i32[d + DESC.act] = act;
    i32[d + DESC.batch] = items;
    i32[d + DESC.table] = tablePtr;
    i32[d + DESC.taskRows] = grid.taskRows;
    i32[d + DESC.taskCols] = grid.taskCols;
    i32[d + DESC.nextTask] = 0;
    for (let tid = 0; tid < grid.parts; tid++) i32[d + DESC.workspace + tid] = arena.workspacePtr(tid);

    const result = new Float32Array(cSize);
    if (grid.parts > 1 && workers) {
      workers.run(arena.descPtr, grid.parts, () => {
        // The first write to a fresh array faults its pages in (~0.75 ms per MiB here); doing it
        // while the workers already compute takes it off the serial path of the copy-out below.
        if (cSize >= PREFAULT_MIN_FLOATS) result.fill(0);
        exports.run(arena.descPtr, 0);
      });
    } else {
      exports.run(arena.descPtr, 0);
    }
    result.set(arena.f32.subarray(cPtr >> 2, (cPtr >> 2) + cSize));
    return [result];
  };
}
