// Shape rules of the matmul kernel, shared by its shape inference, the CPU reference and the WebGPU
// dispatch: validation with errors that name both operands, NumPy batch broadcasting, and folding
// the batch into the rows when b is one matrix shared by every batch item.
import type { TensorInfo } from '../../backend.js';
import { isQuantized } from '../../dtype.js';
import { formatShape } from '../../shape.js';
import type { MatmulActivation } from './activation.js';

/** The matmul kernel's attributes (the contract the WASM CPU implementation shares). */
export interface MatmulAttrs {
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  readonly activation: MatmulActivation;
  /** The last input is a residual `[...batch, M, N]` added after the activation. */
  readonly residual?: boolean;
}

/** The kernel's inputs by role: `[a, b]`, then the bias if given, then the residual if `attrs.residual`. */
export function matmulOperands<T>(
  inputs: readonly T[],
  attrs: Pick<MatmulAttrs, 'residual'>,
): { a: T; b: T; bias: T | undefined; residual: T | undefined } {
  const residual = attrs.residual ? inputs[inputs.length - 1] : undefined;
  const bias = inputs.length === (attrs.residual ? 4 : 3) ? inputs[2] : undefined;
  return { a: inputs[0]!, b: inputs[1]!, bias, residual };
}

/** Batch dims the output may have (uniform `shape` fields hold 8 values). */
export const MAX_BATCH_RANK = 8;

/** Batch dims or strides zero-padded to MAX_BATCH_RANK, as the WebGPU GEMM's `shape` uniforms take them. */
export function padBatchDims(values: readonly number[]): number[] {
  return [...values, ...new Array<number>(MAX_BATCH_RANK - values.length).fill(0)];
}

/** One matmul call: an (M, N, K) problem repeated over `batches` items. */
export interface MatmulPlan {
  /** Rows of one item's output (all of a's rows when the batch was folded into them). */
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** Output batch dims; empty when there is one item (including after folding). */
  readonly batchShape: readonly number[];
  /** Element strides of a's and b's items along each of `batchShape` (0 where broadcast). */
  readonly aBatchStrides: readonly number[];
  readonly bBatchStrides: readonly number[];
  /** Number of batch items (product of `batchShape`). */
  readonly batches: number;
  /** The output shape, `[...batch, M, N]`. */
  readonly outShape: readonly number[];
}

function describe(t: TensorInfo): string {
  return `${t.dtype}${formatShape(t.shape)}`;
}

/** What errors call the op and its two operands: `linear` says x and weight where matmul says a and b. */
export interface MatmulNames {
  readonly op: string;
  readonly a: string;
  readonly b: string;
}

const MATMUL_NAMES: MatmulNames = { op: 'matmul', a: 'a', b: 'b' };

/** Throws unless the inputs are valid for matmul; errors name the op, the input and the shapes. */
export function validateMatmul(
  inputs: readonly TensorInfo[],
  attrs: MatmulAttrs,
  names: MatmulNames = MATMUL_NAMES,
): void {
  const { op, a: an, b: bn } = names;
  const extra = attrs.residual ? 1 : 0;
  if (inputs.length < 2 + extra || inputs.length > 3 + extra) {
    const expected = attrs.residual ? '[a, b, residual] or [a, b, bias, residual]' : '[a, b] or [a, b, bias]';
    throw new RangeError(`${op}: expected inputs ${expected}, got ${inputs.length} inputs`);
  }
  const { a, b, bias, residual } = matmulOperands(inputs, attrs) as {
    a: TensorInfo;
    b: TensorInfo;
    bias: TensorInfo | undefined;
    residual: TensorInfo | undefined;
  };
  if (a.dtype !== 'f32') throw new TypeError(`${op}: ${an} must be f32, got ${describe(a)}`);
  if (isQuantized(b.dtype)) {
    // Blocks run along the last dim, which must be the reduction dim: a [N, K] weight, transposed.
    if (!attrs.transposeB || b.shape.length !== 2) {
      throw new TypeError(
        `${op}: a quantized ${bn} (${describe(b)}) is a 2-D [N, K] weight read as ${bn}^T: pass transposeB: true ` +
          '(linear() does), or dequantize() it first',
      );
    }
  } else if (b.dtype !== 'f32' && b.dtype !== 'f16' && b.dtype !== 'bf16') {
    throw new TypeError(`${op}: ${bn} must be f32, f16, bf16, q8 or q4, got ${describe(b)}`);
  }
  if (a.shape.length < 2 || b.shape.length < 2) {
    const which = a.shape.length < 2 ? `${an} ${describe(a)}` : `${bn} ${describe(b)}`;
    throw new RangeError(`${op}: ${which} must have at least 2 dims (use reshape to add a row or column)`);
  }
  if (Math.max(a.shape.length, b.shape.length) - 2 > MAX_BATCH_RANK) {
    throw new RangeError(
      `${op}: at most ${MAX_BATCH_RANK} batch dims are supported (${an} ${describe(a)}, ${bn} ${describe(b)})`,
    );
  }
  const { k: ka, n } = dims(a, b, attrs);
  const kb = attrs.transposeB ? b.shape[b.shape.length - 1]! : b.shape[b.shape.length - 2]!;
  if (ka !== kb) {
    throw new RangeError(
      `${op}: inner dims differ: ${an} ${formatShape(a.shape)} (transposeA=${attrs.transposeA}) has K=${ka} but ` +
        `${bn} ${formatShape(b.shape)} (transposeB=${attrs.transposeB}) has K=${kb}`,
    );
  }
  if (bias) {
    if (bias.dtype !== 'f32') throw new TypeError(`${op}: bias must be f32, got ${describe(bias)}`);
    if (bias.shape.length !== 1 || bias.shape[0] !== n) {
      throw new RangeError(
        `${op}: bias has shape ${formatShape(bias.shape)} but the output has N=${n} columns (expected [${n}]); ` +
          `${an} ${formatShape(a.shape)}, ${bn} ${formatShape(b.shape)}`,
      );
    }
  }
  if (residual) {
    const out = planMatmul(a, b, attrs, false, names).outShape;
    if (residual.dtype !== 'f32')
      throw new TypeError(`${op}: residual must be f32, got ${describe(residual)}`);
    if (residual.shape.length !== out.length || residual.shape.some((d, i) => d !== out[i])) {
      throw new RangeError(
        `${op}: residual has shape ${formatShape(residual.shape)} but the output is ${formatShape(out)} ` +
          `(${an} ${formatShape(a.shape)}, ${bn} ${formatShape(b.shape)}); it is added as is, not broadcast`,
      );
    }
  }
}

function dims(a: TensorInfo, b: TensorInfo, attrs: MatmulAttrs): { m: number; n: number; k: number } {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = attrs.transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = attrs.transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const n = attrs.transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  return { m, n, k };
}

/**
 * Plans `op(a) @ op(b)` for valid inputs (see {@link validateMatmul}). With `fold`, a batched `a`
 * times a single matrix `b` (the common `x @ W` case) becomes one taller problem, which needs no
 * copy because a's items are consecutive row blocks.
 */
export function planMatmul(
  a: TensorInfo,
  b: TensorInfo,
  attrs: MatmulAttrs,
  fold = false,
  names: MatmulNames = MATMUL_NAMES,
): MatmulPlan {
  const { m, n, k } = dims(a, b, attrs);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const batchShape: number[] = [];
  const aBatchStrides: number[] = [];
  const bBatchStrides: number[] = [];
  let aStep = m * k;
  let bStep = k * n;
  for (let i = 1; i <= rank; i++) {
    const da = aBatch[aBatch.length - i] ?? 1;
    const db = bBatch[bBatch.length - i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(
        `${names.op}: batch dims of ${names.a} ${formatShape(a.shape)} and ${names.b} ${formatShape(b.shape)} cannot be broadcast together ` +
          `(${formatShape(aBatch)} vs ${formatShape(bBatch)})`,
      );
    }
    batchShape.unshift(da === 1 ? db : da);
    aBatchStrides.unshift(da === 1 ? 0 : aStep);
    bBatchStrides.unshift(db === 1 ? 0 : bStep);
    aStep *= da;
    bStep *= db;
  }
  const batches = batchShape.reduce((x, y) => x * y, 1);
  const outShape = [...batchShape, m, n];
  // b's batch dims are all 1, so the output's items follow a's, which are consecutive [M, K] blocks.
  if (fold && !attrs.transposeA && batches > 1 && bBatch.every((d) => d === 1)) {
    return {
      m: m * batches,
      n,
      k,
      batchShape: [],
      aBatchStrides: [],
      bBatchStrides: [],
      batches: 1,
      outShape,
    };
  }
  return { m, n, k, batchShape, aBatchStrides, bBatchStrides, batches, outShape };
}

/** Element offsets of a's and b's matrices for batch item `index` (row-major over `batchShape`). */
export function batchOffsets(plan: MatmulPlan, index: number): [number, number] {
  let aOff = 0;
  let bOff = 0;
  for (let d = plan.batchShape.length - 1; d >= 0; d--) {
    const dim = plan.batchShape[d]!;
    const i = index % dim;
    index = Math.floor(index / dim);
    aOff += i * plan.aBatchStrides[d]!;
    bOff += i * plan.bBatchStrides[d]!;
  }
  return [aOff, bOff];
}
