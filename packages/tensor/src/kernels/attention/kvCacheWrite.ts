// The kernels that write new positions into a KV cache tensor: in place on the CPU and WebGPU
// backends (the cache tensor is an input whose buffer is written; the one mutable exception to
// immutable tensors), and a functional update for tfjs, whose tensors cannot be written.
import { noteMutated } from '../../hostMutation.js';
import type { TensorInfo } from '../../backend.js';
import { workgroups1d } from '../../backends/webgpu/context.js';
import { uniformLayout } from '../../backends/webgpu/uniforms.js';
import type { HostTensor, Kernel } from '../../kernel.js';
import { formatShape } from '../../shape.js';

/** Attributes of the cache write kernels: the position the new rows go to. */
export interface KvCacheWriteAttrs {
  readonly offset: number;
}

const describe = (t: TensorInfo) => `${t.dtype}${formatShape(t.shape)}`;

function checkWrite([cache, rows]: readonly TensorInfo[], { offset }: KvCacheWriteAttrs, op: string): void {
  const c = cache!.shape;
  const r = rows!.shape;
  if (
    c.length !== 4 ||
    r.length !== 4 ||
    c[0] !== r[0] ||
    c[1] !== r[1] ||
    c[3] !== r[3] ||
    cache!.dtype !== rows!.dtype
  ) {
    throw new RangeError(
      `${op}: rows ${describe(rows!)} do not fit the cache ${describe(cache!)} ([B, Hkv, T, D] into [B, Hkv, maxLength, D])`,
    );
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + r[2]! > c[2]!) {
    throw new RangeError(
      `${op}: writing ${r[2]} positions at ${offset} overflows the cache ${describe(cache!)}`,
    );
  }
}

/** Copies rows [B, H, T, D] into `target` [B, H, L, D] at position `offset`. */
function writeRows(target: HostTensor['data'], cache: TensorInfo, rows: HostTensor, offset: number): void {
  const [, , length, d] = cache.shape as [number, number, number, number];
  const t = rows.shape[2]!;
  const bh = rows.shape[0]! * rows.shape[1]!;
  for (let i = 0; i < bh; i++) {
    target.set(rows.data.subarray(i * t * d, (i + 1) * t * d) as never, (i * length + offset) * d);
  }
}

const writeParams = uniformLayout({ size: 'u32', tokens: 'u32', length: 'u32', d: 'u32', offset: 'u32' });
const WG = 256;

/**
 * Writes rows into a cache tensor's own buffer and returns nothing: the in-place kernel behind
 * `appendKv` on the CPU and WebGPU backends.
 *
 * @example
 * ```ts
 * runKernel(kvCacheWriteKernel, [cache.k[0], kNew], { offset: cache.length }); // no outputs
 * ```
 */
export const kvCacheWriteKernel: Kernel<KvCacheWriteAttrs> = {
  name: 'kvCacheWrite',
  infer(inputs, attrs) {
    checkWrite(inputs, attrs, 'kvCacheWrite');
    return [];
  },
  cpu([cache, rows], { offset }) {
    // cache.data is the backend's array itself (the CPU backend hands kernels its buffers).
    writeRows(cache!.data, cache!, rows!, offset);
    noteMutated(cache!.data);
    return [];
  },
  webgpu(ctx, [cache, rows], _outs, { offset }) {
    if (rows!.size === 0) return;
    const [, , length, d] = cache!.shape as [number, number, number, number];
    const pipeline = ctx.pipeline(
      'kvCacheWrite',
      () => `${writeParams.wgsl('Params')}
@group(0) @binding(0) var<storage, read_write> cache: array<f32>;
@group(0) @binding(1) var<storage, read> rows: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * ${WG}u;
  if (e >= p.size) { return; }
  let c = e % p.d;
  let t = (e / p.d) % p.tokens;
  let bh = e / (p.d * p.tokens);
  cache[(bh * p.length + p.offset + t) * p.d + c] = rows[e];
}`,
    );
    const uniforms = writeParams.pack({ size: rows!.size, tokens: rows!.shape[2]!, length, d, offset });
    ctx.dispatch(pipeline, [cache!, rows!], uniforms, workgroups1d(Math.ceil(rows!.size / WG)));
  },
  tfjs() {
    throw new Error(
      'kvCacheWrite: tfjs tensors cannot be written in place; appendKv uses kvCacheUpdate there',
    );
  },
};

/**
 * The functional variant for tfjs: returns the cache with the rows written at `offset`.
 *
 * @example
 * ```ts
 * const updated = runKernel(kvCacheUpdateKernel, [cacheK, kNew], { offset: 5 })[0];
 * ```
 */
export const kvCacheUpdateKernel: Kernel<KvCacheWriteAttrs> = {
  name: 'kvCacheUpdate',
  infer(inputs, attrs) {
    checkWrite(inputs, attrs, 'kvCacheUpdate');
    return [{ shape: inputs[0]!.shape, dtype: inputs[0]!.dtype }];
  },
  cpu([cache, rows], { offset }) {
    const out = cache!.data.slice();
    writeRows(out, cache!, rows!, offset);
    return [out];
  },
  tfjs(tf, [cache, rows], { offset }) {
    const [b, h, length, d] = cache.shape as [number, number, number, number];
    const t = rows.shape[2] as number;
    const parts = [tf.slice(cache, [0, 0, 0, 0], [b, h, offset, d]), rows];
    if (offset + t < length)
      parts.push(tf.slice(cache, [0, 0, offset + t, 0], [b, h, length - offset - t, d]));
    return [tf.concat(parts, 2)];
  },
};
