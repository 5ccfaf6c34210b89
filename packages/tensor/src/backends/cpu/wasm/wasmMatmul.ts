// The accelerated `matmul` for the CPU backend: copies the operands into the WebAssembly memory,
// describes the job to matmul.c, runs it on one or more threads and copies the result out.
import { onMutated, wasMutated } from '../../../hostMutation.js';
import type { TensorInfo } from '../../../backend.js';
import type { TypedArray } from '../../../dtype.js';
import type { HostTensor } from '../../../kernel.js';
import { sizeOf } from '../../../shape.js';
import { addResidual } from '../../../kernels/matmul/reference.js';
import type { CpuAccelerated } from '../CpuBackend.js';
import type { MatmulWorkers } from './MatmulWorkers.js';
import type { MatmulExports } from './matmulModule.js';
import {
  ACTIVATION_CODES,
  type MatmulAttrs,
  type MatmulPlan,
  NR,
  PARALLEL_MIN_MACS,
  planMatmul,
  roundUp,
  taskGrid,
} from './matmulPlan.js';
import type { WasmArena } from './WasmArena.js';

// The descriptor matmul.c reads (struct Desc), in Int32 words.
export const DESC = {
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
  kind: 15,
  packedB: 16,
  bRows: 17,
  workspace: 18, // one per thread
} as const;
/** MAX_THREADS in matmul.c. */
export const MAX_THREADS = 16;
/** Bytes of the descriptor; checked against the module's desc_bytes() at startup. */
export const DESC_BYTES = (DESC.workspace + MAX_THREADS) * 4;
/** Outputs from this size on are faulted in while the workers compute (see below). */
const PREFAULT_MIN_FLOATS = 64 * 1024;
/** Floats of bias padding: edge tiles read a whole 8-column strip of the bias. */
const BIAS_PAD = 8;

/** Job kinds (enum in matmul.c). */
export const KIND = {
  gemm: 0,
  q8Gemv: 1,
  q4Gemv: 2,
  q8Dequant: 3,
  q4Dequant: 4,
  attention: 5,
  f16Widen: 6,
  bf16Widen: 7,
} as const;
/**
 * Largest (folded) M that runs the quantized GEMV, which reads each weight once per call and does
 * M dot products per weight row; above it the weights are dequantized to f32 (in WebAssembly,
 * threaded) and the packed GEMM runs, which re-reads them from cache per block of rows.
 */
export const QUANT_GEMV_MAX_M = 8;

/**
 * Writes the GEMV's A (`rows` x `k` f32) at byte `ptr` of `memory` as int16 with one f32 scale per
 * block of 32 (all rows' values, then all their scales): `x ~ xq * scale`, `scale = max|x| / 32767`,
 * so matmul.c multiplies int8 weights by exact int16 dot products (see there).
 */
function writeInt16Blocks(
  memory: ArrayBuffer,
  ptr: number,
  x: Float32Array,
  rows: number,
  k: number,
  evensFirst: boolean,
): void {
  const xq = new Int16Array(memory, ptr, rows * k);
  const xs = new Float32Array(memory, ptr + rows * k * 2, (rows * k) / 32);
  for (let b = 0; b < (rows * k) / 32; b++) {
    let amax = 0;
    for (let i = b * 32; i < b * 32 + 32; i++) amax = Math.max(amax, Math.abs(x[i]!));
    const scale = amax / 32767;
    xs[b] = scale;
    const inv = scale > 0 ? 1 / scale : 0;
    // For q4 the block's even-indexed values come first, then the odd ones (the nibble order).
    for (let i = 0; i < 32; i++) {
      const to = evensFirst ? (i >> 1) + (i & 1) * 16 : i;
      xq[b * 32 + to] = Math.round(x[b * 32 + i]! * inv);
    }
  }
}

const TINY = 2 ** -100;

/**
 * Whether a block of 32 values of `x` (the GEMV's int16 blocks) has a largest magnitude that is
 * nonzero and below 2^-100, so that its f32 scale goes subnormal (see quantizedMatmul). A tiny
 * value beside larger ones only rounds to 0 in its block, as any small value does.
 */
function hasTinyBlocks(x: Float32Array): boolean {
  for (let b = 0; b < x.length; b += 32) {
    let amax = 0;
    for (let i = b; i < b + 32; i++) amax = Math.max(amax, Math.abs(x[i]!));
    if (amax !== 0 && amax < TINY) return true;
  }
  return false;
}

/** Bytes of resident copies past which no f32 weight is made resident (stored ones: see below). */
const F32_RESIDENT_MAX_BYTES = 512 * 1024 * 1024;
/**
 * Bytes of resident copies (f32 ones included) past which stored weights (f16, bf16, q8, q4) stay
 * out and are copied in per call: a 7B decoder's 4-14 GB would otherwise fill the 4 GiB memory
 * and leave no room for any product's regions.
 */
const STORED_RESIDENT_MAX_BYTES = 2 * 1024 * 1024 * 1024;

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

/**
 * `a` [M, K] x B [K, N] where B's row k is the `n` floats at `rows[k]` of a source that `fill` writes
 * into the WebAssembly memory (`source.floats` of them, at float index `at` of `memory`): a
 * convolution's taps read its padded input in place of an im2col matrix. Resolves to C [M, N], or
 * undefined when the job does not fit (the caller falls back).
 */
export type RowsMatmul = (
  a: Float32Array,
  m: number,
  k: number,
  source: { floats: number; fill(memory: Float32Array, at: number): void },
  rows: Int32Array,
  n: number,
) => Float32Array | undefined;

const isF32 = (t: HostTensor | undefined): t is HostTensor & { data: Float32Array } =>
  t !== undefined && t.dtype === 'f32' && t.data instanceof Float32Array;

/**
 * Runs the job described at the arena's descriptor on `parts` threads (the calling one included),
 * giving each its workspace; `whileWorkersRun` is called on the calling thread, with workers only,
 * before it takes its own share of the tasks.
 */
export function runJob(ctx: WasmMatmulContext, parts: number, whileWorkersRun?: () => void): void {
  const { arena, exports, workers } = ctx;
  const i32 = arena.i32;
  const d = arena.descPtr >>> 2;
  for (let tid = 0; tid < parts; tid++) i32[d + DESC.workspace + tid] = arena.workspacePtr(tid);
  if (parts > 1 && workers) {
    workers.run(arena.descPtr, parts, () => {
      whileWorkersRun?.();
      exports.run(arena.descPtr, 0);
    });
  } else {
    exports.run(arena.descPtr, 0);
  }
}

/**
 * The `matmul` kernel on WebAssembly SIMD. Handles f32 `a`, an f32, f16, bf16, q8 or q4 `b` and
 * an optional f32 bias `[N]`; returns undefined for anything else (odd shapes) so the reference
 * runs instead.
 */
export function createWasmMatmul(ctx: WasmMatmulContext): CpuAccelerated & {
  /** See {@link RowsMatmul}. */
  rows: RowsMatmul;
  /** Drops the resident copy of a host array (its tensor was released). */
  release(data: unknown): void;
  /** Stops watching in-place writes. */
  dispose(): void;
} {
  const { arena, exports, workers, threads } = ctx;
  // Stored weights (q8, q4, f16, bf16) are copied into the memory once and stay there, found by
  // their host array, up to STORED_RESIDENT_MAX_BYTES: nothing writes a quantized tensor's array in
  // place (the engine lets only matmul and dequantize read them), and an in-place write to an f16
  // one drops its copy (onMutated below). Freed when the tensor is released (release(), called by
  // the CPU backend) or, for one that is never disposed, when its array is collected.
  //
  // f32 b arrays become resident from their second use (a weight is read once per forward pass,
  // an intermediate once and then released), unless some kernel wrote them in place (a KV cache;
  // see hostMutation.ts), up to F32_RESIDENT_MAX_BYTES so the per-call region keeps room to grow.
  const resident = new WeakMap<Uint32Array | Uint16Array | Float32Array, number>();
  // How a resident f32 array is stored: packed whole by pack_b_full for this (K, N, transpose)
  // when it was first made resident as the sole B of a job (a weight: packing it once takes a pass
  // over it off every later call), else as a plain copy.
  const packedAs = new WeakMap<Float32Array, string>();
  const seen = new WeakSet<Float32Array>();
  const collected = new FinalizationRegistry<number>((ptr) => arena.freeResident(ptr));
  const packKey = (plan: MatmulPlan, data: Float32Array): string | undefined =>
    plan.aOffsets.length === 1 && plan.bOffsets[0] === 0 && data.length === plan.k * plan.n
      ? `${plan.k},${plan.n},${plan.transB ? 1 : 0}`
      : undefined;
  /** The resident copy of b, `packed` when it is stored the way this plan reads a packed B. */
  const residentF32 = (
    data: Float32Array,
    plan: MatmulPlan,
  ): { ptr: number; packed: boolean } | undefined => {
    const key = packKey(plan, data);
    const have = resident.get(data);
    if (have !== undefined) {
      const as = packedAs.get(data);
      if (as === undefined) return { ptr: have, packed: false };
      return as === key ? { ptr: have, packed: true } : undefined; // packed for another shape
    }
    if (wasMutated(data)) return undefined;
    if (!seen.has(data)) {
      seen.add(data);
      return undefined;
    }
    const bytes = key ? plan.k * roundUp(plan.n, NR) * 4 : data.byteLength;
    if (arena.residentBytes + bytes > F32_RESIDENT_MAX_BYTES) return undefined;
    const ptr = arena.allocResident(bytes);
    if (ptr === undefined) return undefined;
    if (key) {
      // Copy to the per-call region (laid out after the block just allocated), pack from there.
      const [src] = arena.layout([data.byteLength]) ?? [];
      if (src === undefined) {
        arena.freeResident(ptr);
        return undefined;
      }
      arena.f32.set(data, src >>> 2);
      exports.pack_b_full(src, plan.ldb, plan.transB ? 1 : 0, plan.k, plan.n, ptr);
      packedAs.set(data, key);
    } else {
      arena.f32.set(data, ptr >>> 2);
    }
    resident.set(data, ptr);
    collected.register(data, ptr, data);
    return { ptr, packed: key !== undefined };
  };
  const residentWeight = (data: Uint32Array | Uint16Array): number | undefined => {
    let ptr = resident.get(data);
    if (ptr !== undefined) return ptr;
    if (arena.residentBytes + data.byteLength > STORED_RESIDENT_MAX_BYTES) return undefined; // copied per call
    ptr = arena.allocResident(data.byteLength);
    if (ptr === undefined) return undefined;
    new Uint8Array(arena.memory.buffer, ptr, data.byteLength).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    resident.set(data, ptr);
    collected.register(data, ptr, data);
    return ptr;
  };
  const release = (data: unknown): void => {
    if (!(data instanceof Uint32Array || data instanceof Uint16Array || data instanceof Float32Array)) return;
    const ptr = resident.get(data);
    if (ptr === undefined) return;
    resident.delete(data);
    if (data instanceof Float32Array) packedAs.delete(data);
    collected.unregister(data);
    arena.freeResident(ptr);
  };
  const unwatch = onMutated(release);
  const packBFloats = exports.pack_b_floats();
  // The descriptor of an f32 GEMM job (struct Desc in matmul.c): pointers are byte offsets.
  const describeGemm = (
    plan: MatmulPlan,
    grid: { taskRows: number; taskCols: number; parts: number },
    job: { table: number; bias: number; act: number; batch: number; packedB: boolean; bRows: number },
  ) => {
    const i32 = arena.i32;
    const d = arena.descPtr >>> 2;
    i32[d + DESC.m] = plan.m;
    i32[d + DESC.n] = plan.n;
    i32[d + DESC.k] = plan.k;
    i32[d + DESC.lda] = plan.lda;
    i32[d + DESC.ldb] = plan.ldb;
    i32[d + DESC.ldc] = plan.n;
    i32[d + DESC.transA] = plan.transA ? 1 : 0;
    i32[d + DESC.transB] = plan.transB ? 1 : 0;
    i32[d + DESC.bias] = job.bias;
    i32[d + DESC.act] = job.act;
    i32[d + DESC.batch] = job.batch;
    i32[d + DESC.table] = job.table;
    i32[d + DESC.taskRows] = grid.taskRows;
    i32[d + DESC.taskCols] = grid.taskCols;
    i32[d + DESC.nextTask] = 0;
    i32[d + DESC.kind] = KIND.gemm;
    i32[d + DESC.packedB] = job.packedB ? 1 : 0;
    i32[d + DESC.bRows] = job.bRows;
  };
  /**
   * The f32 GEMM. With `fillB`, b is a stored weight (f16, bf16, q8, q4) that `fillB` widens to f32
   * straight into B's region of the memory (with `fillB.bytes` of scratch of its own), so the
   * widened copy is never carried out to JS and back.
   */
  const f32Matmul = (
    inputs: readonly HostTensor[],
    attrs: unknown,
    outputs: readonly TensorInfo[],
    fillB?: { bytes: number; write(bPtr: number, scratchPtr: number): void },
  ): TypedArray[] | undefined => {
    const [a, b, bias] = inputs;
    if (!isF32(a) || !b || !(fillB || isF32(b))) return undefined;
    if ((inputs.length > 2 && !isF32(bias)) || inputs.length > 3) return undefined;
    const { transposeA, transposeB, activation } = (attrs ?? {}) as Partial<MatmulAttrs>;
    const act = ACTIVATION_CODES[activation ?? 'none'];
    if (act === undefined) return undefined;
    const plan = planMatmul(a.shape, b.shape, transposeA === true, transposeB === true);
    const out = outputs[0];
    if (!plan || !out || out.dtype !== 'f32') return undefined;
    if (out.shape.length !== plan.outShape.length || out.shape.some((d, i) => d !== plan.outShape[i]))
      return undefined;
    if (bias && bias.data.length !== plan.n) return undefined;
    const weight = fillB ? undefined : residentF32(b.data as Float32Array, plan);
    const grid = taskGrid(plan, workers ? threads : 1, packBFloats, weight?.packed === true);
    if (!grid) return undefined;

    const items = plan.aOffsets.length;
    const cSize = items * plan.m * plan.n;
    const weightPtr = weight?.ptr;
    const regions = arena.layout([
      a.data.length * 4,
      weightPtr === undefined ? sizeOf(b.shape) * 4 : 0,
      bias ? (plan.n + BIAS_PAD) * 4 : 0,
      cSize * 4,
      items * 3 * 4,
      fillB?.bytes ?? 0,
    ]);
    if (!regions) return undefined; // over 4 GiB: let the reference do it
    const [aPtr, copyPtr, biasPtr, cPtr, tablePtr, scratchPtr] = regions as number[] as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const bPtr = weightPtr ?? copyPtr;

    const f32 = arena.f32;
    f32.set(a.data, aPtr >>> 2);
    if (fillB) fillB.write(bPtr, scratchPtr);
    else if (weightPtr === undefined) f32.set(b.data, bPtr >>> 2);
    if (bias) {
      f32.set(bias.data, biasPtr >>> 2);
      f32.fill(0, (biasPtr >>> 2) + plan.n, (biasPtr >>> 2) + plan.n + BIAS_PAD);
    }
    const i32 = arena.i32;
    for (let item = 0, t = tablePtr >>> 2; item < items; item++, t += 3) {
      i32[t] = aPtr + plan.aOffsets[item]! * 4;
      i32[t + 1] = bPtr + plan.bOffsets[item]! * 4;
      i32[t + 2] = cPtr + item * plan.m * plan.n * 4;
    }
    describeGemm(plan, grid, {
      table: tablePtr,
      bias: bias ? biasPtr : 0,
      act,
      batch: items,
      packedB: weight?.packed === true,
      bRows: 0,
    });

    const result = new Float32Array(cSize);
    // The first write to a fresh array faults its pages in (~0.75 ms per MiB here); doing it while
    // the workers already compute takes it off the serial path of the copy-out below.
    runJob(ctx, grid.parts, () => {
      if (cSize >= PREFAULT_MIN_FLOATS) result.fill(0);
    });
    result.set(arena.f32.subarray(cPtr >>> 2, (cPtr >>> 2) + cSize));
    return [result];
  };

  // Quantized b ([N, K], transposed): a few rows run the GEMV on the packed blocks; more rows
  // dequantize b to f32 into the GEMM's B region (see widenInto) and run the GEMM on it.
  const quantizedMatmul: CpuAccelerated = (inputs, attrs, outputs) => {
    const [a, b, bias] = inputs;
    if (!isF32(a) || !b || !(b.data instanceof Uint32Array) || b.shape.length !== 2) return undefined;
    if ((inputs.length > 2 && !isF32(bias)) || inputs.length > 3) return undefined;
    const { transposeA, transposeB, activation } = (attrs ?? {}) as Partial<MatmulAttrs>;
    const act = ACTIVATION_CODES[activation ?? 'none'];
    if (act === undefined || transposeA || !transposeB) return undefined;
    const plan = planMatmul(a.shape, b.shape, false, true);
    const out = outputs[0];
    if (!plan || !out || plan.aOffsets.length !== 1 || plan.k % 32 !== 0) return undefined;
    const { m, n, k } = plan;
    const q4 = b.dtype === 'q4';
    // The GEMV scales each block of a by max|x| / 32767 in f32: for a block whose max|x| is below
    // ~2^-100 that scale and its products go subnormal and lose their digits (all of them near
    // 1e-38), where the f32 GEMM on the dequantized weight stays exact.
    if (m > QUANT_GEMV_MAX_M || hasTinyBlocks(a.data)) {
      const kind = q4 ? KIND.q4Dequant : KIND.q8Dequant;
      return f32Matmul(inputs, attrs, outputs, widenInto(b.data, kind, n, k));
    }
    // The GEMV on the packed blocks. Non-finite activations would not survive the int16 conversion: the reference takes those.
    if (!a.data.every(Number.isFinite)) return undefined;
    const weightPtr = residentWeight(b.data);
    const regions = arena.layout([
      m * k * 2 + (m * k) / 8,
      weightPtr === undefined ? b.data.byteLength : 0,
      bias ? (n + BIAS_PAD) * 4 : 0,
      m * n * 4,
      3 * 4,
    ]);
    if (!regions) return undefined;
    const [aPtr, copyPtr, biasPtr, cPtr, tablePtr] = regions as [number, number, number, number, number];
    writeInt16Blocks(arena.memory.buffer, aPtr, a.data, m, k, q4);
    const bPtr = weightPtr ?? copyPtr;
    if (weightPtr === undefined) new Uint32Array(arena.memory.buffer, bPtr, b.data.length).set(b.data);
    if (bias) arena.f32.set(bias.data, biasPtr >>> 2);
    const i32 = arena.i32;
    i32[(tablePtr >>> 2) + 0] = aPtr;
    i32[(tablePtr >>> 2) + 1] = bPtr;
    i32[(tablePtr >>> 2) + 2] = cPtr;
    const d = arena.descPtr >>> 2;
    i32[d + DESC.m] = m;
    i32[d + DESC.n] = n;
    i32[d + DESC.k] = k;
    i32[d + DESC.bias] = bias ? biasPtr : 0;
    i32[d + DESC.act] = act;
    i32[d + DESC.batch] = 1;
    i32[d + DESC.table] = tablePtr;
    // Columns per task: 8 tasks per thread, at least 16 wide.
    const parts = workers && m * n * k >= PARALLEL_MIN_MACS ? threads : 1;
    const per = Math.max(16, Math.ceil(n / (8 * parts) / 8) * 8);
    i32[d + DESC.taskRows] = per;
    i32[d + DESC.taskCols] = per;
    i32[d + DESC.nextTask] = 0;
    i32[d + DESC.kind] = q4 ? KIND.q4Gemv : KIND.q8Gemv;
    i32[d + DESC.packedB] = 0;
    i32[d + DESC.bRows] = 0;
    runJob(ctx, parts);
    return [arena.f32.slice(cPtr >>> 2, (cPtr >>> 2) + m * n)];
  };

  /**
   * How a stored weight (f16/bf16 bits, or q8/q4 words: `rows` x `k` values) is widened into the
   * GEMM's B region: a job of `kind` in matmul.c, threaded, reading the weight's resident copy (or
   * a copy in the scratch after the job's table).
   */
  const widenInto = (data: Uint16Array | Uint32Array, kind: number, rows: number, k: number) => {
    const weightPtr = residentWeight(data);
    return {
      bytes: 16 + (weightPtr === undefined ? data.byteLength : 0),
      write(bPtr: number, scratchPtr: number): void {
        const src = weightPtr ?? scratchPtr + 16;
        if (weightPtr === undefined)
          new Uint8Array(arena.memory.buffer, src, data.byteLength).set(
            new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
          );
        const i32 = arena.i32;
        i32.set([0, src, bPtr], scratchPtr >>> 2);
        const d = arena.descPtr >>> 2;
        i32[d + DESC.m] = 0;
        i32[d + DESC.n] = rows;
        i32[d + DESC.k] = k;
        i32[d + DESC.table] = scratchPtr;
        const parts = workers && rows * k >= PARALLEL_MIN_MACS / 64 ? threads : 1;
        i32[d + DESC.taskRows] = Math.max(1, Math.ceil(rows / (8 * parts)));
        i32[d + DESC.nextTask] = 0;
        i32[d + DESC.kind] = kind;
        runJob(ctx, parts);
      },
    };
  };

  // f16/bf16 b (any shape and layout): widened to f32 in B's region of the memory, then the GEMM.
  const halfMatmul: CpuAccelerated = (inputs, attrs, outputs) => {
    const b = inputs[1];
    if (!b || !(b.data instanceof Uint16Array) || b.shape.length === 0) return undefined;
    const k = b.shape[b.shape.length - 1]!;
    if (k === 0) return undefined;
    const kind = b.dtype === 'bf16' ? KIND.bf16Widen : KIND.f16Widen;
    return f32Matmul(inputs, attrs, outputs, widenInto(b.data, kind, b.data.length / k, k));
  };

  // a [M, K] times B whose row k is `n` floats at source offset rows[k]: the source is written
  // straight into the memory by `fill`, and matmul.c packs B's panels from it through the table.
  const rowsMatmul: RowsMatmul = (a, m, k, source, rows, n) => {
    const plan: MatmulPlan = {
      m,
      n,
      k,
      lda: k,
      ldb: n,
      transA: false,
      transB: false,
      aOffsets: [0],
      bOffsets: [0],
      outShape: [m, n],
    };
    const grid = taskGrid(plan, workers ? threads : 1, packBFloats, false);
    if (!grid || rows.length !== k || a.length !== m * k) return undefined;
    const regions = arena.layout([a.length * 4, source.floats * 4, k * 4, m * n * 4, 3 * 4]);
    if (!regions) return undefined;
    const [aPtr, bPtr, rowsPtr, cPtr, tablePtr] = regions as [number, number, number, number, number];
    arena.f32.set(a, aPtr >>> 2);
    source.fill(arena.f32, bPtr >>> 2);
    const i32 = arena.i32;
    i32.set(rows, rowsPtr >>> 2);
    i32[tablePtr >>> 2] = aPtr;
    i32[(tablePtr >>> 2) + 1] = bPtr;
    i32[(tablePtr >>> 2) + 2] = cPtr;
    describeGemm(plan, grid, { table: tablePtr, bias: 0, act: 0, batch: 1, packedB: false, bRows: rowsPtr });
    runJob(ctx, grid.parts);
    return arena.f32.slice(cPtr >>> 2, (cPtr >>> 2) + m * n);
  };

  const product: CpuAccelerated = (inputs, attrs, outputs) => {
    const dtype = inputs[1]?.dtype;
    if (dtype === 'q8' || dtype === 'q4') return quantizedMatmul(inputs, attrs, outputs);
    if (dtype === 'f16' || dtype === 'bf16') return halfMatmul(inputs, attrs, outputs);
    return f32Matmul(inputs, attrs, outputs);
  };
  // A residual is added to the product's fresh result (one pass over the output, on the host).
  const matmul: CpuAccelerated = (inputs, attrs, outputs) => {
    if (!(attrs as Partial<MatmulAttrs> | undefined)?.residual) return product(inputs, attrs, outputs);
    const residual = inputs[inputs.length - 1]!;
    if (!isF32(residual)) return undefined;
    const [y] = product(inputs.slice(0, -1), { ...(attrs as object), residual: false }, outputs) ?? [];
    if (!y) return undefined;
    addResidual(y as Float32Array, residual);
    return [y];
  };
  return Object.assign(matmul, { rows: rowsMatmul, release, dispose: unwatch });
}
