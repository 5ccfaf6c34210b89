// conv2d and its gradients on the CPU as im2col + the accelerated matmul: for each image and
// group, out[Og, Ho*Wo] = W[Og, Cg*kh*kw] x cols[Cg*kh*kw, Ho*Wo]. Depthwise-like convolutions (few
// output channels per group) stay on the reference kernel, where a matmul would be one row.
//
// Why tiles: the whole column matrix of one image is kh*kw times the input (600 MB for a 3x3 conv
// over 256 channels at 256x256); writing it, copying it into the WebAssembly memory and packing it
// made memory traffic (and page faults on the fresh arrays) cost more than the arithmetic. Columns
// are built for a few output rows at a time into one scratch block that is reused, and the matmul
// runs per block into the right slice of the output. 1x1 convolutions at stride 1 without padding
// need no columns at all: the input planes already are [C, H*W].
//
// Why the "flat" layout at stride 1: with the input zero-padded to [Cg, Hp, Wp], the column row of
// tap (i, j) for output rows [y0, y1) is one contiguous run of the padded plane, (y1 - y0) * Wp
// floats from row y0 + i*dh, column j*dw, if each output row is computed Wp wide instead of Wo wide:
// the last Wp - Wo columns of each row are garbage (they wrap into the next row) and are dropped.
// So building the columns is kh*kw*Cg block copies instead of a per-element loop with bounds
// checks, for (Wp - Wo) / Wo more arithmetic (3% at 64 wide). Strided convs use the general loop.
//
// Better still, the forward pass in the flat layout builds no columns at all (convRows): the padded
// planes go into the WebAssembly memory once, and matmul.c packs B's panels straight from them
// through a table of each tap's row offset. One job per image instead of one per tile, and no
// column matrix written, copied and packed: the dVAE's 3x3 convs ran 1.6-1.7x faster than tiled.
//
// The matmul keeps a resident copy of a host array it has seen twice as `b` (wasmMatmul.ts); the
// scratch blocks passed as `b` are rewritten in place, so they are reported through noteMutated,
// which keeps them from ever becoming resident.
import type { TensorInfo } from '../../backend.js';
import type { TypedArray } from '../../dtype.js';
import { noteMutated } from '../../hostMutation.js';
import type { HostTensor } from '../../kernel.js';
import type { Conv2dAttrs } from '../../kernels/conv2d.js';
import type { CpuAccelerated } from './CpuBackend.js';
import type { RowsMatmul } from './wasm/wasmMatmul.js';

const PLAIN = { transposeA: false, transposeB: false, activation: 'none' };
const TRANSPOSE_A = { transposeA: true, transposeB: false, activation: 'none' };
const TRANSPOSE_B = { transposeA: false, transposeB: true, activation: 'none' };

/**
 * Floats of one tile's column block at most (4 MiB). Probed on the 2-core machine (VL_CONV_TILE_FLOATS
 * in bench/conv-cpu.ts): 64K floats loses to per-call costs (copying the filters in, waking the
 * worker, edge tiles), 256K to 4M were within the noise of a shared machine; the whole image (the
 * old way) paid for page faults and traffic on blocks of hundreds of MB.
 */
let tileFloats = 1 << 20;

/** @internal Overrides the column block size (floats), for tuning runs; returns the previous one. */
export function setConvTileFloats(floats: number): number {
  const previous = tileFloats;
  tileFloats = floats;
  return previous;
}

/** Everything about one conv call the column builders need. */
interface Geometry {
  C: number;
  H: number;
  W: number;
  Cg: number;
  kh: number;
  kw: number;
  Ho: number;
  Wo: number;
  sy: number;
  sx: number;
  py: number;
  px: number;
  dy: number;
  dx: number;
}

function geometry(
  x: readonly number[],
  w: readonly number[],
  out: readonly number[],
  attrs: Conv2dAttrs,
): Geometry {
  return {
    C: x[1]!,
    H: x[2]!,
    W: x[3]!,
    Cg: w[1]!,
    kh: w[2]!,
    kw: w[3]!,
    Ho: out[2]!,
    Wo: out[3]!,
    sy: attrs.stride[0],
    sx: attrs.stride[1],
    py: attrs.padding[0],
    px: attrs.padding[1],
    dy: attrs.dilation[0],
    dx: attrs.dilation[1],
  };
}

/** The sizes every path starts from: images, output channels (per group), K and output pixels. */
interface Problem {
  s: Geometry;
  groups: number;
  N: number;
  O: number;
  Og: number;
  K: number;
  P: number;
}

/** The problem of a conv over x, w and out shapes; undefined (the reference runs) below 4 outputs per group. */
function problem(
  x: readonly number[],
  w: readonly number[],
  out: readonly number[],
  attrs: Conv2dAttrs,
): Problem | undefined {
  const s = geometry(x, w, out, attrs);
  const O = w[0]!;
  const Og = O / attrs.groups;
  if (Og < 4) return undefined;
  return { s, groups: attrs.groups, N: x[0]!, O, Og, K: s.Cg * s.kh * s.kw, P: s.Ho * s.Wo };
}

/** 1x1, stride 1, no padding: the columns are the input planes themselves. */
const isPointwise = (s: Geometry): boolean =>
  s.kh === 1 && s.kw === 1 && s.sy === 1 && s.sx === 1 && s.py === 0 && s.px === 0;

/** How a conv's output rows map onto the matmul's columns, and how many go in one tile. */
interface Tiling {
  /** Stride 1: the flat layout over the padded input (see the file comment). */
  flat: boolean;
  /** Padded input height and width (the input's own when there is no padding). */
  Hp: number;
  Wp: number;
  /** Matmul columns per output row: Wp in the flat layout, else Wo. */
  Wr: number;
  /** Output rows per tile: as many as keep the K x (rows * Wr) column block within tileFloats. */
  rows: number;
  /** Floats past the padded planes that the last tap's run reads or writes (garbage columns). */
  tail: number;
}

function tiling(K: number, s: Geometry): Tiling {
  const flat = s.sy === 1 && s.sx === 1;
  const Hp = s.H + 2 * s.py;
  const Wp = s.W + 2 * s.px;
  const Wr = flat ? Wp : s.Wo;
  const rows = Math.max(1, Math.min(s.Ho, Math.floor(tileFloats / (K * Wr))));
  return { flat, Hp, Wp, Wr, rows, tail: (s.kw - 1) * s.dx };
}

/** Copies the group's Cg input planes starting at `from` into the interior of `dst` [Cg, Hp, Wp]; the border stays 0. */
function padInto(dst: Float32Array, xd: Float32Array, from: number, s: Geometry, t: Tiling): void {
  for (let c = 0; c < s.Cg; c++) {
    for (let y = 0; y < s.H; y++) {
      const at = from + (c * s.H + y) * s.W;
      dst.set(xd.subarray(at, at + s.W), (c * t.Hp + y + s.py) * t.Wp + s.px);
    }
  }
}

/**
 * The flat layout's columns for output rows [y0, y1): row (c * kh + i) * kw + j is the run of
 * (y1 - y0) * Wp floats of padded plane c (at `base` in `src`) from row y0 + i*dh, column j*dw.
 */
function fillFlat(
  cols: Float32Array,
  src: Float32Array,
  base: number,
  s: Geometry,
  t: Tiling,
  y0: number,
  y1: number,
): void {
  const tpw = (y1 - y0) * t.Wp;
  const plane = t.Hp * t.Wp;
  for (let c = 0, k = 0; c < s.Cg; c++) {
    for (let i = 0; i < s.kh; i++) {
      const row = base + c * plane + (y0 + i * s.dy) * t.Wp;
      for (let j = 0; j < s.kw; j++, k++) {
        const from = row + j * s.dx;
        // At the very end of an unpadded input the run is cut short: only garbage columns miss.
        cols.set(src.subarray(from, from + tpw), k * tpw);
      }
    }
  }
}

/** The transpose of {@link fillFlat}: adds each column row onto its run of `dst` [Cg, Hp, Wp] (+ tail). */
function addFlat(
  dst: Float32Array,
  cols: Float32Array,
  s: Geometry,
  t: Tiling,
  y0: number,
  y1: number,
): void {
  const tpw = (y1 - y0) * t.Wp;
  const plane = t.Hp * t.Wp;
  for (let c = 0, k = 0; c < s.Cg; c++) {
    for (let i = 0; i < s.kh; i++) {
      const row = c * plane + (y0 + i * s.dy) * t.Wp;
      for (let j = 0; j < s.kw; j++, k++) {
        const at = row + j * s.dx;
        const from = k * tpw;
        for (let p = 0; p < tpw; p++) dst[at + p]! += cols[from + p]!;
      }
    }
  }
}

/**
 * dy's output rows [y0, y1) of the Og planes at `from` as a [Og, (y1 - y0) * Wr] block; the garbage
 * columns of the flat layout are zeroed, so they add nothing to the gradients.
 */
function gatherDy(
  dst: Float32Array,
  dyd: Float32Array,
  from: number,
  Og: number,
  s: Geometry,
  t: Tiling,
  y0: number,
  y1: number,
): void {
  const tpw = (y1 - y0) * t.Wr;
  const P = s.Ho * s.Wo;
  for (let o = 0; o < Og; o++) {
    for (let y = y0; y < y1; y++) {
      const at = from + o * P + y * s.Wo;
      const to = o * tpw + (y - y0) * t.Wr;
      dst.set(dyd.subarray(at, at + s.Wo), to);
      if (t.Wr > s.Wo) dst.fill(0, to + s.Wo, to + t.Wr);
    }
  }
}

/**
 * Output columns [xLo, xHi) whose tap at horizontal offset `j` reads inside the input (the others
 * read padding): ix = x * sx - px + j * dx must lie in [0, W).
 */
function validRange(s: Geometry, j: number): [lo: number, hi: number, offset: number] {
  const offset = j * s.dx - s.px;
  const lo = Math.min(s.Wo, Math.max(0, Math.ceil(-offset / s.sx)));
  const hi = Math.max(lo, Math.min(s.Wo, Math.floor((s.W - 1 - offset) / s.sx) + 1));
  return [lo, hi, offset];
}

/**
 * Visits the column rows of output rows [y0, y1) in the general layout: for tap (i, j) of channel
 * c, output row y is the run of Wo floats at `col` = ((c * kh + i) * kw + j) * tile + (y - y0) * Wo,
 * read from the input row at `src` = c * H * W + iy * W + j * dx - px (relative to the group's first
 * plane; undefined where iy lies in the padding), columns [lo, hi) inside the input, x at
 * src + x * sx.
 */
function forEachTapRow(
  s: Geometry,
  y0: number,
  y1: number,
  visit: (col: number, src: number | undefined, lo: number, hi: number) => void,
): void {
  const tile = (y1 - y0) * s.Wo;
  const plane = s.H * s.W;
  for (let j = 0; j < s.kw; j++) {
    const [lo, hi, offset] = validRange(s, j);
    for (let c = 0; c < s.Cg; c++) {
      for (let i = 0; i < s.kh; i++) {
        let col = ((c * s.kh + i) * s.kw + j) * tile;
        for (let y = y0; y < y1; y++, col += s.Wo) {
          const iy = y * s.sy - s.py + i * s.dy;
          visit(col, iy < 0 || iy >= s.H ? undefined : c * plane + offset + iy * s.W, lo, hi);
        }
      }
    }
  }
}

/**
 * cols[(c * kh + i) * kw + j, (y - y0) * Wo + x] = the input pixel under tap (i, j) of output
 * (y, x), or 0 in the padding, for the output rows [y0, y1) of image plane block `base` (the
 * offset of the group's first channel).
 */
function fillColumns(
  cols: Float32Array,
  xd: Float32Array,
  base: number,
  s: Geometry,
  y0: number,
  y1: number,
): void {
  forEachTapRow(s, y0, y1, (dst, row, lo, hi) => {
    if (row === undefined) {
      cols.fill(0, dst, dst + s.Wo);
      return;
    }
    if (lo > 0) cols.fill(0, dst, dst + lo);
    if (hi < s.Wo) cols.fill(0, dst + hi, dst + s.Wo);
    const src = base + row;
    if (s.sx === 1) {
      for (let x = lo; x < hi; x++) cols[dst + x] = xd[src + x]!;
    } else {
      for (let x = lo, at = src + lo * s.sx; x < hi; x++, at += s.sx) cols[dst + x] = xd[at]!;
    }
  });
}

/** Adds every column entry back onto the input pixel it was read from: the transpose of {@link fillColumns}. */
function addColumns(
  dxd: Float32Array,
  cols: Float32Array,
  base: number,
  s: Geometry,
  y0: number,
  y1: number,
): void {
  forEachTapRow(s, y0, y1, (src, row, lo, hi) => {
    if (row === undefined) return;
    for (let x = lo, at = base + row + lo * s.sx; x < hi; x++, at += s.sx) dxd[at]! += cols[src + x]!;
  });
}

/**
 * The tile's columns for output rows [y0, y1) of the group at `xBase`: the flat layout's block
 * copies (from `padded`, the padded planes, where the conv pads) or the general loop.
 */
function fillTile(
  cols: Float32Array,
  xd: Float32Array,
  xBase: number,
  padded: Float32Array | undefined,
  s: Geometry,
  t: Tiling,
  y0: number,
  y1: number,
): void {
  if (!t.flat) fillColumns(cols, xd, xBase, s, y0, y1);
  else if (padded) fillFlat(cols, padded, 0, s, t, y0, y1);
  else fillFlat(cols, xd, xBase, s, t, y0, y1);
}

/** The group's padded planes [Cg, Hp, Wp] and the tail the last tap's run reaches past them. */
const paddedPlanes = (s: Geometry, t: Tiling): Float32Array => new Float32Array(s.Cg * t.Hp * t.Wp + t.tail);

/** A scratch block that is rewritten in place and may be passed to the matmul as `b`. */
function scratch(floats: number): Float32Array {
  const block = new Float32Array(floats);
  noteMutated(block);
  return block;
}

const f32 = (data: Float32Array, shape: number[]): HostTensor => ({ data, shape, dtype: 'f32' });

/**
 * Output rows [y0, y1) of Og channels, computed as `y` [Og, (y1 - y0) * Wr], into the output planes
 * [Og, Ho, Wo] at `outBase` of `result`: the garbage columns past Wo dropped, `bias[o]` added.
 */
function scatterRows(
  result: Float32Array,
  y: Float32Array,
  outBase: number,
  bias: Float32Array | undefined,
  Og: number,
  s: Geometry,
  Wr: number,
  y0: number,
  y1: number,
): void {
  const tpw = (y1 - y0) * Wr;
  const P = s.Ho * s.Wo;
  for (let o = 0; o < Og; o++) {
    const v = bias ? bias[o]! : 0;
    const plane = outBase + o * P;
    for (let yy = y0; yy < y1; yy++) {
      const dst = plane + yy * s.Wo;
      const from = o * tpw + (yy - y0) * Wr;
      for (let x = 0; x < s.Wo; x++) result[dst + x] = y[from + x]! + v;
    }
  }
}

/**
 * The flat layout's convolution without a column matrix: the group's padded planes go straight
 * into the WebAssembly memory and the matmul reads tap (c, i, j)'s row of B at its offset in them
 * (see the file comment), all output rows in one job. Resolves to [Og, Ho * Wp] (the garbage
 * columns included), or undefined when the job does not fit.
 */
function convRows(
  rowsMatmul: RowsMatmul,
  a: Float32Array,
  Og: number,
  xd: Float32Array,
  xBase: number,
  s: Geometry,
  t: Tiling,
): Float32Array | undefined {
  const K = s.Cg * s.kh * s.kw;
  const plane = t.Hp * t.Wp;
  const rows = new Int32Array(K);
  for (let c = 0, k = 0; c < s.Cg; c++)
    for (let i = 0; i < s.kh; i++)
      for (let j = 0; j < s.kw; j++, k++) rows[k] = c * plane + i * s.dy * t.Wp + j * s.dx;
  const floats = s.Cg * plane + t.tail; // paddedPlanes' size
  const source = {
    floats,
    fill(memory: Float32Array, at: number) {
      memory.fill(0, at, at + floats);
      padInto(memory.subarray(at, at + floats), xd, xBase, s, t);
    },
  };
  return rowsMatmul(a, Og, K, source, rows, s.Ho * t.Wp);
}

/** Wraps an accelerated matmul into an accelerated conv2d (undefined: use the reference). */
export function im2colConv2d(matmul: CpuAccelerated & { rows?: RowsMatmul }): CpuAccelerated {
  return (inputs, attrs, outputs) => {
    const [x, w, bias] = inputs as [HostTensor, HostTensor, HostTensor | undefined];
    const out = outputs[0] as TensorInfo;
    if (x.dtype !== 'f32' || w.dtype !== 'f32') return undefined;
    const pr = problem(x.shape, w.shape, out.shape, attrs as Conv2dAttrs);
    if (!pr) return undefined;
    const { s, groups, N, O, Og, K, P } = pr;
    const xd = x.data as Float32Array;
    const wd = w.data as Float32Array;
    const bd = bias?.data as Float32Array | undefined;

    if (groups === 1 && isPointwise(s)) {
      // One batched call: W [O, C] (broadcast) x x [N, C, H*W] is already [N, O, H*W]. The fresh
      // subarray view keeps x's own array from being counted as a reused `b`.
      const [y] =
        matmul([f32(wd, [O, K]), f32(xd.subarray(0), [N, s.C, P])], PLAIN, [
          { shape: [N, O, P], dtype: 'f32' },
        ]) ?? [];
      if (!y) return undefined;
      const result = y as Float32Array;
      if (bd) {
        for (let no = 0; no < N * O; no++) {
          const v = bd[no % O]!;
          for (let p = no * P; p < (no + 1) * P; p++) result[p]! += v;
        }
      }
      return [result as TypedArray];
    }

    const t = tiling(K, s);
    const cols = scratch(K * t.rows * t.Wr);
    const padded = t.flat && (s.py > 0 || s.px > 0) ? paddedPlanes(s, t) : undefined;
    const result = new Float32Array(N * O * P);
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < groups; g++) {
        const a = f32(wd.subarray(g * Og * K, (g + 1) * Og * K), [Og, K]);
        const xBase = (n * s.C + g * s.Cg) * s.H * s.W;
        const whole =
          t.flat && matmul.rows && convRows(matmul.rows, a.data as Float32Array, Og, xd, xBase, s, t);
        if (whole) {
          scatterRows(result, whole, (n * O + g * Og) * P, bd?.subarray(g * Og), Og, s, t.Wr, 0, s.Ho);
          continue;
        }
        if (padded) padInto(padded, xd, xBase, s, t);
        for (let y0 = 0; y0 < s.Ho; y0 += t.rows) {
          const y1 = Math.min(s.Ho, y0 + t.rows);
          const tpw = (y1 - y0) * t.Wr;
          fillTile(cols, xd, xBase, padded, s, t, y0, y1);
          const [y] =
            matmul([a, f32(cols.subarray(0, K * tpw), [K, tpw])], PLAIN, [
              { shape: [Og, tpw], dtype: 'f32' },
            ]) ?? [];
          if (!y) return undefined;
          const yd = y as Float32Array;
          scatterRows(result, yd, (n * O + g * Og) * P, bd?.subarray(g * Og), Og, s, t.Wr, y0, y1);
        }
      }
    }
    return [result as TypedArray];
  };
}

/**
 * conv2d's filter gradient as im2col + matmul: for each image, group and tile of output rows,
 * dW[Og, Cg*kh*kw] += dy[Og, tile] x cols[Cg*kh*kw, tile]^T.
 */
export function im2colConv2dGradFilter(matmul: CpuAccelerated): CpuAccelerated {
  return (inputs, attrs, outputs) => {
    const [x, dyT] = inputs as [HostTensor, HostTensor];
    if (x.dtype !== 'f32' || dyT.dtype !== 'f32') return undefined;
    const pr = problem(x.shape, (outputs[0] as TensorInfo).shape, dyT.shape, attrs as Conv2dAttrs);
    if (!pr) return undefined;
    const { s, groups, N, O, Og, K, P } = pr;
    const xd = x.data as Float32Array;
    const dyd = dyT.data as Float32Array;
    const dw = new Float32Array(O * K); // [O, Cg*kh*kw]
    const accumulate = (part: TypedArray, at: number) => {
      const pd = part as Float32Array;
      for (let i = 0; i < pd.length; i++) dw[at + i]! += pd[i]!;
    };

    if (groups === 1 && isPointwise(s)) {
      for (let n = 0; n < N; n++) {
        const a = f32(dyd.subarray(n * O * P, (n + 1) * O * P), [O, P]);
        const b = f32(xd.subarray(n * s.C * P, (n + 1) * s.C * P), [s.C, P]);
        const [part] = matmul([a, b], TRANSPOSE_B, [{ shape: [O, K], dtype: 'f32' }]) ?? [];
        if (!part) return undefined;
        accumulate(part, 0);
      }
      return [dw as TypedArray];
    }

    const t = tiling(K, s);
    const cols = scratch(K * t.rows * t.Wr);
    const padded = t.flat && (s.py > 0 || s.px > 0) ? paddedPlanes(s, t) : undefined;
    // dy's tile rows are strided in dy (one run per channel and row): gathered into a block that is
    // only ever passed as `a`, which the matmul never keeps. Its zeroed garbage columns also cancel
    // the garbage columns of the flat layout (unless the input holds infinities: 0 * inf).
    const dyTile = new Float32Array(Og * t.rows * t.Wr);
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < groups; g++) {
        const xBase = (n * s.C + g * s.Cg) * s.H * s.W;
        if (padded) padInto(padded, xd, xBase, s, t);
        for (let y0 = 0; y0 < s.Ho; y0 += t.rows) {
          const y1 = Math.min(s.Ho, y0 + t.rows);
          const tpw = (y1 - y0) * t.Wr;
          fillTile(cols, xd, xBase, padded, s, t, y0, y1);
          gatherDy(dyTile, dyd, (n * O + g * Og) * P, Og, s, t, y0, y1);
          const a = f32(dyTile.subarray(0, Og * tpw), [Og, tpw]);
          const b = f32(cols.subarray(0, K * tpw), [K, tpw]);
          const [part] = matmul([a, b], TRANSPOSE_B, [{ shape: [Og, K], dtype: 'f32' }]) ?? [];
          if (!part) return undefined;
          accumulate(part, g * Og * K);
        }
      }
    }
    return [dw as TypedArray];
  };
}

/**
 * At stride 1 without groups, the input gradient is itself a convolution: dy correlated with the
 * filters flipped in space and with in/out channels swapped, padded by `d * (k - 1) - p` (so the
 * result has x's size again). That runs through the forward path, whose columns are block copies
 * of dy (O * kh * kw rows), where col2im would scatter-add C * kh * kw rows per pixel in JS; for
 * the thin res-path convs of a dVAE (32 -> 8 channels) that is 4x less column traffic.
 * Undefined where it does not apply (or the forward path declines, e.g. fewer than 4 channels).
 */
function gradInputAsConv(
  conv: CpuAccelerated,
  [dyT, w]: readonly HostTensor[],
  attrs: Conv2dAttrs,
  outputs: readonly TensorInfo[],
): TypedArray[] | undefined {
  const [O, C, kh, kw] = w!.shape as [number, number, number, number];
  const [dh, dw] = attrs.dilation;
  const py = dh * (kh - 1) - attrs.padding[0];
  const px = dw * (kw - 1) - attrs.padding[1];
  if (attrs.groups !== 1 || attrs.stride[0] !== 1 || attrs.stride[1] !== 1 || py < 0 || px < 0)
    return undefined;
  if (kh === 1 && kw === 1) return undefined; // the pointwise path below is one matmul already
  if (dyT!.dtype !== 'f32' || w!.dtype !== 'f32') return undefined;
  const wd = w!.data as Float32Array; // [O, C, kh, kw]
  const flipped = new Float32Array(wd.length); // [C, O, kh, kw], each filter rotated by 180 degrees
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++)
          flipped[((c * O + o) * kh + kh - 1 - i) * kw + kw - 1 - j] = wd[((o * C + c) * kh + i) * kw + j]!;
  const flippedAttrs: Conv2dAttrs = { ...attrs, padding: [py, px] };
  return conv([dyT!, f32(flipped, [C, O, kh, kw])], flippedAttrs, outputs) ?? undefined;
}

/**
 * conv2d's input gradient as matmul + col2im: for each image, group and tile of output rows,
 * dCols[Cg*kh*kw, tile] = W[Og, Cg*kh*kw]^T x dy[Og, tile], added back onto the input pixels.
 */
export function im2colConv2dGradInput(matmul: CpuAccelerated): CpuAccelerated {
  const conv = im2colConv2d(matmul);
  return (inputs, attrs, outputs) => {
    const viaConv = gradInputAsConv(conv, inputs, attrs as Conv2dAttrs, outputs);
    if (viaConv) return viaConv;
    const [dyT, w] = inputs as [HostTensor, HostTensor];
    if (dyT.dtype !== 'f32' || w.dtype !== 'f32') return undefined;
    const pr = problem((outputs[0] as TensorInfo).shape, w.shape, dyT.shape, attrs as Conv2dAttrs);
    if (!pr) return undefined;
    const { s, groups, N, O, Og, K, P } = pr;
    const wd = w.data as Float32Array;
    const dyd = dyT.data as Float32Array;

    if (groups === 1 && isPointwise(s)) {
      // W^T [C, O] x dy [N, O, H*W] is dx [N, C, H*W], no col2im.
      const [dx] =
        matmul([f32(wd, [O, K]), f32(dyd.subarray(0), [N, O, P])], TRANSPOSE_A, [
          { shape: [N, s.C, P], dtype: 'f32' },
        ]) ?? [];
      return dx ? [dx] : undefined;
    }

    const dx = new Float32Array(N * s.C * s.H * s.W); // [N, C, H, W]
    const t = tiling(K, s);
    // The dy tile is `b` and rewritten per tile: a scratch block (see the file comment).
    const dyTile = scratch(Og * t.rows * t.Wr);
    // The flat layout adds onto the padded planes, cropped into dx per image and group.
    const padded = t.flat ? paddedPlanes(s, t) : undefined;
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < groups; g++) {
        const a = f32(wd.subarray(g * Og * K, (g + 1) * Og * K), [Og, K]);
        const xBase = (n * s.C + g * s.Cg) * s.H * s.W;
        padded?.fill(0);
        for (let y0 = 0; y0 < s.Ho; y0 += t.rows) {
          const y1 = Math.min(s.Ho, y0 + t.rows);
          const tpw = (y1 - y0) * t.Wr;
          gatherDy(dyTile, dyd, (n * O + g * Og) * P, Og, s, t, y0, y1);
          const b = f32(dyTile.subarray(0, Og * tpw), [Og, tpw]);
          const [cols] = matmul([a, b], TRANSPOSE_A, [{ shape: [K, tpw], dtype: 'f32' }]) ?? [];
          if (!cols) return undefined;
          if (padded) addFlat(padded, cols as Float32Array, s, t, y0, y1);
          else addColumns(dx, cols as Float32Array, xBase, s, y0, y1);
        }
        if (padded) {
          for (let c = 0; c < s.Cg; c++) {
            for (let y = 0; y < s.H; y++) {
              const from = (c * t.Hp + y + s.py) * t.Wp + s.px;
              dx.set(padded.subarray(from, from + s.W), xBase + (c * s.H + y) * s.W);
            }
          }
        }
      }
    }
    return [dx as TypedArray];
  };
}
