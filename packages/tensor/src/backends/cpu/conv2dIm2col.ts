// conv2d on the CPU as im2col + the accelerated matmul: for each image and group,
// out[Og, Ho*Wo] = W[Og, Cg*kh*kw] x cols[Cg*kh*kw, Ho*Wo]. Depthwise-like convolutions (few
// output channels per group) stay on the reference kernel, where a matmul would be one row.
import type { TensorInfo } from '../../backend.js';
import type { TypedArray } from '../../dtype.js';
import type { HostTensor } from '../../kernel.js';
import type { Conv2dAttrs } from '../../kernels/conv2d.js';
import type { CpuAccelerated } from './CpuBackend.js';

const MATMUL_ATTRS = { transposeA: false, transposeB: false, activation: 'none' };

/** Wraps an accelerated matmul into an accelerated conv2d (undefined: use the reference). */
export function im2colConv2d(matmul: CpuAccelerated): CpuAccelerated {
  return (inputs, attrs, outputs) => {
    const [x, w, bias] = inputs as [HostTensor, HostTensor, HostTensor | undefined];
    const out = outputs[0] as TensorInfo;
    if (x.dtype !== 'f32' || w.dtype !== 'f32') return undefined;
    const { stride, padding, dilation, groups } = attrs as Conv2dAttrs;
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [O, Cg, kh, kw] = w.shape as [number, number, number, number];
    const [, , Ho, Wo] = out.shape as [number, number, number, number];
    const Og = O / groups;
    if (Og < 4) return undefined;
    const K = Cg * kh * kw;
    const P = Ho * Wo;
    const xd = x.data as Float32Array;
    const wd = w.data as Float32Array;
    const result = new Float32Array(N * O * P);
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < groups; g++) {
        // A fresh array each time: matmul may keep a resident copy of a host array it has seen
        // before, so an array rewritten in place must not be passed twice.
        const cols = new Float32Array(K * P);
        fillColumns(cols, xd, { n, g, C, H, W, Cg, kh, kw, Ho, Wo, stride, padding, dilation });
        const a: HostTensor = {
          data: wd.subarray(g * Og * K, (g + 1) * Og * K),
          shape: [Og, K],
          dtype: 'f32',
        };
        const b: HostTensor = { data: cols, shape: [K, P], dtype: 'f32' };
        const [y] = matmul([a, b], MATMUL_ATTRS, [{ shape: [Og, P], dtype: 'f32' }]) ?? [];
        if (!y) return undefined;
        result.set(y as Float32Array, (n * O + g * Og) * P);
      }
    }
    if (bias) {
      const bd = bias.data as Float32Array;
      for (let n = 0; n < N; n++) {
        for (let o = 0; o < O; o++) {
          const base = (n * O + o) * P;
          const v = bd[o]!;
          for (let p = 0; p < P; p++) result[base + p]! += v;
        }
      }
    }
    return [result as TypedArray];
  };
}

interface Window {
  n: number;
  g: number;
  C: number;
  H: number;
  W: number;
  Cg: number;
  kh: number;
  kw: number;
  Ho: number;
  Wo: number;
  stride: readonly [number, number];
  padding: readonly [number, number];
  dilation: readonly [number, number];
}

/** cols[(c * kh + i) * kw + j, y * Wo + x] = input pixel under tap (i, j) of output (y, x), or 0. */
function fillColumns(cols: Float32Array, xd: Float32Array, s: Window): void {
  const [sy, sx] = s.stride;
  const [py, px] = s.padding;
  const [dy, dx] = s.dilation;
  const P = s.Ho * s.Wo;
  for (let c = 0; c < s.Cg; c++) {
    const plane = (s.n * s.C + s.g * s.Cg + c) * s.H * s.W;
    for (let i = 0; i < s.kh; i++) {
      for (let j = 0; j < s.kw; j++) {
        const row = ((c * s.kh + i) * s.kw + j) * P;
        for (let y = 0; y < s.Ho; y++) {
          const iy = y * sy - py + i * dy;
          const dst = row + y * s.Wo;
          if (iy < 0 || iy >= s.H) {
            cols.fill(0, dst, dst + s.Wo);
            continue;
          }
          const src = plane + iy * s.W;
          for (let x = 0; x < s.Wo; x++) {
            const ix = x * sx - px + j * dx;
            cols[dst + x] = ix >= 0 && ix < s.W ? xd[src + ix]! : 0;
          }
        }
      }
    }
  }
}

/** Adds every column entry back onto the input pixel it was read from: the transpose of {@link fillColumns}. */
function addColumns(dx: Float32Array, cols: Float32Array, s: Window): void {
  const [sy, sx] = s.stride;
  const [py, px] = s.padding;
  const [dy, dx2] = s.dilation;
  const P = s.Ho * s.Wo;
  for (let c = 0; c < s.Cg; c++) {
    const plane = (s.n * s.C + s.g * s.Cg + c) * s.H * s.W;
    for (let i = 0; i < s.kh; i++) {
      for (let j = 0; j < s.kw; j++) {
        const row = ((c * s.kh + i) * s.kw + j) * P;
        for (let y = 0; y < s.Ho; y++) {
          const iy = y * sy - py + i * dy;
          if (iy < 0 || iy >= s.H) continue;
          const src = row + y * s.Wo;
          const dst = plane + iy * s.W;
          for (let x = 0; x < s.Wo; x++) {
            const ix = x * sx - px + j * dx2;
            if (ix >= 0 && ix < s.W) dx[dst + ix]! += cols[src + x]!;
          }
        }
      }
    }
  }
}

const TRANSPOSE_A = { transposeA: true, transposeB: false, activation: 'none' };
const TRANSPOSE_B = { transposeA: false, transposeB: true, activation: 'none' };

/**
 * conv2d's filter gradient as im2col + matmul: for each image and group,
 * dW[Og, Cg*kh*kw] += dy[Og, Ho*Wo] x cols[Cg*kh*kw, Ho*Wo]^T.
 */
export function im2colConv2dGradFilter(matmul: CpuAccelerated): CpuAccelerated {
  return (inputs, attrs, outputs) => {
    const [x, dyT] = inputs as [HostTensor, HostTensor];
    if (x.dtype !== 'f32' || dyT.dtype !== 'f32') return undefined;
    const { stride, padding, dilation, groups } = attrs as Conv2dAttrs;
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [O, Cg, kh, kw] = (outputs[0] as TensorInfo).shape as [number, number, number, number];
    const [, , Ho, Wo] = dyT.shape as [number, number, number, number];
    const Og = O / groups;
    if (Og < 4) return undefined;
    const K = Cg * kh * kw;
    const P = Ho * Wo;
    const xd = x.data as Float32Array;
    const dyd = dyT.data as Float32Array;
    const dw = new Float32Array(O * K); // [O, Cg*kh*kw]
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < groups; g++) {
        // A fresh array each time: matmul may keep a resident copy of a host array it has seen
        // before, so an array rewritten in place must not be passed twice.
        const cols = new Float32Array(K * P);
        fillColumns(cols, xd, { n, g, C, H, W, Cg, kh, kw, Ho, Wo, stride, padding, dilation });
        const a: HostTensor = {
          data: dyd.subarray((n * O + g * Og) * P, (n * O + (g + 1) * Og) * P),
          shape: [Og, P],
          dtype: 'f32',
        };
        const b: HostTensor = { data: cols, shape: [K, P], dtype: 'f32' };
        const [part] = matmul([a, b], TRANSPOSE_B, [{ shape: [Og, K], dtype: 'f32' }]) ?? [];
        if (!part) return undefined;
        const base = g * Og * K;
        for (let i = 0; i < Og * K; i++) dw[base + i]! += (part as Float32Array)[i]!;
      }
    }
    return [dw as TypedArray];
  };
}

/**
 * conv2d's input gradient as matmul + col2im: for each image and group,
 * dCols[Cg*kh*kw, Ho*Wo] = W[Og, Cg*kh*kw]^T x dy[Og, Ho*Wo], added back onto the input pixels.
 */
export function im2colConv2dGradInput(matmul: CpuAccelerated): CpuAccelerated {
  return (inputs, attrs, outputs) => {
    const [dyT, w] = inputs as [HostTensor, HostTensor];
    if (dyT.dtype !== 'f32' || w.dtype !== 'f32') return undefined;
    const { stride, padding, dilation, groups } = attrs as Conv2dAttrs;
    const [N, C, H, W] = (outputs[0] as TensorInfo).shape as [number, number, number, number];
    const [O, Cg, kh, kw] = w.shape as [number, number, number, number];
    const [, , Ho, Wo] = dyT.shape as [number, number, number, number];
    const Og = O / groups;
    if (Og < 4) return undefined;
    const K = Cg * kh * kw;
    const P = Ho * Wo;
    const wd = w.data as Float32Array;
    const dyd = dyT.data as Float32Array;
    const dx = new Float32Array(N * C * H * W); // [N, C, H, W]
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < groups; g++) {
        const a: HostTensor = {
          data: wd.subarray(g * Og * K, (g + 1) * Og * K),
          shape: [Og, K],
          dtype: 'f32',
        };
        const b: HostTensor = {
          data: dyd.subarray((n * O + g * Og) * P, (n * O + (g + 1) * Og) * P),
          shape: [Og, P],
          dtype: 'f32',
        };
        const [cols] = matmul([a, b], TRANSPOSE_A, [{ shape: [K, P], dtype: 'f32' }]) ?? [];
        if (!cols) return undefined;
        addColumns(dx, cols as Float32Array, {
          n,
          g,
          C,
          H,
          W,
          Cg,
          kh,
          kw,
          Ho,
          Wo,
          stride,
          padding,
          dilation,
        });
      }
    }
    return [dx as TypedArray];
  };
}
