// WGSL for small M (decode-time matrix-vector products), where the tiled GEMM would leave most of
// the GPU idle and re-read b for nothing: the work is spread over K instead and reduced at the end.
// Two layouts of b:
// - "kc", b stored [N, K] (transposeB, the `linear` layout): a group of `lanes` threads walks one
//   row of b with vec4 loads (coalesced), then reduces its partial dot products (subgroup shuffles
//   where available, then shared memory).
// - "nc", b stored [K, N]: each thread owns 4 adjacent columns and a share of K (rows of b read
//   as vec4 by consecutive threads), then the K shares are summed in shared memory.
// The final reductions and stores loop over rows at run time, so the activation is inlined once:
// software adapters compile slowly in proportion to the inlined code and the barriers.
import { WGSL_SHAPE_AT } from '../../backends/webgpu/uniforms.js';
import { WGSL_ACTIVATIONS } from './activation.js';
import { type MatmulBDType, WGSL_BATCH_OFFSETS, gemmParams, wgslBType, wgslReadB } from './gemmWgsl.js';

/** Everything that changes a GEMV shader's source. */
export interface GemvVariant {
  readonly layout: 'kc' | 'nc';
  /**
   * Accumulators per thread (1, 4 or 8), one per row of a: M up to this many runs on the variant
   * (so M = 2..4 share one shader); rows past M re-read row M - 1 and are not written.
   */
  readonly rows: number;
  /** kc: threads per column; nc: 4-column groups per workgroup. */
  readonly width: number;
  readonly subgroups: boolean;
  readonly transposeA: boolean;
  readonly bDtype: MatmulBDType;
  readonly vecA: boolean;
  readonly vecB: boolean;
  readonly vecC: boolean;
  /** A residual (the output's shape) is bound before `out` and added last. */
  readonly residual?: boolean;
}

export const GEMV_THREADS = 256;

export function gemvKey(v: GemvVariant): string {
  return [
    'matmul.gemv',
    v.layout,
    `r${v.rows}`,
    `w${v.width}`,
    v.subgroups ? 'sg' : 'nosg',
    v.transposeA ? 'T' : 'N',
    v.bDtype,
    `${+v.vecA}${+v.vecB}${+v.vecC}`,
    ...(v.residual ? ['res'] : []),
  ].join(':');
}

/** Columns one workgroup produces. */
export function gemvColumns(v: Pick<GemvVariant, 'layout' | 'width'>): number {
  return v.layout === 'kc' ? GEMV_THREADS / v.width : v.width * 4;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function header(v: GemvVariant): string {
  const decls = [
    `@group(0) @binding(0) var<storage, read> a: array<${v.vecA ? 'vec4<f32>' : 'f32'}>;`,
    `@group(0) @binding(1) var<storage, read> b: array<${wgslBType(v.bDtype, v.vecB)}>;`,
    `@group(0) @binding(2) var<storage, read> bias: array<${v.vecC ? 'vec4<f32>' : 'f32'}>;`,
    ...(v.residual
      ? [`@group(0) @binding(3) var<storage, read> res: array<${v.vecC ? 'vec4<f32>' : 'f32'}>;`]
      : []),
    `@group(0) @binding(${v.residual ? 4 : 3}) var<storage, read_write> out: array<${v.vecC ? 'vec4<f32>' : 'f32'}>;`,
    `@group(0) @binding(${v.residual ? 5 : 4}) var<uniform> p: Params;`,
  ];
  return `${v.subgroups ? 'enable subgroups;\n' : ''}${gemmParams.wgsl('Params')}
${WGSL_SHAPE_AT}
${decls.join('\n')}
${wgslReadB(v.bDtype, v.vecB)}
${WGSL_ACTIVATIONS}`;
}

function main(v: GemvVariant, body: string): string {
  return `@compute @workgroup_size(${GEMV_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${v.subgroups ? ', @builtin(subgroup_size) sgSize: u32' : ''}) {
  let flat = wid.x + wid.y * nwg.x;
  if (flat >= p.tilesPerBatch * p.batches) { return; }
  let batch = flat / p.tilesPerBatch;
  let t = flat % p.tilesPerBatch;
  ${WGSL_BATCH_OFFSETS}
  let rows = min(p.M, ${v.rows}u);
  // The row accumulator i reads (clamped, so rows past M stay in bounds).
${range(v.rows)
  .map((i) => `  let row${i} = min(${i}u, p.M - 1u);`)
  .join('\n')}
${body}
}
`;
}

function kcWgsl(v: GemvVariant): string {
  const L = v.width;
  const M = v.rows;
  // a's 4 values at k = 4 * k4 for row i, as a vec4.
  const a4 = (i: number) =>
    v.vecA
      ? `a[(aOff + row${i} * p.K) / 4u + k4]`
      : v.transposeA
        ? `vec4<f32>(${range(4).map((c) => `a[aOff + (k4 * 4u + ${c}u) * p.M + row${i}]`)})`
        : `vec4<f32>(${range(4).map((c) => `a[aOff + row${i} * p.K + k4 * 4u + ${c}u]`)})`;
  const a1 = (i: number) => (v.transposeA ? `a[aOff + k * p.M + row${i}]` : `a[aOff + row${i} * p.K + k]`);
  const loop =
    v.bDtype === 'q8' || v.bDtype === 'q4'
      ? kcQuantLoop(v)
      : v.vecB
        ? `for (var k4 = lane; k4 < p.K / 4u; k4 += ${L}u) {
      let bv = readB4(bOff + col * p.K + k4 * 4u);
${range(M)
  .map((i) => `      s${i} += dot(${a4(i)}, bv);`)
  .join('\n')}
    }`
        : `for (var k = lane; k < p.K; k += ${L}u) {
      let bv = readB1(bOff + col * p.K + k);
${range(M)
  .map((i) => `      s${i} = fma(${a1(i)}, bv, s${i});`)
  .join('\n')}
    }`;
  // With subgroups, lanes first combine within their subgroup (assumed to be consecutive local
  // indexes, as on every current driver), leaving one partial sum per w lanes; lane 0 adds those
  // up through shared memory after a single barrier.
  const shuffles = v.subgroups
    ? range(Math.log2(L)).map(
        (j) =>
          `  if (${1 << j}u < w) {\n${range(M)
            .map((i) => `    s${i} += subgroupShuffleXor(s${i}, ${1 << j}u);`)
            .join('\n')}\n  }`,
      )
    : [];
  return `${header(v)}
var<workgroup> red: array<f32, ${M * GEMV_THREADS}>;
${main(
  v,
  `  let col = t * ${GEMV_THREADS / L}u + lid / ${L}u;
  let lane = lid % ${L}u;
${range(M)
  .map((i) => `  var s${i} = 0.0;`)
  .join('\n')}
  if (col < p.N) {
    ${loop}
  }
  let w = ${v.subgroups ? `min(${L}u, sgSize)` : '1u'};
${shuffles.join('\n')}
${range(M)
  .map((i) => `  red[${i * GEMV_THREADS}u + lid] = s${i};`)
  .join('\n')}
  workgroupBarrier();
  if (lane == 0u && col < p.N) {
    for (var i = 0u; i < rows; i++) {
      var x = 0.0;
      for (var j = 0u; j < ${L}u; j += w) { x += red[i * ${GEMV_THREADS}u + lid + j]; }
      if (p.hasBias != 0u) { x += bias[col]; }
      let o = (batch * p.M + i) * p.N + col;
      out[o] = act(x, p.activation)${v.residual ? ' + res[o]' : ''};
    }
  }`,
)}`;
}

/**
 * The K loop of the kc GEMV over a quantized b (a 2-D [N, K] weight, so bOff is 0): each lane takes
 * whole blocks of 32 values, one vec4<u32> (q4) or two (q8) plus the block's scale, so a group of
 * lanes reads a row of b in 16-byte loads; products are summed per block, then scaled.
 */
function kcQuantLoop(v: GemvVariant): string {
  const L = v.width;
  const M = v.rows;
  const q8 = v.bDtype === 'q8';
  // a's 4 values at k = 4 * idx for row i.
  const a4 = (i: number, idx: string) =>
    v.vecA
      ? `a[(aOff + row${i} * p.K) / 4u + ${idx}]`
      : v.transposeA
        ? `vec4<f32>(${range(4).map((c) => `a[aOff + ((${idx}) * 4u + ${c}u) * p.M + row${i}]`)})`
        : `vec4<f32>(${range(4).map((c) => `a[aOff + row${i} * p.K + (${idx}) * 4u + ${c}u]`)})`;
  // Word c of the block (8 q4 or 4 q8 values) as vec4<f32>s of integers.
  const unpack = (w: string): string[] =>
    q8
      ? [`vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(${w}) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u))`]
      : [
          `vec4<f32>((vec4<u32>(${w}) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)) - 8.0`,
          `vec4<f32>((vec4<u32>(${w}) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u)) - 8.0`,
        ];
  const words = q8
    ? ['w0.x', 'w0.y', 'w0.z', 'w0.w', 'w1.x', 'w1.y', 'w1.z', 'w1.w']
    : ['w0.x', 'w0.y', 'w0.z', 'w0.w'];
  const lines: string[] = [];
  let chunk = 0;
  for (const w of words) {
    for (const q of unpack(w)) {
      lines.push(`      { let q = ${q};`);
      for (let i = 0; i < M; i++) lines.push(`        t${i} += dot(${a4(i, `k4 + ${chunk}u`)}, q);`);
      lines.push('      }');
      chunk++;
    }
  }
  return `let nb = p.K / 32u;
    // Scales follow the values: N * nb blocks of ${q8 ? 2 : 1} vec4<u32> each.
    let sBase = p.N * nb * ${q8 ? 2 : 1}u;
    for (var blk = lane; blk < nb; blk += ${L}u) {
      let g = col * nb + blk;
      let sc = bitcast<f32>(b[sBase + g / 4u][g % 4u]);
      let w0 = b[${q8 ? '2u * g' : 'g'}];
${q8 ? '      let w1 = b[2u * g + 1u];\n' : ''}      let k4 = blk * 8u;
${range(M)
  .map((i) => `      var t${i} = 0.0;`)
  .join('\n')}
${lines.join('\n')}
${range(M)
  .map((i) => `      s${i} = fma(sc, t${i}, s${i});`)
  .join('\n')}
    }`;
}

function ncWgsl(v: GemvVariant): string {
  const CG = v.width;
  const KS = GEMV_THREADS / CG;
  const M = v.rows;
  const aAt = (i: number) => (v.transposeA ? `a[aOff + k * p.M + row${i}]` : `a[aOff + row${i} * p.K + k]`);
  const bRead = v.vecB
    ? 'readB4(bOff + k * p.N + col)'
    : `vec4<f32>(${range(4)
        .map((c) => `select(0.0, readB1(bOff + k * p.N + min(col + ${c}u, p.N - 1u)), col + ${c}u < p.N)`)
        .join(', ')})`;
  const store = v.vecC
    ? `if (p.hasBias != 0u) { x += bias[col / 4u]; }
        out[(outRow + col) / 4u] = act4(x, p.activation)${v.residual ? ' + res[(outRow + col) / 4u]' : ''};`
    : `for (var c = 0u; c < 4u; c++) {
          if (col + c < p.N) {
            var y = x[c];
            if (p.hasBias != 0u) { y += bias[col + c]; }
            out[outRow + col + c] = act(y, p.activation)${v.residual ? ' + res[outRow + col + c]' : ''};
          }
        }`;
  // Up to 4 rows' partial sums at a time fit in 16 KiB, the portable workgroup memory.
  const groups = range(Math.ceil(M / 4)).map((g) => {
    const group = range(Math.min(4, M - 4 * g)).map((i) => 4 * g + i);
    return `  workgroupBarrier();
${group.map((m, i) => `  red[${i * GEMV_THREADS}u + lid] = s${m};`).join('\n')}
  workgroupBarrier();
  if (ks == 0u && col < p.N) {
    for (var i = 0u; i < ${group.length}u && ${4 * g}u + i < rows; i++) {
      var x = vec4<f32>(0.0);
      for (var j = 0u; j < ${KS}u; j++) { x += red[i * ${GEMV_THREADS}u + cq + j * ${CG}u]; }
      let outRow = (batch * p.M + ${4 * g}u + i) * p.N;
      ${store}
    }
  }`;
  });
  return `${header(v)}
var<workgroup> red: array<vec4<f32>, ${Math.min(M, 4) * GEMV_THREADS}>;
${main(
  v,
  `  let cq = lid % ${CG}u;
  let ks = lid / ${CG}u;
  let col = (t * ${CG}u + cq) * 4u;
${range(M)
  .map((i) => `  var s${i} = vec4<f32>(0.0);`)
  .join('\n')}
  if (col < p.N) {
    for (var k = ks; k < p.K; k += ${KS}u) {
      let bv = ${bRead};
${range(M)
  .map((i) => `      s${i} = fma(vec4<f32>(${aAt(i)}), bv, s${i});`)
  .join('\n')}
    }
  }
${groups.join('\n')}`,
)}`;
}

/** The GEMV shader for a variant. Bindings: a, b, bias (a placeholder when there is none), the residual if any, out, uniforms. */
export function gemvWgsl(v: GemvVariant): string {
  return v.layout === 'kc' ? kcWgsl(v) : ncWgsl(v);
}
