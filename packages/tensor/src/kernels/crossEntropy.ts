// Softmax cross-entropy from logits, with class indices (PyTorch's ignore_index and
// label_smoothing) or with probability targets. Stable through logsumexp. The backward pass is a
// kernel of its own (softmax minus targets, scaled), so no [N, C] probabilities are kept between
// the passes and it runs on every backend.
import type { TensorInfo } from '../backend.js';
import { type GpuContext, type GpuTensor, workgroups1d } from '../backends/webgpu/context.js';
import { DEVICE_ERROR_BITS, WGSL_FLAG_ERROR } from '../backends/webgpu/deviceErrors.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { run1, runKernel } from '../engine.js';
import type { GradArgs, HostTensor, Kernel } from '../kernel.js';
import { formatShape } from '../shape.js';
import { tfjsOnHost } from './gather.js';
import type { Tensor } from '../tensor.js';
import { checkOptionKeys } from './options.js';

/** How per-row losses are combined. */
export type CrossEntropyReduction = 'mean' | 'sum' | 'none';

interface CrossEntropyAttrs {
  /** `hard`: class ids (i32 [...]); `soft`: probabilities (f32 [..., C]). */
  targets: 'hard' | 'soft';
  reduction: CrossEntropyReduction;
  ignoreIndex: number;
  labelSmoothing: number;
}

function opName(attrs: CrossEntropyAttrs): string {
  return attrs.targets === 'hard' ? 'crossEntropy' : 'softmaxCrossEntropyWithSoftTargets';
}

/** `[N, C]`: rows over every axis but the last (the classes). */
function rowsOf(shape: readonly number[]): [number, number] {
  const C = shape[shape.length - 1]!;
  let N = 1;
  for (let i = 0; i < shape.length - 1; i++) N *= shape[i]!;
  return [N, C];
}

function checkInputs(logits: TensorInfo, targets: TensorInfo, attrs: CrossEntropyAttrs): void {
  const op = opName(attrs);
  if (logits.dtype !== 'f32' || logits.shape.length < 1 || logits.shape[logits.shape.length - 1] === 0) {
    throw new TypeError(
      `${op}: logits must be f32 [N, C] with C > 0, got ${logits.dtype}${formatShape(logits.shape)}`,
    );
  }
  const want = attrs.targets === 'hard' ? logits.shape.slice(0, -1) : logits.shape;
  const dtype = attrs.targets === 'hard' ? 'i32' : 'f32';
  if (targets.dtype !== dtype || targets.shape.join() !== want.join()) {
    throw new RangeError(
      `${op}: ${attrs.targets === 'hard' ? 'targets' : 'probs'} must be ${dtype}${formatShape(want)} for logits ${formatShape(logits.shape)}, got ${targets.dtype}${formatShape(targets.shape)}`,
    );
  }
}

/** The multi-index of flat index `i` in `shape`. */
function unravel(i: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1, rest = i; d >= 0; d--) {
    index[d] = rest % shape[d]!;
    rest = Math.floor(rest / shape[d]!);
  }
  return index;
}

/**
 * An id outside [0, C) (other than ignoreIndex) has no logit. Where the ids are on the host (the
 * CPU, tfjs's host backends) this says which; the GPU flags it and gives NaN for the row, and
 * tfjs's GPU backends (which would stall on a readback) give NaN only.
 */
function checkLabel(
  target: number,
  i: number,
  shape: readonly number[],
  C: number,
  attrs: CrossEntropyAttrs,
): void {
  if (target === attrs.ignoreIndex || (target >= 0 && target < C)) return;
  throw new RangeError(
    `${opName(attrs)}: label ${target} at targets${formatShape(unravel(i, shape))} is outside [0, ${C}) ` +
      `(C = ${C} classes) and is not ignoreIndex (${attrs.ignoreIndex})`,
  );
}

/** Per-row statistics on the host: logsumexp, the loss, the targets' total mass, and whether the row counts. */
interface RowStats {
  lse: number;
  loss: number;
  mass: number;
  valid: boolean;
}

function rowStats(
  z: ArrayLike<number>,
  t: HostTensor,
  i: number,
  C: number,
  attrs: CrossEntropyAttrs,
): RowStats {
  const base = i * C;
  const target = attrs.targets === 'hard' ? t.data[i]! : 0;
  if (attrs.targets === 'hard' && target === attrs.ignoreIndex)
    return { lse: 0, loss: 0, mass: 0, valid: false };
  let m = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < C; c++) m = Math.max(m, z[base + c]!);
  let sumExp = 0;
  let sumZ = 0;
  for (let c = 0; c < C; c++) {
    sumExp += Math.exp(z[base + c]! - m);
    sumZ += z[base + c]!;
  }
  const lse = m + Math.log(sumExp);
  const eps = attrs.labelSmoothing;
  // Without smoothing its term is left out, not multiplied by 0: a -Infinity logit (a masked
  // class) makes it +Infinity, and 0 * Infinity would turn a finite loss into NaN.
  const smoothed = (nll: number): number => (eps === 0 ? nll : (1 - eps) * nll + eps * (lse - sumZ / C));
  if (attrs.targets === 'hard') {
    checkLabel(target, i, t.shape, C, attrs);
    return { lse, loss: smoothed(lse - z[base + target]!), mass: 1, valid: true };
  }
  let mass = 0;
  let dot = 0;
  for (let c = 0; c < C; c++) {
    mass += t.data[base + c]!;
    dot += t.data[base + c]! * z[base + c]!;
  }
  return { lse, loss: smoothed(lse * mass - dot), mass, valid: true };
}

const params = uniformLayout({
  N: 'u32',
  C: 'u32',
  seg: 'u32',
  ignoreIndex: 'i32',
  eps: 'f32',
  reduction: 'u32',
  size: 'u32',
});
const REDUCTION_CODE: Record<CrossEntropyReduction, number> = { none: 0, sum: 1, mean: 2 };
const WG = 256;
const ROWWISE_MAX = 1024;

/** A shader with storage bindings in order (`'read> name: array<f32'`) and the uniforms after them. */
function shader(bindings: readonly string[], body: string, head = ''): string {
  return `${params.wgsl('Params')}
${bindings.map((b, i) => `@group(0) @binding(${i}) var<storage, ${b}>;`).join('\n')}
@group(0) @binding(${bindings.length}) var<uniform> p: Params;
${head}
${body}`;
}

const MAIN_1D = (wg: number) => `@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.x + gid.y * nwg.x * ${wg}u;`;

// Row statistics as vec4(lse, loss, mass, valid), from (max, sum exp, sum z, sum q, sum q z).
const FINISH_ROW = /* wgsl */ `
fn finishRow(row: u32, m: f32, sumExp: f32, sumZ: f32, mass: f32, dot: f32, zt: f32) -> vec4<f32> {
  let lse = m + log(sumExp);
  let spread = lse - sumZ / f32(p.C);
  let nll = SOFT_OR_HARD;
  // eps 0 leaves the spread out: +inf with a -inf logit, and 0 * inf is NaN.
  return vec4<f32>(lse, select((1.0 - p.eps) * nll + p.eps * spread, nll, p.eps == 0.0), mass, 1.0);
}
`;

function targetCode(soft: boolean): { bindings: string[]; finish: string; invalid: string; zt: string } {
  if (soft) {
    return {
      bindings: ['read> logits: array<f32', 'read> probs: array<f32', 'read_write> stats: array<vec4<f32>'],
      finish: FINISH_ROW.replace('SOFT_OR_HARD', 'lse * mass - dot'),
      invalid: 'false',
      zt: '0.0',
    };
  }
  return {
    bindings: [
      'read> logits: array<f32',
      'read> targets: array<i32',
      'read_write> stats: array<vec4<f32>',
      'read_write> deviceErrors: array<atomic<u32>',
    ],
    // An id outside [0, C) is flagged (the next read throws) and its row's loss is NaN.
    finish: FINISH_ROW.replace('SOFT_OR_HARD', 'hardNll(row, lse, zt)'),
    invalid: 'targets[row] == p.ignoreIndex',
    // The index is clamped before the read: select() evaluates both of its operands.
    zt: 'logits[row * p.C + select(0u, u32(targets[row]), inRange(row))]',
  };
}

const HARD_HELPERS = /* wgsl */ `
fn inRange(row: u32) -> bool { let t = targets[row]; return t >= 0 && u32(t) < p.C; }
// NaN built from bits: WGSL has no NaN constant.
fn nanValue() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }
${WGSL_FLAG_ERROR}
fn hardNll(row: u32, lse: f32, zt: f32) -> f32 {
  if (!inRange(row)) {
    flagError(${DEVICE_ERROR_BITS.crossEntropy}u);
    return nanValue();
  }
  return lse - zt;
}
`;

function packParams(N: number, C: number, attrs: CrossEntropyAttrs, size = 0): Uint8Array {
  return params.pack({
    N,
    C,
    seg: Math.ceil(C / WG),
    ignoreIndex: attrs.ignoreIndex,
    eps: attrs.labelSmoothing,
    reduction: REDUCTION_CODE[attrs.reduction],
    size,
  });
}

/** Writes vec4(lse, loss, mass, valid) per row into `stats` ([N] vec4). */
function encodeRowStats(
  ctx: GpuContext,
  logits: GpuTensor,
  targets: GpuTensor,
  stats: GPUBuffer,
  attrs: CrossEntropyAttrs,
): void {
  const [N, C] = rowsOf(logits.shape);
  const soft = attrs.targets === 'soft';
  const rowwise = C <= ROWWISE_MAX;
  const code = targetCode(soft);
  const head = (soft ? '' : HARD_HELPERS) + code.finish;
  const q = (c: string) => (soft ? `probs[base + ${c}]` : '0.0');
  const pipeline = ctx.pipeline(
    `crossEntropy:rows:${attrs.targets}:${rowwise ? 'rowwise' : 'workgroup'}`,
    () => {
      if (rowwise) {
        // Rows up to 1,024 classes: one invocation per row, no barriers.
        return shader(
          code.bindings,
          `${MAIN_1D(64)}
  let row = id;
  if (row >= p.N) { return; }
  if (${code.invalid}) { stats[row] = vec4<f32>(0.0); return; }
  let base = row * p.C;
  var m = logits[base];
  for (var c = 1u; c < p.C; c++) { m = max(m, logits[base + c]); }
  var sumExp = 0.0; var sumZ = 0.0; var mass = 0.0; var dot = 0.0;
  for (var c = 0u; c < p.C; c++) {
    let z = logits[base + c];
    sumExp += exp(z - m);
    sumZ += z;
    mass += ${q('c')};
    dot += ${q('c')} * z;
  }
  stats[row] = finishRow(row, m, sumExp, sumZ, mass, dot, ${code.zt});
}`,
          head,
        );
      }
      // Long rows (vocabularies): a workgroup per row, each invocation a contiguous segment.
      return shader(
        code.bindings,
        `var<workgroup> red: array<vec4<f32>, ${WG}>;
var<workgroup> redMax: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  let lo = min(lid * p.seg, p.C);
  let hi = min(lo + p.seg, p.C);
  var m = logits[base];
  for (var c = lo; c < hi; c++) { m = max(m, logits[base + c]); }
  redMax[lid] = m;
  for (var s = ${WG / 2}u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (lid < s) { redMax[lid] = max(redMax[lid], redMax[lid + s]); }
  }
  workgroupBarrier();
  m = redMax[0];
  // (sum exp, sum z, sum q, sum q z) over this invocation's segment, then across the workgroup.
  var acc = vec4<f32>(0.0);
  for (var c = lo; c < hi; c++) {
    let z = logits[base + c];
    acc += vec4<f32>(exp(z - m), z, ${q('c')}, ${q('c')} * z);
  }
  red[lid] = acc;
  for (var s = ${WG / 2}u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (lid < s) { red[lid] += red[lid + s]; }
  }
  if (lid == 0u) {
    let r = red[0];
    if (${code.invalid}) { stats[row] = vec4<f32>(0.0); }
    else { stats[row] = finishRow(row, m, r.x, r.y, r.z, r.w, ${code.zt}); }
  }
}`,
        head,
      );
    },
  );
  ctx.dispatch(
    pipeline,
    soft ? [logits, targets, stats] : [logits, targets, stats, ctx.deviceErrors()],
    packParams(N, C, attrs),
    workgroups1d(rowwise ? Math.ceil(N / 64) : N),
  );
}

/**
 * One workgroup sums the rows' losses and counts the rows that count. `loss` writes the reduced
 * loss (the sum, or the sum over the count: 0 / 0 = NaN when every row is ignored, as in PyTorch);
 * `count` writes the count alone (for the backward pass of a mean).
 */
function encodeReduce(
  ctx: GpuContext,
  stats: GPUBuffer,
  out: GPUBuffer,
  N: number,
  attrs: CrossEntropyAttrs,
  what: 'loss' | 'count',
): void {
  const pipeline = ctx.pipeline(`crossEntropy:reduce:${what}`, () =>
    shader(
      ['read> stats: array<vec4<f32>', 'read_write> outBuf: array<f32'],
      `var<workgroup> red: array<vec2<f32>, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = vec2<f32>(0.0);
  for (var i = lid; i < p.N; i += ${WG}u) { acc += stats[i].yw; }
  red[lid] = acc;
  for (var s = ${WG / 2}u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (lid < s) { red[lid] += red[lid + s]; }
  }
  if (lid == 0u) {
    let r = red[0];
    ${what === 'count' ? 'outBuf[0] = r.y;' : 'outBuf[0] = select(r.x, r.x / r.y, p.reduction == 2u);'}
  }
}`,
    ),
  );
  ctx.dispatch(pipeline, [stats, out], packParams(N, 0, attrs), [1]);
}

function crossEntropyWebGpu(
  ctx: GpuContext,
  logits: GpuTensor,
  targets: GpuTensor,
  out: GpuTensor,
  attrs: CrossEntropyAttrs,
): void {
  const [N] = rowsOf(logits.shape);
  if (N === 0) {
    if (attrs.reduction !== 'none') encodeReduce(ctx, ctx.scratch(16), out.buffer, 0, attrs, 'loss');
    return;
  }
  const stats = ctx.scratch(N * 16);
  encodeRowStats(ctx, logits, targets, stats, attrs);
  if (attrs.reduction !== 'none') {
    encodeReduce(ctx, stats, out.buffer, N, attrs, 'loss');
    return;
  }
  const pipeline = ctx.pipeline('crossEntropy:rowLoss', () =>
    shader(
      ['read> stats: array<vec4<f32>', 'read_write> outBuf: array<f32'],
      `${MAIN_1D(WG)}
  if (id < p.N) { outBuf[id] = stats[id].y; }
}`,
    ),
  );
  ctx.dispatch(pipeline, [stats, out], packParams(N, 0, attrs), workgroups1d(Math.ceil(N / WG)));
}

function crossEntropyCpu([logits, targets]: readonly HostTensor[], attrs: CrossEntropyAttrs): Float32Array {
  const [N, C] = rowsOf(logits!.shape);
  const losses = new Float32Array(N);
  let total = 0;
  let count = 0;
  for (let i = 0; i < N; i++) {
    const r = rowStats(logits!.data, targets!, i, C, attrs);
    losses[i] = r.loss;
    total += r.loss;
    count += r.valid ? 1 : 0;
  }
  if (attrs.reduction === 'none') return losses;
  return Float32Array.of(attrs.reduction === 'sum' ? total : total / count);
}

/**
 * The loss: inputs `[logits [..., C], targets]` with i32 class ids `[...]` (hard) or f32
 * probabilities `[..., C]` (soft); one output, `[...]` for reduction 'none', else a scalar.
 */
export const crossEntropyKernel: Kernel<CrossEntropyAttrs> = {
  name: 'crossEntropy',
  infer([logits, targets], attrs): TensorInfo[] {
    checkInputs(logits!, targets!, attrs);
    return [{ shape: attrs.reduction === 'none' ? logits!.shape.slice(0, -1) : [], dtype: 'f32' }];
  },
  cpu(inputs, attrs) {
    return [crossEntropyCpu(inputs, attrs)];
  },
  webgpu(ctx, [logits, targets], [out], attrs) {
    crossEntropyWebGpu(ctx, logits!, targets!, out!, attrs);
  },
  tfjs(tf, [logits, targets], attrs) {
    const C = logits.shape[logits.shape.length - 1];
    if (attrs.targets === 'hard' && tfjsOnHost(tf)) {
      const ids = targets.dataSync();
      for (let i = 0; i < ids.length; i++) checkLabel(ids[i]!, i, targets.shape, C, attrs);
    }
    const z = tf.reshape(logits, [-1, C]); // [N, C]
    const lse = tf.logSumExp(z, 1); // [N]
    const eps = attrs.labelSmoothing;
    // eps 0 leaves the smoothing term out (+Infinity with a -Infinity logit; times 0 it is NaN).
    const smoothed = (nll: typeof lse): typeof lse =>
      eps === 0 ? nll : tf.add(tf.mul(nll, 1 - eps), tf.mul(tf.sub(lse, tf.mean(z, 1)), eps));
    let loss: typeof lse;
    let count: typeof lse;
    if (attrs.targets === 'hard') {
      const t = tf.reshape(targets, [-1]); // [N]
      const valid = tf.notEqual(t, attrs.ignoreIndex);
      const inRange = tf.logicalAnd(tf.greaterEqual(t, 0), tf.less(t, C));
      // z[i, t[i]] through explicit [row, column] pairs: tfjs-wasm's gather with batchDims = 1
      // reads past the first row.
      const rows = tf.range(0, z.shape[0], 1, 'int32'); // [N]
      const zt = tf.gatherND(z, tf.stack([rows, tf.where(inRange, t, tf.zerosLike(t))], 1)); // [N]
      const nll = tf.where(inRange, tf.sub(lse, zt), tf.fill(lse.shape, Number.NaN));
      loss = smoothed(nll);
      loss = tf.where(valid, loss, tf.zerosLike(loss));
      count = tf.sum(tf.cast(valid, 'float32'));
    } else {
      const q = tf.reshape(targets, [-1, C]); // [N, C]
      loss = smoothed(tf.sub(tf.mul(lse, tf.sum(q, 1)), tf.sum(tf.mul(q, z), 1)));
      count = tf.scalar(loss.shape[0]);
    }
    if (attrs.reduction === 'none') return [tf.reshape(loss, logits.shape.slice(0, -1))];
    const total = tf.sum(loss);
    return [attrs.reduction === 'sum' ? total : tf.div(total, count)];
  },
  grad({ dy, inputs, attrs }: GradArgs<CrossEntropyAttrs>) {
    if (!dy[0]) return [undefined, undefined];
    const [dLogits, dProbs] = runKernel(crossEntropyGradKernel, [inputs[0]!, inputs[1]!, dy[0]], attrs);
    return [dLogits, dProbs];
  },
};

function crossEntropyGradCpu(
  [logits, targets, dy]: readonly HostTensor[],
  attrs: CrossEntropyAttrs,
): Float32Array[] {
  const [N, C] = rowsOf(logits!.shape);
  const soft = attrs.targets === 'soft';
  const eps = attrs.labelSmoothing;
  const dLogits = new Float32Array(N * C);
  const dProbs = new Float32Array(soft ? N * C : 0);
  const rows = Array.from({ length: N }, (_, i) => rowStats(logits!.data, targets!, i, C, attrs));
  const count = rows.filter((r) => r.valid).length;
  for (let i = 0; i < N; i++) {
    const r = rows[i]!;
    if (!r.valid) continue;
    const scale =
      attrs.reduction === 'none'
        ? dy!.data[i]!
        : attrs.reduction === 'sum'
          ? dy!.data[0]!
          : dy!.data[0]! / count;
    for (let c = 0; c < C; c++) {
      const z = logits!.data[i * C + c]!;
      const sm = Math.exp(z - r.lse);
      let g: number;
      if (soft) {
        g = (1 - eps) * (sm * r.mass - targets!.data[i * C + c]!) + eps * (sm - 1 / C);
        dProbs[i * C + c] = scale * (1 - eps) * (r.lse - z);
      } else {
        g = sm - (c === targets!.data[i] ? 1 - eps : 0) - eps / C;
      }
      dLogits[i * C + c] = scale * g;
    }
  }
  return soft ? [dLogits, dProbs] : [dLogits];
}

function crossEntropyGradWebGpu(
  ctx: GpuContext,
  inputs: readonly GpuTensor[],
  outputs: readonly GpuTensor[],
  attrs: CrossEntropyAttrs,
): void {
  const [logits, targets, dy] = inputs as [GpuTensor, GpuTensor, GpuTensor];
  const [N, C] = rowsOf(logits.shape);
  if (N * C === 0) return;
  const soft = attrs.targets === 'soft';
  const mean = attrs.reduction === 'mean';
  const stats = ctx.scratch(N * 16);
  encodeRowStats(ctx, logits, targets, stats, attrs);
  const count = mean ? ctx.scratch(16) : undefined;
  if (count) encodeReduce(ctx, stats, count, N, attrs, 'count');
  const bindings = [
    'read> logits: array<f32',
    soft ? 'read> probs: array<f32' : 'read> targets: array<i32',
    'read> dy: array<f32',
    'read> stats: array<vec4<f32>',
    ...(mean ? ['read> count: array<f32'] : []),
    'read_write> dLogits: array<f32',
    ...(soft ? ['read_write> dProbs: array<f32'] : []),
  ];
  const scale = attrs.reduction === 'none' ? 'dy[i]' : mean ? 'dy[0] / count[0]' : 'dy[0]';
  const body = soft
    ? `  let q = probs[id];
  dLogits[id] = s * ((1.0 - p.eps) * (sm * st.z - q) + p.eps * (sm - 1.0 / f32(p.C)));
  dProbs[id] = s * (1.0 - p.eps) * (st.x - z);`
    : `  let t = targets[i];
  let hit = select(0.0, 1.0 - p.eps, t >= 0 && u32(t) == c);
  dLogits[id] = select(0.0, s * (sm - hit - p.eps / f32(p.C)), st.w != 0.0);`;
  const pipeline = ctx.pipeline(`crossEntropyGrad:${attrs.targets}:${attrs.reduction}`, () =>
    shader(
      bindings,
      `${MAIN_1D(WG)}
  if (id >= p.size) { return; }
  let i = id / p.C;
  let c = id % p.C;
  let st = stats[i];
  let z = logits[id];
  let sm = exp(z - st.x);
  let s = ${scale};
${body}
}`,
    ),
  );
  const buffers = [logits, targets, dy, stats, ...(count ? [count] : []), ...outputs];
  ctx.dispatch(pipeline, buffers, packParams(N, C, attrs, N * C), workgroups1d(Math.ceil((N * C) / WG)));
}

/**
 * The backward pass of {@link crossEntropyKernel}: inputs `[logits, targets, dLoss]`; outputs the
 * gradient for the logits, and for soft targets the gradient for the probabilities too.
 */
export const crossEntropyGradKernel: Kernel<CrossEntropyAttrs> = {
  name: 'crossEntropyGrad',
  infer([logits, targets, dy], attrs): TensorInfo[] {
    checkInputs(logits!, targets!, attrs);
    const want = attrs.reduction === 'none' ? logits!.shape.slice(0, -1) : [];
    if (dy!.dtype !== 'f32' || dy!.shape.join() !== want.join()) {
      throw new RangeError(
        `${opName(attrs)} gradient: dy must be f32${formatShape(want)}, got ${dy!.dtype}${formatShape(dy!.shape)}`,
      );
    }
    const grad = { shape: logits!.shape, dtype: 'f32' as const };
    return attrs.targets === 'soft' ? [grad, grad] : [grad];
  },
  cpu(inputs, attrs) {
    return crossEntropyGradCpu(inputs, attrs);
  },
  webgpu(ctx, inputs, outputs, attrs) {
    crossEntropyGradWebGpu(ctx, inputs, outputs, attrs);
  },
};

/** Options for {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** 'mean' (default: over the rows that are not ignored), 'sum', or 'none' (one loss per row). */
  reduction?: CrossEntropyReduction;
  /** Rows whose target is this id add nothing and are not counted (default -100, as in PyTorch). */
  ignoreIndex?: number;
  /** Mixes the targets with the uniform distribution: (1 - s) * target + s / C (default 0). */
  labelSmoothing?: number;
}

const OPTION_KEYS = ['reduction', 'ignoreIndex', 'labelSmoothing'];

function attrsOf(op: string, targets: 'hard' | 'soft', options: CrossEntropyOptions): CrossEntropyAttrs {
  checkOptionKeys(
    op,
    options,
    targets === 'hard' ? OPTION_KEYS : OPTION_KEYS.filter((k) => k !== 'ignoreIndex'),
  );
  const reduction: unknown = options.reduction ?? 'mean';
  // An own-property check: `in` would accept 'toString', 'constructor', '__proto__'...
  if (typeof reduction !== 'string' || !Object.hasOwn(REDUCTION_CODE, reduction)) {
    const got = typeof reduction === 'string' ? JSON.stringify(reduction) : String(reduction);
    throw new RangeError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${got}`);
  }
  const labelSmoothing = options.labelSmoothing ?? 0;
  if (!(typeof labelSmoothing === 'number' && labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new RangeError(`${op}: labelSmoothing must be in [0, 1], got ${String(labelSmoothing)}`);
  }
  const ignoreIndex = options.ignoreIndex ?? -100;
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -(2 ** 31) || ignoreIndex >= 2 ** 31) {
    throw new RangeError(`${op}: ignoreIndex must be a 32-bit integer, got ${String(ignoreIndex)}`);
  }
  return {
    targets,
    reduction: reduction as CrossEntropyReduction,
    ignoreIndex,
    labelSmoothing: Math.fround(labelSmoothing),
  };
}

/**
 * Softmax cross-entropy of `logits` (`[N, C]`, or any `[..., C]`: classes on the last axis) against
 * class ids `targets` (i32 `[N]` / `[...]`), as PyTorch's `cross_entropy`: computed through
 * logsumexp, rows whose target is `ignoreIndex` skipped (and left out of the mean), optional label
 * smoothing. Differentiable with respect to the logits (`softmax - target`, scaled).
 *
 * An id outside `[0, C)` (other than `ignoreIndex`) is an error: the CPU backend throws naming its
 * position and value; on WebGPU the kernel flags it and the next read throws (its row's loss is
 * NaN meanwhile); tfjs throws as the CPU does where its tensors live on the host (cpu, wasm,
 * node), and on its GPU backends, which would stall on reading the ids back, gives NaN for the row
 * (and so for a 'mean' or 'sum' over it).
 *
 * @example
 * ```ts
 * const loss = crossEntropy(logits, labels); // [B * T, V], i32 [B * T] -> scalar mean
 * const perToken = crossEntropy(logits, labels, { reduction: 'none', ignoreIndex: padId }); // [B * T]
 * ```
 */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  checkTensor(logits, 'crossEntropy', 'logits');
  checkTensor(targets, 'crossEntropy', 'targets');
  return run1(crossEntropyKernel, [logits, targets], attrsOf('crossEntropy', 'hard', options));
}

/**
 * Softmax cross-entropy against probability targets (`[..., C]`, e.g. soft labels or a teacher's
 * distribution): `-sum(q * logSoftmax(logits))` per row. Rows are not renormalized. Differentiable
 * with respect to both inputs.
 *
 * @example
 * ```ts
 * const loss = softmaxCrossEntropyWithSoftTargets(studentLogits, teacherProbs); // [N, C], [N, C] -> scalar
 * ```
 */
export function softmaxCrossEntropyWithSoftTargets(
  logits: Tensor,
  probs: Tensor,
  options: Omit<CrossEntropyOptions, 'ignoreIndex'> = {},
): Tensor {
  checkTensor(logits, 'softmaxCrossEntropyWithSoftTargets', 'logits');
  checkTensor(probs, 'softmaxCrossEntropyWithSoftTargets', 'probs');
  return run1(
    crossEntropyKernel,
    [logits, probs],
    attrsOf('softmaxCrossEntropyWithSoftTargets', 'soft', options),
  );
}
