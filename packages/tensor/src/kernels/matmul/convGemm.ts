// A groups-1 convolution on WebGPU as the tuned GEMM with an implicit im2col b: per image,
// out [O, OH*OW] = w [O, C*kh*kw] x im2col(x) [C*kh*kw, OH*OW], which is already the NCHW output.
// The im2col matrix is formed while b's slices load into workgroup memory, so it costs no memory,
// and the filters, the large tiles, the register tiling and the double buffering are the matmul's.
import type { GpuContext, GpuTensor } from '../../backends/webgpu/context.js';
import { workgroups1d } from '../../backends/webgpu/context.js';
import { matmulConfigFor } from './config.js';
import {
  type GemmVariant,
  type Im2colGeometry,
  convGemmParams,
  gemmKey,
  gemmVariantBytes,
  gemmWgsl,
} from './gemmWgsl.js';
import { padBatchDims } from './plan.js';

/** The sizes of one convolution that the GEMM form needs. */
export interface ConvGemmDims {
  /** Images. */
  readonly n: number;
  /** Input channels, height and width. */
  readonly c: number;
  readonly h: number;
  readonly w: number;
  /** Output channels, height and width. */
  readonly o: number;
  readonly oh: number;
  readonly ow: number;
}

/**
 * Encodes `out = conv2d(x, w) + bias` (groups 1) as one GEMM dispatch.
 *
 * Shapes: x `[N, C, H, W]`, w `[O, C, kh, kw]`, bias `[O]` → out `[N, O, OH, OW]`.
 */
export function convGemmWebGpu(
  ctx: GpuContext,
  x: GpuTensor,
  w: GpuTensor,
  bias: GpuTensor | undefined,
  out: GpuTensor,
  d: ConvGemmDims,
  geometry: Im2colGeometry,
): void {
  const m = d.o; // rows: output channels
  const n = d.oh * d.ow; // columns: output pixels
  const k = d.c * geometry.kh * geometry.kw;
  const config = matmulConfigFor(ctx);
  const largeTiles = Math.ceil(m / config.large.bm) * Math.ceil(n / config.large.bn) * d.n;
  const tile = largeTiles >= config.minLargeTiles ? config.large : config.small;
  const base = {
    tile,
    transposeA: false,
    transposeB: false,
    bDtype: 'f32' as const,
    vecA: false,
    vecB: false,
    vecC: n % 4 === 0,
    im2col: geometry,
  };
  // The filters are read along K: skew their rows where workgroup memory has room.
  const padded: GemmVariant = { ...base, padA: true, padB: false };
  const fits = gemmVariantBytes(padded) <= ctx.limits.maxComputeWorkgroupStorageSize;
  const v: GemmVariant = fits ? padded : { ...padded, padA: false };
  const tilesM = Math.ceil(m / tile.bm);
  const tilesN = Math.ceil(n / tile.bn);
  const kTiles = Math.ceil(k / tile.bk);
  const uniforms = convGemmParams.pack({
    M: m,
    N: n,
    K: k,
    tilesM,
    tilesN,
    tilesPerBatch: tilesM * tilesN,
    batches: d.n,
    batchRank: 1,
    kTiles,
    kSplit: 1,
    kChunkTiles: kTiles,
    hasBias: bias ? 1 : 0,
    activation: 0,
    // The images are the batch: the filters are shared (stride 0), each image is C*H*W further.
    batchShape: padBatchDims([d.n]),
    aStrides: padBatchDims([0]),
    bStrides: padBatchDims([d.c * d.h * d.w]),
    C: d.c,
    H: d.h,
    W: d.w,
  });
  // An absent bias binds a placeholder (the filters: read-only bindings may alias).
  const buffers = [w, x, bias ?? w, out];
  ctx.dispatch(
    ctx.pipeline(gemmKey(v), () => gemmWgsl(v)),
    buffers,
    uniforms,
    workgroups1d(tilesM * tilesN * d.n),
  );
}
