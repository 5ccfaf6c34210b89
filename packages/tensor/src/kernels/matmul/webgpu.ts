// Encodes a matmul on WebGPU: picks the GEMV kernel for small M, else the large or small GEMM
// tile, specializes the shader on what the shapes allow (vec4 access to each operand), and
// dispatches one workgroup per output tile of every batch item.
import { type GpuContext, type GpuTensor, workgroups1d } from '../../backends/webgpu/context.js';
import { ACTIVATION_CODES } from './activation.js';
import { type GemmTileConfig, matmulConfigFor } from './config.js';
import {
  type GemmVariant,
  type MatmulBDType,
  gemmKey,
  gemmParams,
  gemmVariantBytes,
  gemmWgsl,
} from './gemmWgsl.js';
import { type GemvVariant, gemvColumns, gemvKey, gemvWgsl } from './gemvWgsl.js';
import { type MatmulAttrs, matmulOperands, padBatchDims, planMatmul } from './plan.js';
import { matmulShapeKey, noteMatmul } from './shapeKey.js';
import { splitKChunks, sumSplitK } from './splitK.js';

/** The `webgpu` function of the matmul kernel. */
export function matmulWebGpu(
  ctx: GpuContext,
  inputs: readonly GpuTensor[],
  out: GpuTensor,
  attrs: MatmulAttrs,
): void {
  const { a, b, bias, residual } = matmulOperands(inputs, attrs);
  if (out.size === 0) return;
  const plan = planMatmul(a, b, attrs, true);
  const { m, n, k } = plan;
  const config = matmulConfigFor(ctx);
  const bDtype = b.dtype as MatmulBDType;
  const common = { transposeA: attrs.transposeA, bDtype };

  let key: string;
  let code: () => string;
  let tilesM: number;
  let tilesN: number;
  let kTiles = 0;
  let kSplit = 1;
  if (m <= config.gemv.maxM) {
    const layout = attrs.transposeB ? 'kc' : 'nc';
    const v: GemvVariant = {
      ...common,
      layout,
      rows: m === 1 ? 1 : m <= 4 ? 4 : 8,
      width: layout === 'kc' ? config.gemv.lanesPerColumn : config.gemv.columnGroups,
      subgroups: layout === 'kc' && config.gemv.subgroups && ctx.features.subgroups,
      vecA: layout === 'kc' && !attrs.transposeA && k % 4 === 0,
      vecB: layout === 'kc' ? k % 4 === 0 : n % 4 === 0,
      vecC: layout === 'nc' && n % 4 === 0,
      residual: residual !== undefined,
    };
    key = gemvKey(v);
    code = () => gemvWgsl(v);
    tilesM = 1;
    tilesN = Math.ceil(n / gemvColumns(v));
  } else {
    const { large, small } = config;
    const shapeKey = matmulShapeKey(plan, attrs, bDtype);
    const { transposeA, transposeB } = attrs;
    noteMatmul(ctx, shapeKey, { aShape: a.shape, bShape: b.shape, bDtype, transposeA, transposeB });
    const outBytes = plan.batches * m * n * 4;
    const chosen = config.shapes[shapeKey];
    let tile: GemmTileConfig;
    if (chosen) {
      // A tuned choice for this shape (the partial blocks must still fit in one binding).
      tile = chosen.tile;
      const maxChunks = Math.floor(ctx.limits.maxStorageBufferBindingSize / outBytes);
      kSplit = Math.max(1, Math.min(chosen.kSplit, maxChunks));
    } else {
      const largeTiles = Math.ceil(m / large.bm) * Math.ceil(n / large.bn) * plan.batches;
      // Few large tiles: the small tile, and a long K split over more workgroups (of the large
      // tile when M fills at least one, so the partial tiles waste few rows).
      tile = largeTiles >= config.minLargeTiles ? large : small;
      if (tile === small) {
        const split = m >= large.bm ? large : small;
        const tiles = Math.ceil(m / split.bm) * Math.ceil(n / split.bn) * plan.batches;
        kSplit = splitKChunks(config.splitK, tiles, k, outBytes, ctx.limits.maxStorageBufferBindingSize);
        if (kSplit > 1) tile = split;
      }
    }
    kTiles = Math.ceil(k / tile.bk);
    // Whole tiles of K per chunk: the chunk count again, so that none is empty.
    kSplit = kTiles === 0 ? 1 : Math.ceil(kTiles / Math.ceil(kTiles / kSplit));
    const base = {
      ...common,
      tile,
      transposeB: attrs.transposeB,
      vecA: attrs.transposeA && m % 4 === 0,
      vecB: !attrs.transposeB && n % 4 === 0,
      vecC: n % 4 === 0,
      // With split-K the sum kernel adds it, after the bias and activation.
      residual: residual !== undefined && kSplit === 1,
    };
    // Skew the rows of the operand read along K where workgroup memory has room for it.
    const padded: GemmVariant = { ...base, padA: !attrs.transposeA, padB: attrs.transposeB };
    const fits = gemmVariantBytes(padded) <= ctx.limits.maxComputeWorkgroupStorageSize;
    const v: GemmVariant = fits ? padded : { ...base, padA: false, padB: false };
    key = gemmKey(v);
    code = () => gemmWgsl(v);
    tilesM = Math.ceil(m / tile.bm);
    tilesN = Math.ceil(n / tile.bn);
  }
  const tilesPerBatch = tilesM * tilesN;
  const kChunkTiles = Math.ceil(kTiles / kSplit);
  const uniforms = gemmParams.pack({
    M: m,
    N: n,
    K: k,
    tilesM,
    tilesN,
    tilesPerBatch,
    batches: plan.batches,
    batchRank: plan.batchShape.length,
    kTiles,
    kSplit,
    kChunkTiles,
    // With split-K the bias and activation wait for the sum of the chunks.
    hasBias: bias && kSplit === 1 ? 1 : 0,
    activation: kSplit === 1 ? ACTIVATION_CODES[attrs.activation] : 0,
    batchShape: padBatchDims(plan.batchShape),
    aStrides: padBatchDims(plan.aBatchStrides),
    bStrides: padBatchDims(plan.bBatchStrides),
  });
  // WebGPU cannot bind an empty buffer (a and b when K = 0). An absent bias binds a placeholder:
  // a itself (read-only bindings may alias) when it holds at least one vec4.
  const aBuf = a.size > 0 ? a : ctx.scratch(16);
  const bBuf = b.size > 0 ? b : ctx.scratch(16);
  const target = kSplit > 1 ? ctx.scratch(kSplit * out.size * 4) : out; // [kSplit, batches, M, N]
  const placeholder = a.size >= 4 ? a : ctx.scratch(16);
  const fused = residual && kSplit === 1 ? [residual] : [];
  const buffers = [aBuf, bBuf, bias ?? placeholder, ...fused, target];
  ctx.dispatch(
    ctx.pipeline(key, code),
    buffers,
    uniforms,
    workgroups1d(tilesPerBatch * plan.batches * kSplit),
  );
  if (kSplit > 1)
    sumSplitK(ctx, target as GPUBuffer, bias, residual, out, n, kSplit, ACTIVATION_CODES[attrs.activation]);
}
