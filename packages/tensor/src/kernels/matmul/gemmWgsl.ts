// WGSL for the tiled GEMM: a workgroup computes a BM x BN output tile; each thread owns a TM x TN
// register tile whose rows and columns are split into 4-wide chunks spread across the tile (so the
// vec4 reads of the shared slices are conflict-free broadcasts and the vec4 stores of C coalesce).
// K is walked in BK slices staged in workgroup memory as [BK][BM] and [BK][BN] (k-major, so a
// thread's fragments are vec4 reads), with the next slice prefetched into registers while the
// current one is multiplied (and, double buffered, stored into the other half meanwhile).
import { WGSL_SHAPE_AT, uniformLayout } from '../../backends/webgpu/uniforms.js';
import type { QuantizedDType } from '../../dtype.js';
import { wgslDequantElement } from '../quantize.js';
import { WGSL_ACTIVATIONS } from './activation.js';
import { type GemmTileConfig, gemmThreads } from './config.js';

const GEMM_FIELDS = {
  M: 'u32',
  N: 'u32',
  K: 'u32',
  tilesM: 'u32',
  tilesN: 'u32',
  tilesPerBatch: 'u32',
  batches: 'u32',
  batchRank: 'u32',
  kTiles: 'u32',
  /** Chunks of K (split-K; 1 when not split): workgroup chunk c takes kChunkTiles of the kTiles. */
  kSplit: 'u32',
  kChunkTiles: 'u32',
  /** 1 when a bias is bound (else a placeholder is). */
  hasBias: 'u32',
  /** The activation's code (ACTIVATION_CODES). */
  activation: 'u32',
  batchShape: 'shape',
  aStrides: 'shape',
  bStrides: 'shape',
} as const;

export const gemmParams = uniformLayout(GEMM_FIELDS);

/**
 * The GEMM's uniforms plus the sizes an implicit-im2col b reads (see {@link Im2colGeometry}):
 * the input's channels C, height H and width W.
 */
export const convGemmParams = uniformLayout({
  ...GEMM_FIELDS,
  C: 'u32',
  H: 'u32',
  W: 'u32',
});

/**
 * A convolution as this GEMM (groups 1): a = the filters [O, C*kh*kw], b = the input's im2col
 * matrix [C*kh*kw, OH*OW] per image, formed while loading b's slices (never stored), out = the
 * NCHW output [O, OH*OW] per image, the bias added per row (output channel). The window's
 * geometry and the output width are compiled in; the other sizes are uniforms
 * ({@link convGemmParams}).
 */
export interface Im2colGeometry {
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly ph: number;
  readonly pw: number;
  readonly dh: number;
  readonly dw: number;
  /**
   * The output width: each b element's pixel row and column are a division by it, by a constant
   * (a multiply and a shift) rather than by a uniform (a long integer division on GPUs).
   */
  readonly ow: number;
}

/** WGSL reading the im2col matrix at (k, pixel m) of the image at element offset `off`. */
function wgslIm2col(g: Im2colGeometry): string {
  const taps = g.kh * g.kw;
  return `fn im2colAt(off: u32, m: u32, k: u32) -> f32 {
  let c = k / ${taps}u;
  let r = k % ${taps}u;
  let iy = i32((m / ${g.ow}u) * ${g.sh}u + (r / ${g.kw}u) * ${g.dh}u) - ${g.ph};
  let ix = i32((m % ${g.ow}u) * ${g.sw}u + (r % ${g.kw}u) * ${g.dw}u) - ${g.pw};
  if (iy < 0 || ix < 0 || iy >= i32(p.H) || ix >= i32(p.W)) { return 0.0; }
  return b[off + (c * p.H + u32(iy)) * p.W + u32(ix)];
}
`;
}

/** Everything that changes the GEMM shader's source (all of it goes into the pipeline key). */
export interface GemmVariant {
  readonly tile: GemmTileConfig;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  readonly bDtype: MatmulBDType;
  /** a is [K, M] with M a multiple of 4: read as vec4s (a [M, K] is always read as scalars). */
  readonly vecA: boolean;
  /** b is [K, N] with N a multiple of 4: read as vec4s (b [N, K] is always read as scalars). */
  readonly vecB: boolean;
  /** N is a multiple of 4: the output (and bias) are written as vec4s. */
  readonly vecC: boolean;
  /**
   * One spare vec4 per k-row of As / Bs. The operand read along K (a [M, K], b [N, K]) is stored
   * by threads that differ in k, which then write to the same banks unless the rows are skewed.
   */
  readonly padA: boolean;
  readonly padB: boolean;
  /** b is the implicit im2col matrix of a convolution's input (a f32 [K, N] read as scalars). */
  readonly im2col?: Im2colGeometry;
  /** A residual (the output's shape) is bound before `out` and added last. */
  readonly residual?: boolean;
}

/** vec4s per k-row of each slice in workgroup memory. */
export function sliceStrides(v: Pick<GemmVariant, 'tile' | 'padA' | 'padB'>): [number, number] {
  return [v.tile.bm / 4 + (v.padA ? 1 : 0), v.tile.bn / 4 + (v.padB ? 1 : 0)];
}

/** Workgroup memory of a variant, in bytes. */
export function gemmVariantBytes(v: Pick<GemmVariant, 'tile' | 'padA' | 'padB'>): number {
  const [sa, sb] = sliceStrides(v);
  return (sa + sb) * v.tile.bk * 16 * (v.tile.doubleBuffer ? 2 : 1);
}

export function gemmKey(v: GemmVariant): string {
  const t = v.tile;
  return [
    'matmul.gemm',
    `${t.bm}x${t.bn}x${t.bk}`,
    `t${t.tm}x${t.tn}`,
    t.doubleBuffer ? 'db' : 'sb',
    `g${t.groupM}`,
    t.fma ? 'fma' : 'muladd',
    t.unroll ? 'unroll' : 'loop',
    t.warpLanes ? 'warp' : 'rows',
    `${v.transposeA ? 'T' : 'N'}${v.transposeB ? 'T' : 'N'}`,
    v.bDtype,
    `${+v.vecA}${+v.vecB}${+v.vecC}`,
    `pad${+v.padA}${+v.padB}`,
    ...(v.im2col ? [`im2col${Object.values(v.im2col).join(',')}`] : []),
    ...(v.residual ? ['res'] : []),
  ].join(':');
}

/** The storage dtypes matmul reads b in. */
export type MatmulBDType = 'f32' | 'f16' | 'bf16' | QuantizedDType;

/**
 * WGSL reading b at element index `e`: `readB4` (a vec4, `e` a multiple of 4) when b is bound as
 * vectors, else `readB1` (a scalar). Quantized b is bound as vec4<u32> only by the GEMV kernel,
 * which unpacks whole blocks itself; the GEMM reads scalars, dequantized on load into the tile.
 */
export function wgslReadB(dtype: MatmulBDType, vec: boolean): string {
  if (dtype === 'q8' || dtype === 'q4') {
    if (vec) return '';
    return `${wgslDequantElement(dtype, 'b')}
fn readB1(e: u32) -> f32 { return dequantElement(e, p.N * p.K); }
`;
  }
  if (dtype === 'f32') {
    return vec
      ? 'fn readB4(e: u32) -> vec4<f32> { return b[e / 4u]; }\n'
      : 'fn readB1(e: u32) -> f32 { return b[e]; }\n';
  }
  // f16/bf16 are packed two per u32, low half first; bf16 is the high half of an f32.
  if (vec) {
    const body =
      dtype === 'f16'
        ? 'let w = b[e / 4u]; return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));'
        : 'let w = b[e / 4u]; return bitcast<vec4<f32>>(vec4<u32>(w.x << 16u, w.x & 0xffff0000u, w.y << 16u, w.y & 0xffff0000u));';
    return `fn readB4(e: u32) -> vec4<f32> { ${body} }\n`;
  }
  const body =
    dtype === 'f16'
      ? 'return unpack2x16float(b[e >> 1u])[e & 1u];'
      : 'let w = b[e >> 1u]; return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (e & 1u) == 1u));';
  return `fn readB1(e: u32) -> f32 { ${body} }\n`;
}

/** The storage type of b's binding. */
export function wgslBType(dtype: MatmulBDType, vec: boolean): string {
  if (dtype === 'f32') return vec ? 'vec4<f32>' : 'f32';
  if (dtype === 'q8' || dtype === 'q4') return vec ? 'vec4<u32>' : 'u32';
  return vec ? 'vec2<u32>' : 'u32';
}

/** WGSL computing `aOff`/`bOff`, the element offsets of batch item `batch` in a and b. */
export const WGSL_BATCH_OFFSETS = `var aOff = 0u;
  var bOff = 0u;
  {
    var r = batch;
    for (var d = i32(p.batchRank) - 1; d >= 0; d--) {
      let dim = shapeAt(p.batchShape, u32(d));
      let i = r % dim;
      r /= dim;
      aOff += i * shapeAt(p.aStrides, u32(d));
      bOff += i * shapeAt(p.bStrides, u32(d));
    }
  }`;

interface SliceLoad {
  /** Declarations of the prefetch registers. */
  decl: string[];
  /** Global memory -> registers for the slice starting at `k0`. */
  load: string[];
  /** Registers -> workgroup memory at vec4 offset `base`. */
  store: string[];
}

/**
 * Loads of one operand's slice into workgroup memory laid out `[BK][width / 4]` vec4s (width = BM
 * for a, BN for b), each vec4 holding 4 consecutive rows (of a) or columns (of b) at one k. Every
 * thread fills whole vec4s: a store of one component by several threads into the same vec4 is a
 * read-modify-write race on backends that lower dynamic component stores (HLSL).
 * - The operand contiguous along its row/column dim (a transposed, b not): consecutive threads
 *   take consecutive vec4s of a k-row, read as one vec4 when that dim is a multiple of 4 (`vec`),
 *   else as 4 bounds-checked scalars.
 * - The operand contiguous along K: consecutive threads take consecutive k, each reading 4 scalars
 *   from 4 consecutive rows (so a warp still reads whole rows' segments).
 */
function slice(
  name: 'a' | 'b',
  width: number,
  bk: number,
  threads: number,
  alongK: boolean,
  vec: boolean,
  read: { vec: (e: string) => string; one: (e: string) => string },
  index: (x: string, k: string) => string,
  extent: string,
  stride: number,
): SliceLoad {
  const out: SliceLoad = { decl: [], load: [], store: [] };
  const reg = name === 'a' ? 'ra' : 'rb';
  const origin = name === 'a' ? 'row0' : 'col0';
  const per = (width * bk) / 4 / threads;
  for (let i = 0; i < per; i++) {
    const l = `(lid + ${i * threads}u)`;
    // q: which vec4 of the k-row (4 rows or columns from x0 = origin + 4q); k within the slice.
    const [q, k] = alongK
      ? [`${l} / ${bk}u`, `${l} % ${bk}u`]
      : [`${l} % ${width / 4}u`, `${l} / ${width / 4}u`];
    out.decl.push(`var ${reg}${i} = vec4<f32>(0.0);`);
    out.load.push(`{ let x0 = ${origin} + (${q}) * 4u; let gk = k0 + ${k};`);
    if (vec) {
      out.load.push(
        `  ${reg}${i} = vec4<f32>(0.0); if (x0 < ${extent} && gk < p.K) { ${reg}${i} = ${read.vec(index('x0', 'gk'))}; } }`,
      );
    } else {
      out.load.push(`  ${reg}${i} = vec4<f32>(0.0); if (gk < p.K) {`);
      for (let c = 0; c < 4; c++) {
        out.load.push(
          `    if (x0 + ${c}u < ${extent}) { ${reg}${i}[${c}] = ${read.one(index(`(x0 + ${c}u)`, 'gk'))}; }`,
        );
      }
      out.load.push('  } }');
    }
    out.store.push(`${name === 'a' ? 'As' : 'Bs'}[base + (${k}) * ${stride}u + ${q}] = ${reg}${i};`);
  }
  return out;
}

/** Loads of A's BM x BK slice (a is [M, K], or [K, M] when transposed). */
function sliceA(v: GemmVariant, threads: number): SliceLoad {
  const read = { vec: (e: string) => `a[(${e}) / 4u]`, one: (e: string) => `a[${e}]` };
  const index = v.transposeA
    ? (m: string, k: string) => `aOff + ${k} * p.M + ${m}`
    : (m: string, k: string) => `aOff + ${m} * p.K + ${k}`;
  return slice(
    'a',
    v.tile.bm,
    v.tile.bk,
    threads,
    !v.transposeA,
    v.vecA,
    read,
    index,
    'p.M',
    sliceStrides(v)[0],
  );
}

/** Loads of B's BK x BN slice (b is [K, N], or [N, K] when transposed). */
function sliceB(v: GemmVariant, threads: number): SliceLoad {
  if (v.im2col) {
    // Consecutive threads take consecutive pixels of a k-row: neighbouring reads of x's rows.
    const read = { vec: (e: string) => e, one: (e: string) => e };
    const index = (n: string, k: string) => `im2colAt(bOff, ${n}, ${k})`;
    return slice('b', v.tile.bn, v.tile.bk, threads, false, false, read, index, 'p.N', sliceStrides(v)[1]);
  }
  const read = { vec: (e: string) => `readB4(${e})`, one: (e: string) => `readB1(${e})` };
  const index = v.transposeB
    ? (n: string, k: string) => `bOff + ${n} * p.K + ${k}`
    : (n: string, k: string) => `bOff + ${k} * p.N + ${n}`;
  return slice(
    'b',
    v.tile.bn,
    v.tile.bk,
    threads,
    v.transposeB,
    v.vecB,
    read,
    index,
    'p.N',
    sliceStrides(v)[1],
  );
}

/** The multiply of one staged slice: BK rank-1 updates of the register tile (unrolled, or a loop). */
function multiply(v: GemmVariant): string[] {
  const { bm, bn, bk, tm, tn, unroll } = v.tile;
  const [strideA, strideB] = sliceStrides(v);
  const lines: string[] = [];
  const step = (kk: string, s: string) => {
    for (let i = 0; i < tm / 4; i++)
      lines.push(`let a${s}_${i} = As[aBase + ${kk} * ${strideA}u + ${i * (bm / tm)}u];`);
    for (let j = 0; j < tn / 4; j++)
      lines.push(`let b${s}_${j} = Bs[bBase + ${kk} * ${strideB}u + ${j * (bn / tn)}u];`);
    for (let r = 0; r < tm; r++) {
      const a = `a${s}_${r >> 2}[${r & 3}]`;
      for (let j = 0; j < tn / 4; j++) {
        const acc = `c${r}_${j}`;
        lines.push(
          v.tile.fma
            ? `${acc} = fma(vec4<f32>(${a}), b${s}_${j}, ${acc});`
            : `${acc} = ${acc} + ${a} * b${s}_${j};`,
        );
      }
    }
  };
  if (unroll) {
    for (let kk = 0; kk < bk; kk++) step(`${kk}u`, `${kk}`);
    return lines;
  }
  step('kk', '');
  return [`for (var kk = 0u; kk < ${bk}u; kk++) {`, ...lines.map((l) => `  ${l}`), '}'];
}

/**
 * Bias, activation and the bounds-checked store of the register tile. Without an activation each
 * accumulator is stored directly. With one, the tile goes through a local array and a loop, so the
 * activation code appears once in the shader instead of once per output: compilers inline every
 * call, and software adapters compile slowly in proportion.
 */
function epilogue(v: GemmVariant): string[] {
  const { bm, bn, tm, tn } = v.tile;
  const chunks = tn / 4;
  const rowAt = (r: string) => `row0 + ty * 4u + (${r} / 4u) * ${(4 * bm) / tm}u + ${r} % 4u`;
  const colAt = (j: string) => `col0 + tx * 4u + ${j} * ${(4 * bn) / tn}u`;
  // A convolution's bias is per output channel, a row here; a product's is per column.
  const bias4 = v.im2col ? 'vec4<f32>(bias[row])' : 'bias[col / 4u]';
  const bias1 = v.im2col ? 'bias[row]' : 'bias[col + c]';
  // With a residual, the stored value gains it last (the vec4 or scalar at the same place).
  const res4 = v.residual ? ' + res[(outRow + col) / 4u]' : '';
  const res1 = v.residual ? ' + res[outRow + col + c]' : '';
  const store = (x: string, apply: (e: string) => string, indent: string) =>
    v.vecC
      ? [
          `${indent}if (row < p.M && col < p.N) {`,
          `${indent}  var x = ${x}; if (p.hasBias != 0u) { x += ${bias4}; }`,
          `${indent}  out[(outRow + col) / 4u] = ${apply('x')}${res4};`,
          `${indent}}`,
        ]
      : [
          `${indent}if (row < p.M) {`,
          `${indent}  let x = ${x};`,
          `${indent}  for (var c = 0u; c < 4u; c++) {`,
          `${indent}    if (col + c < p.N) {`,
          `${indent}      var y = x[c]; if (p.hasBias != 0u) { y += ${bias1}; }`,
          `${indent}      out[outRow + col + c] = ${apply('y')}${res1};`,
          `${indent}    }`,
          `${indent}  }`,
          `${indent}}`,
        ];
  const lines = ['if (p.activation == 0u) {'];
  for (let r = 0; r < tm; r++) {
    for (let j = 0; j < chunks; j++) {
      lines.push(
        `  { let row = ${rowAt(`${r}u`)}; let col = ${colAt(`${j}u`)}; let outRow = ((split * p.batches + batch) * p.M + row) * p.N;`,
      );
      lines.push(...store(`c${r}_${j}`, (e) => e, '    '));
      lines.push('  }');
    }
  }
  lines.push('} else {');
  lines.push(`  var tile: array<vec4<f32>, ${tm * chunks}>;`);
  for (let r = 0; r < tm; r++)
    for (let j = 0; j < chunks; j++) lines.push(`  tile[${r * chunks + j}] = c${r}_${j};`);
  lines.push(`  for (var i = 0u; i < ${tm * chunks}u; i++) {`);
  lines.push(
    `    let row = ${rowAt(`(i / ${chunks}u)`)}; let col = ${colAt(`(i % ${chunks}u)`)}; let outRow = ((split * p.batches + batch) * p.M + row) * p.N;`,
  );
  lines.push(
    ...store('tile[i]', (e) => (v.vecC ? `act4(${e}, p.activation)` : `act(${e}, p.activation)`), '    '),
  );
  lines.push('  }');
  lines.push('}');
  return lines;
}

/**
 * This thread's column `tx` and row `ty` in the `bm / tm` x `bn / tn` thread grid: row-major in
 * `lid`, or with `warpLanes` each 32 consecutive threads a 4 x 8 block of it (blocks row-major),
 * interleaved so that lanes `l` and `l ^ 1` share a column (the same b fragments) and `l` and
 * `l ^ 2` a row (the same a fragments). NVIDIA's shared memory returns 128 bytes a cycle, and a
 * vec4 read whose lane pairs share addresses that way takes half the cycles (the layout CUTLASS's
 * SGEMM gives a warp): row-major lanes share a's fragments only.
 */
function threadCoordinates(t: GemmTileConfig): string[] {
  const gridX = t.bn / t.tn;
  if (!t.warpLanes) return [`let tx = lid % ${gridX}u;`, `let ty = lid / ${gridX}u;`];
  const warpsX = gridX / 8;
  return [
    'let warp = lid / 32u;',
    'let lane = lid % 32u;',
    // Lane bits 0 and 2 pick the row in the block; bits 1, 3 and 4 the column.
    `let tx = (warp % ${warpsX}u) * 8u + (((lane >> 1u) & 1u) | ((lane >> 2u) & 6u));`,
    `let ty = (warp / ${warpsX}u) * 4u + ((lane & 1u) | ((lane >> 1u) & 2u));`,
  ];
}

/** The GEMM shader for a variant. Bindings: a, b, bias (a placeholder when there is none), the residual if any, out, uniforms. */
export function gemmWgsl(v: GemmVariant): string {
  const { bm, bn, bk, tm, tn, doubleBuffer, groupM } = v.tile;
  const threads = gemmThreads(v.tile);
  const A = sliceA(v, threads);
  const B = sliceB(v, threads);
  const [strideA, strideB] = sliceStrides(v);
  const sliceA4 = strideA * bk;
  const sliceB4 = strideB * bk;
  const buffers = doubleBuffer ? 2 : 1;
  let binding = 0;
  const decls = [
    `@group(0) @binding(${binding++}) var<storage, read> a: array<${v.vecA ? 'vec4<f32>' : 'f32'}>;`,
    `@group(0) @binding(${binding++}) var<storage, read> b: array<${wgslBType(v.bDtype, v.vecB)}>;`,
  ];
  decls.push(
    `@group(0) @binding(${binding++}) var<storage, read> bias: array<${v.vecC && !v.im2col ? 'vec4<f32>' : 'f32'}>;`,
  );
  if (v.residual) {
    decls.push(
      `@group(0) @binding(${binding++}) var<storage, read> res: array<${v.vecC ? 'vec4<f32>' : 'f32'}>;`,
    );
  }
  decls.push(
    `@group(0) @binding(${binding++}) var<storage, read_write> out: array<${v.vecC ? 'vec4<f32>' : 'f32'}>;`,
  );
  decls.push(`@group(0) @binding(${binding++}) var<uniform> p: Params;`);
  const accs: string[] = [];
  for (let r = 0; r < tm; r++) for (let j = 0; j < tn / 4; j++) accs.push(`var c${r}_${j} = vec4<f32>(0.0);`);
  const indent = (lines: string[], n: number) => lines.map((l) => ' '.repeat(n) + l).join('\n');
  const storeSlices = (buf: string) =>
    `{\n      let base = ${buf} * ${sliceA4}u;\n${indent(A.store, 6)}\n    }\n    {\n      let base = ${buf} * ${sliceB4}u;\n${indent(B.store, 6)}\n    }`;
  const mul = `{\n      let aBase = cur * ${sliceA4}u + ty;\n      let bBase = cur * ${sliceB4}u + tx;\n${indent(multiply(v), 6)}\n    }`;
  const loop = doubleBuffer
    ? `for (var kt = 0u; kt < kTiles; kt++) {
    let cur = kt & 1u;
    let k0 = (kt0 + kt + 1u) * ${bk}u;
    if (kt + 1u < kTiles) {
${indent(A.load, 6)}
${indent(B.load, 6)}
    }
    ${mul}
    if (kt + 1u < kTiles) {
    ${storeSlices('(cur ^ 1u)')}
    }
    workgroupBarrier();
  }`
    : `for (var kt = 0u; kt < kTiles; kt++) {
    let cur = 0u;
    let k0 = (kt0 + kt + 1u) * ${bk}u;
    if (kt + 1u < kTiles) {
${indent(A.load, 6)}
${indent(B.load, 6)}
    }
    ${mul}
    workgroupBarrier();
    if (kt + 1u < kTiles) {
    ${storeSlices('0u')}
    }
    workgroupBarrier();
  }`;
  return `${(v.im2col ? convGemmParams : gemmParams).wgsl('Params')}
${WGSL_SHAPE_AT}
${decls.join('\n')}
var<workgroup> As: array<vec4<f32>, ${sliceA4 * buffers}>;
var<workgroup> Bs: array<vec4<f32>, ${sliceB4 * buffers}>;
${v.im2col ? wgslIm2col(v.im2col) : wgslReadB(v.bDtype, v.vecB)}
${WGSL_ACTIVATIONS}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let flat = wid.x + wid.y * nwg.x;
  let items = p.tilesPerBatch * p.batches;
  if (flat >= items * p.kSplit) { return; }
  // Split-K: chunk number split of K, written to its own [batches, M, N] block of out (summed later).
  let split = flat / items;
  let kt0 = split * p.kChunkTiles;
  let batch = (flat % items) / p.tilesPerBatch;
  // Tiles run in groups of ${groupM} tile rows, column by column, so concurrently running
  // workgroups share b's columns (and a's rows) in L2.
  let t = flat % p.tilesPerBatch;
  let groupSize = ${groupM}u * p.tilesN;
  let firstM = (t / groupSize) * ${groupM}u;
  let rowsInGroup = min(p.tilesM - firstM, ${groupM}u);
  let tileM = firstM + (t % groupSize) % rowsInGroup;
  let tileN = (t % groupSize) / rowsInGroup;
  let row0 = tileM * ${bm}u;
  let col0 = tileN * ${bn}u;
  ${WGSL_BATCH_OFFSETS}
${indent(threadCoordinates(v.tile), 2)}
${indent(accs, 2)}
${indent(A.decl, 2)}
${indent(B.decl, 2)}
  let kTiles = min(p.kTiles - kt0, p.kChunkTiles);
  if (kTiles > 0u) {
    let k0 = kt0 * ${bk}u;
${indent(A.load, 4)}
${indent(B.load, 4)}
    ${storeSlices('0u')}
  }
  workgroupBarrier();
  ${loop}
${indent(epilogue(v), 2)}
}
`;
}
