// Shared machinery for elementwise kernels: broadcast index math on the CPU and in WGSL.
import type { TensorInfo } from '../backend.js';
import {
  type GpuContext,
  type GpuTensor,
  wgslStorageType,
  workgroups1d,
} from '../backends/webgpu/context.js';
import { uniformLayout, WGSL_SHAPE_AT } from '../backends/webgpu/uniforms.js';
import { broadcastStrides, type Shape, stridesOf } from '../shape.js';

export const MAX_RANK = 8;

/** For each output element, the offsets into inputs broadcast to `outShape` (CPU reference). */
export function broadcastOffsets(inShape: Shape, outShape: Shape): Int32Array | undefined {
  if (inShape.length === outShape.length && inShape.every((d, i) => d === outShape[i])) return undefined;
  const strides = broadcastStrides(inShape, outShape);
  const size = outShape.reduce((a, b) => a * b, 1);
  const offsets = new Int32Array(size);
  const rank = outShape.length;
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let i = 0; i < size; i++) {
    offsets[i] = off;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += strides[d]!;
      if (idx[d]! < outShape[d]!) break;
      off -= strides[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return offsets;
}

export const elementwiseParams = uniformLayout({
  size: 'u32',
  rank: 'u32',
  outShape: 'shape',
  aStrides: 'shape',
  bStrides: 'shape',
  cStrides: 'shape',
});

function pad8(values: readonly number[]): number[] {
  return [...values, ...new Array<number>(MAX_RANK - values.length).fill(0)];
}

export function assertRank(info: TensorInfo, op: string): void {
  if (info.shape.length > MAX_RANK) {
    throw new RangeError(
      `${op}: tensors of rank ${info.shape.length} are not supported (at most ${MAX_RANK})`,
    );
  }
}

/**
 * Encodes an elementwise kernel over up to three broadcast inputs. `expr` is a WGSL expression of
 * `a`, `b`, `c` (the inputs' values, read as their storage types) producing the output value.
 */
export function dispatchElementwise(
  ctx: GpuContext,
  key: string,
  inputs: readonly GpuTensor[],
  out: GpuTensor,
  expr: string,
  prelude = '',
): void {
  if (out.size === 0) return;
  const names = ['a', 'b', 'c'];
  const contiguous = inputs.map((t) => t.size === out.size && t.shape.length === out.shape.length);
  const WG = 256;
  const pipeline = ctx.pipeline(
    `ew:${key}:${inputs.map((t, i) => `${t.dtype}${contiguous[i] ? 'c' : 'b'}`)}:${out.dtype}`,
    () => {
      const decls = inputs
        .map(
          (t, i) =>
            `@group(0) @binding(${i}) var<storage, read> ${names[i]}Buf: array<${wgslStorageType(t.dtype)}>;`,
        )
        .join('\n');
      const reads = inputs
        .map((_, i) => {
          const n = names[i]!;
          return contiguous[i]
            ? `let ${n} = ${n}Buf[i];`
            : `var ${n}Off = 0u; { var r = i; for (var d = i32(p.rank) - 1; d >= 0; d--) { let dim = shapeAt(p.outShape, u32(d)); ${n}Off += (r % dim) * shapeAt(p.${n}Strides, u32(d)); r /= dim; } }\n    let ${n} = ${n}Buf[${n}Off];`;
        })
        .join('\n    ');
      return `${elementwiseParams.wgsl('Params')}
${WGSL_SHAPE_AT}
${decls}
@group(0) @binding(${inputs.length}) var<storage, read_write> outBuf: array<${wgslStorageType(out.dtype)}>;
@group(0) @binding(${inputs.length + 1}) var<uniform> p: Params;
${prelude}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * ${WG}u;
    if (i >= p.size) { return; }
    ${reads}
    outBuf[i] = ${expr};
}`;
    },
  );
  const strides = inputs.map((t) => pad8(broadcastStrides(t.shape, out.shape)));
  const zero = pad8([]);
  const uniforms = elementwiseParams.pack({
    size: out.size,
    rank: out.shape.length,
    outShape: pad8(out.shape),
    aStrides: strides[0] ?? zero,
    bStrides: strides[1] ?? zero,
    cStrides: strides[2] ?? zero,
  });
  ctx.dispatch(pipeline, [...inputs, out], uniforms, workgroups1d(Math.ceil(out.size / WG)));
}

export { stridesOf };
