// Turns a matmul call (shapes, transposes, batch broadcasting, bias, activation) into the job the
// C code runs: one (M, N, K) problem over a list of batch items, and how threads split it.

/** The epilogue activations of the matmul kernel, with the codes matmul.c uses. */
export const ACTIVATION_CODES = {
  none: 0,
  relu: 1,
  gelu: 2,
  gelu_tanh: 3,
  quick_gelu: 4,
  silu: 5,
} as const;

/** An activation the matmul kernel fuses after the bias. */
export type MatmulActivation = keyof typeof ACTIVATION_CODES;

/** The matmul kernel's attributes (see src/kernels/matmul.ts). */
export interface MatmulAttrs {
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  readonly activation: MatmulActivation;
  /** The last input is a residual added after the activation. */
  readonly residual?: boolean;
}

/** One matmul call as the C code sees it. */
export interface MatmulPlan {
  /** Rows per item (batch * M when the batch was folded into the rows). */
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly lda: number;
  readonly ldb: number;
  readonly transA: boolean;
  readonly transB: boolean;
  /** Element offsets of each batch item's matrix in a's and b's data; C items are m * n apart. */
  readonly aOffsets: readonly number[];
  readonly bOffsets: readonly number[];
  /** The output shape, `[...batch, M, N]`. */
  readonly outShape: readonly number[];
}

const product = (dims: readonly number[]): number => dims.reduce((x, y) => x * y, 1);

/**
 * Plans `a @ b` for shapes `[...batchA, M, K]` and `[...batchB, K, N]` (the last two dims swapped
 * where transposed), batch dims broadcast NumPy-style. Returns undefined for shapes it does not
 * handle (rank < 2, mismatched K, incompatible batches, empty dims), which the reference handles
 * or reports.
 */
export function planMatmul(
  aShape: readonly number[],
  bShape: readonly number[],
  transA: boolean,
  transB: boolean,
): MatmulPlan | undefined {
  if (aShape.length < 2 || bShape.length < 2) return undefined;
  const [a0, a1] = [aShape[aShape.length - 2]!, aShape[aShape.length - 1]!];
  const [b0, b1] = [bShape[bShape.length - 2]!, bShape[bShape.length - 1]!];
  const [M, K] = transA ? [a1, a0] : [a0, a1];
  const [Kb, N] = transB ? [b1, b0] : [b0, b1];
  if (K !== Kb || M === 0 || N === 0 || K === 0) return undefined;

  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const batch: number[] = [];
  // Element strides of a's and b's batch items along each output batch dim (0 where broadcast).
  const aStride: number[] = [];
  const bStride: number[] = [];
  let aStep = M * K;
  let bStep = K * N;
  for (let i = 1; i <= rank; i++) {
    const da = aBatch[aBatch.length - i] ?? 1;
    const db = bBatch[bBatch.length - i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    batch.unshift(Math.max(da, db));
    aStride.unshift(da === 1 ? 0 : aStep);
    bStride.unshift(db === 1 ? 0 : bStep);
    aStep *= da;
    bStep *= db;
  }
  const items = product(batch);
  if (items === 0) return undefined;
  const aOffsets: number[] = new Array(items);
  const bOffsets: number[] = new Array(items);
  const index = new Array<number>(rank).fill(0);
  let ao = 0;
  let bo = 0;
  for (let item = 0; item < items; item++) {
    aOffsets[item] = ao;
    bOffsets[item] = bo;
    // odometer increment over the batch dims, updating the offsets incrementally
    for (let d = rank - 1; d >= 0; d--) {
      ao += aStride[d]!;
      bo += bStride[d]!;
      if (++index[d]! < batch[d]!) break;
      ao -= aStride[d]! * batch[d]!;
      bo -= bStride[d]! * batch[d]!;
      index[d] = 0;
    }
  }
  const outShape = [...batch, M, N];
  const lda = transA ? M : K;
  const ldb = transB ? K : N;

  // [B, M, K] @ [K, N] is one [B*M, K] @ [K, N]: B is packed once instead of per item, and the
  // rows split across threads without per-item edges. Needs a's items back to back and one b.
  const folded =
    items > 1 &&
    !transA &&
    bOffsets.every((o) => o === bOffsets[0]) &&
    aOffsets.every((o, i) => o === i * M * K);
  if (folded) {
    return {
      m: M * items,
      n: N,
      k: K,
      lda,
      ldb,
      transA,
      transB,
      aOffsets: [0],
      bOffsets: [bOffsets[0]!],
      outShape,
    };
  }
  return { m: M, n: N, k: K, lda, ldb, transA, transB, aOffsets, bOffsets, outShape };
}

/** How a plan is cut into tasks (see matmul.c) and how many threads take them. */
export interface TaskGrid {
  /** Rows per task, a multiple of 4. */
  readonly taskRows: number;
  /** Columns per task, a multiple of 8, with k * taskCols within the packed-B workspace. */
  readonly taskCols: number;
  /** Threads to use (including the calling one). */
  readonly parts: number;
}

/** Register tile of matmul.c. */
const MR = 4;
export const NR = 8;
/** Below this many multiply-adds a job stays on one thread: waking a worker costs more than it saves. */
export const PARALLEL_MIN_MACS = 64 * 64 * 64;
/**
 * Tasks per thread to aim for: a thread that the OS deschedules (a busy neighbour on the machine)
 * holds at most one task up, so the calling thread's wait at the end is at most one small task.
 */
const TASKS_PER_THREAD = 8;
/** Rows per task at most (a task's rows share the packed B, so small row tasks are cheap). */
const MAX_TASK_ROWS = 64;
/** Task sizes below which splitting further costs more (edge tiles, re-packing) than it balances. */
const MIN_TASK_ROWS = 16;
/** Rows per task at most when B is packed ahead of time (a packed A block of matmul.c's MC rows). */
const PREPACKED_TASK_ROWS = 128;
const MIN_TASK_COLS = 32;

/** `x` rounded up to a multiple of `to`. */
export const roundUp = (x: number, to: number): number => Math.ceil(x / to) * to;

/**
 * Cuts a plan into tasks for up to `threads` threads, given the floats of a thread's packed-B
 * workspace. One thread gets the fewest, largest tasks; several threads get at least a few tasks
 * each, cut along the rows first (consecutive tasks then share a packed B panel) and then along
 * the columns. A B packed ahead of time (`prepacked`) needs no panel: its tasks keep up to
 * {@link PREPACKED_TASK_ROWS} rows and are cut along the columns, so each thread streams its own
 * part of B once. Returns undefined when K is too large for even 8 columns of packed B.
 */
export function taskGrid(
  plan: MatmulPlan,
  threads: number,
  packBFloats: number,
  prepacked = false,
): TaskGrid | undefined {
  const { m, n, k } = plan;
  const items = plan.aOffsets.length;
  const maxCols = prepacked ? roundUp(n, NR) : Math.floor(packBFloats / k / NR) * NR;
  if (maxCols < NR) return undefined;
  let colBlocks = Math.ceil(n / maxCols);
  let rowBlocks = 1;
  const parallel = threads > 1 && items * m * n * k >= PARALLEL_MIN_MACS;
  if (parallel) {
    const want = TASKS_PER_THREAD * threads;
    if (prepacked) {
      rowBlocks = Math.ceil(m / PREPACKED_TASK_ROWS);
      colBlocks = Math.max(1, Math.min(Math.ceil(want / (items * rowBlocks)), Math.ceil(n / MIN_TASK_COLS)));
    } else {
      rowBlocks = Math.max(
        Math.ceil(m / MAX_TASK_ROWS),
        Math.min(Math.ceil(want / (items * colBlocks)), Math.ceil(m / MIN_TASK_ROWS)),
      );
    }
    if (items * rowBlocks * colBlocks < want) {
      colBlocks = Math.max(
        colBlocks,
        Math.min(Math.ceil(want / (items * rowBlocks)), Math.ceil(n / MIN_TASK_COLS)),
      );
    }
  }
  const taskRows = roundUp(Math.ceil(m / rowBlocks), MR);
  const taskCols = roundUp(Math.ceil(n / colBlocks), NR);
  const tasks = items * Math.ceil(m / taskRows) * Math.ceil(n / taskCols);
  return { taskRows, taskCols, parts: parallel ? Math.min(threads, tasks) : 1 };
}
