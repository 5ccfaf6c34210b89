// What layerNorm, rmsNorm and their fused backward (normGrad) share: input checks, and the GPU
// launch shape and WGSL skeleton of a last-axis norm (a workgroup per row, or an invocation per row
// for rows of 32 or fewer elements). A file of its own so that the three import it without a cycle.
import type { TensorInfo } from '../backend.js';
import { type GpuContext, type GpuTensor, workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { formatShape, showValue } from '../shape.js';
import { assertRank } from './elementwise.js';
import { rowEntry, wgslRowMain, wgslWorkgroupReduce } from './reduce.js';

/** @internal Checks an optional per-channel parameter (gamma, beta) of a last-axis norm. */
export function checkChannelParam(
  x: TensorInfo,
  param: TensorInfo | undefined,
  op: string,
  name: string,
): void {
  if (!param) return;
  const c = x.shape[x.shape.length - 1];
  if (param.dtype !== 'f32')
    throw new TypeError(`${op}: ${name} must be f32, got ${param.dtype}${formatShape(param.shape)}`);
  if (param.shape.length !== 1 || param.shape[0] !== c) {
    throw new RangeError(
      `${op}: ${name} must have shape [${c}] (the last axis of x ${formatShape(x.shape)}), got ${formatShape(param.shape)}`,
    );
  }
}

/** @internal Checks x and eps of a last-axis norm. */
export function checkNormInput(x: TensorInfo, eps: number, op: string, name = 'x'): void {
  if (x.dtype !== 'f32')
    throw new TypeError(`${op}: ${name} must be f32, got ${x.dtype}${formatShape(x.shape)}`);
  if (x.shape.length === 0) throw new RangeError(`${op}: ${name} must have at least one axis, got a scalar`);
  assertRank(x, op);
  if (!(eps >= 0) || !Number.isFinite(eps))
    throw new RangeError(`${op}: eps must be a finite number >= 0, got ${showValue(eps)}`);
}

const normParams = uniformLayout({ rows: 'u32', n: 'u32', eps: 'f32' });
/** Rows longer than this get a workgroup each. */
const ROW_THRESHOLD = 32;

/** The pipeline shape shared by layerNorm and rmsNorm: rows or one invocation per row. */
function normLaunch(
  ctx: GpuContext,
  x: GpuTensor,
): { rows: number; n: number; byRow: boolean; wg: number; subgroups: boolean } {
  const n = x.shape[x.shape.length - 1]!;
  const rows = n === 0 ? 0 : x.size / n;
  const byRow = n > ROW_THRESHOLD;
  const wg = byRow ? (n <= 256 ? 64 : 256) : 64;
  return { rows, n, byRow, wg, subgroups: byRow && ctx.features.subgroups };
}

/** WGSL skeleton of a last-axis norm; `body` sees `base`, `n`, `rowSum(v)` and the loop header `ROW`. */
function normWgsl(bindings: string, body: string, byRow: boolean, wg: number, subgroups: boolean): string {
  const entry = rowEntry(subgroups);
  const head = wgslRowMain(byRow, wg, subgroups);
  const loop = byRow ? `for (var j = lid; j < p.n; j += ${wg}u)` : 'for (var j = 0u; j < p.n; j++)';
  return `${byRow ? entry.enable : ''}${normParams.wgsl('Params')}
${bindings}
${byRow ? wgslWorkgroupReduce('wgSum', 'f32', 'add', wg, subgroups) : ''}
${head}
  if (r >= p.rows) { return; } // uniform when byRow: r depends only on the workgroup
  let base = r * p.n;
  let n = f32(p.n);
  ${body.replaceAll('ROW', loop).replaceAll(/rowSum\((\w+)\)/g, byRow ? 'wgSum($1, lid, lane, sgSize)' : '$1')}
}`;
}

/**
 * @internal Runs a last-axis norm over the rows of `buffers[0]`: `buffers` are bound in order, the
 * first `reads.length` as the read-only f32 arrays named in `reads`, the rest as the read-write
 * ones named in `writes`, then the uniforms. `body` is the shader body for {@link normWgsl};
 * `key` names the variant in the pipeline cache (the launch shape is added to it).
 */
export function dispatchNorm(
  ctx: GpuContext,
  key: string,
  reads: readonly string[],
  writes: readonly string[],
  buffers: readonly GpuTensor[],
  eps: number,
  body: () => string,
): void {
  const { rows, n, byRow, wg, subgroups } = normLaunch(ctx, buffers[0]!);
  if (rows === 0) return;
  const pipeline = ctx.pipeline(`${key}:${byRow ? 'rows' : 'cols'}:${wg}:${subgroups ? 'sg' : ''}`, () => {
    const access = (i: number) => (i < reads.length ? 'read' : 'read_write');
    const bindings = [...reads, ...writes]
      .map((name, i) => `@group(0) @binding(${i}) var<storage, ${access(i)}> ${name}: array<f32>;`)
      .concat(`@group(0) @binding(${reads.length + writes.length}) var<uniform> p: Params;`)
      .join('\n');
    return normWgsl(bindings, body(), byRow, wg, subgroups);
  });
  ctx.dispatch(
    pipeline,
    buffers,
    normParams.pack({ rows, n, eps }),
    workgroups1d(byRow ? rows : Math.ceil(rows / wg)),
  );
}
