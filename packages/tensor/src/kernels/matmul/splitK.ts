// Split-K for the WebGPU GEMM: when a product has few output tiles and a long K, its workgroups
// each take a chunk of K and write partial [batches, M, N] blocks (see gemmWgsl's `split`), and
// this kernel sums the blocks, adds the bias and applies the activation.
import { type GpuContext, type GpuTensor, workgroups1d } from '../../backends/webgpu/context.js';
import { uniformLayout } from '../../backends/webgpu/uniforms.js';
import { WGSL_ACTIVATIONS } from './activation.js';
import type { SplitKConfig } from './config.js';

const WG = 256;
const sumParams = uniformLayout({
  count: 'u32',
  N: 'u32',
  kSplit: 'u32',
  hasBias: 'u32',
  activation: 'u32',
});

/**
 * Chunks of K for a product whose large tiles number `tiles`: 1 (no split) unless K is at least
 * `minK`; else enough chunks of at least `chunkK` for about `workgroups` workgroups, as long as the
 * partial blocks (`chunks * outBytes`) fit in one binding.
 */
export function splitKChunks(
  c: SplitKConfig,
  tiles: number,
  k: number,
  outBytes: number,
  maxBytes: number,
): number {
  if (k < c.minK || tiles <= 0) return 1;
  const chunks = Math.min(
    Math.ceil(c.workgroups / tiles),
    Math.floor(k / c.chunkK),
    Math.floor(maxBytes / outBytes),
  );
  return Math.max(1, chunks);
}

/**
 * Sums `kSplit` partial blocks of `part` ([kSplit, count] f32) into `out` ([count] f32, rows of N),
 * with the bias (when `bias` is given), the activation, and then the residual (when given).
 */
export function sumSplitK(
  ctx: GpuContext,
  part: GPUBuffer,
  bias: GpuTensor | undefined,
  residual: GpuTensor | undefined,
  out: GpuTensor,
  n: number,
  kSplit: number,
  activation: number,
): void {
  const vec = n % 4 === 0;
  const type = vec ? 'vec4<f32>' : 'f32';
  const pipeline = ctx.pipeline(
    `matmul-splitk-sum:${type}${residual ? ':res' : ''}`,
    () => `${sumParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read> part: array<${type}>;
@group(0) @binding(1) var<storage, read> bias: array<${type}>;
${residual ? `@group(0) @binding(2) var<storage, read> res: array<${type}>;` : ''}
@group(0) @binding(${residual ? 3 : 2}) var<storage, read_write> out: array<${type}>;
@group(0) @binding(${residual ? 4 : 3}) var<uniform> p: Params;
${WGSL_ACTIVATIONS}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u; // an element (a vec4 of a row when N % 4 == 0)
  if (i >= p.count) { return; }
  var x = part[i];
  for (var s = 1u; s < p.kSplit; s++) { x += part[s * p.count + i]; }
  if (p.hasBias != 0u) { x += bias[i % p.N]; }
  out[i] = ${vec ? 'act4' : 'act'}(x, p.activation)${residual ? ' + res[i]' : ''};
}`,
  );
  const per = vec ? 4 : 1;
  const count = out.size / per;
  const uniforms = sumParams.pack({
    count,
    N: n / per,
    kSplit,
    hasBias: bias ? 1 : 0,
    activation,
  });
  // An absent bias binds the partials in its place (read-only bindings may alias).
  const buffers = [part, bias ?? part, ...(residual ? [residual] : []), out];
  ctx.dispatch(pipeline, buffers, uniforms, workgroups1d(Math.ceil(count / WG)));
}
