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

/**
 * @internal WGSL for PyTorch's NaN semantics. WGSL's comparisons, min and max may assume no NaN,
 * so `isNan` tests the bits; `maxNaN`/`minNaN` are max/min that return NaN when either operand is
 * NaN (selecting, never computing, the NaN); `nanF32()` makes one (not a const-expression).
 */
export const WGSL_NAN_OPS = `
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn nanF32() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }
fn maxNaN(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, isNan(b)), a, isNan(a)); }
fn minNaN(a: f32, b: f32) -> f32 { return select(select(min(a, b), b, isNan(b)), a, isNan(a)); }
`;

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
  // Per dispatch, only what the pipeline key and the uniforms need, without temporary arrays:
  // small elementwise ops are common enough that this front-end cost shows next to Dawn's.
  let broadcast = false;
  for (let i = 0; i < inputs.length && !broadcast; i++) broadcast = !isContiguous(inputs[i]!, out);
  const pipeline = ctx.pipeline(pipelineKey(key, inputs, out), () =>
    elementwiseSource(inputs, out, expr, prelude),
  );
  ctx.dispatch(
    pipeline,
    [...inputs, out],
    broadcast ? broadcastUniforms(inputs, out) : contiguousUniforms(out.size),
    workgroups1d(Math.ceil(out.size / WG)),
  );
}

const WG = 256;
const NAMES = ['a', 'b', 'c'];

// Pipeline keys memoized per op by a numeric signature (each input's dtype and contiguity, the
// output's dtype), so a dispatch looks up the same string object (whose hash V8 keeps) instead of
// building and hashing a new one.
const keyCache = new Map<string, Map<number, string>>();
const dtypeCodes = new Map<string, number>();

function dtypeCode(dtype: string): number {
  let code = dtypeCodes.get(dtype);
  if (code === undefined) dtypeCodes.set(dtype, (code = dtypeCodes.size));
  return code;
}

function pipelineKey(key: string, inputs: readonly GpuTensor[], out: GpuTensor): string {
  let sig = dtypeCode(out.dtype);
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i]!;
    sig = sig * 64 + dtypeCode(t.dtype) * 2 + (isContiguous(t, out) ? 1 : 0);
  }
  let byOp = keyCache.get(key);
  if (!byOp) keyCache.set(key, (byOp = new Map()));
  let full = byOp.get(sig);
  if (full === undefined) {
    const parts = inputs.map((t) => `${t.dtype}${isContiguous(t, out) ? 'c' : 'b'}`);
    byOp.set(sig, (full = `ew:${key}:${parts.join(',')}:${out.dtype}`));
  }
  return full;
}

function isContiguous(t: GpuTensor, out: GpuTensor): boolean {
  return t.size === out.size && t.shape.length === out.shape.length;
}

function elementwiseSource(
  inputs: readonly GpuTensor[],
  out: GpuTensor,
  expr: string,
  prelude: string,
): string {
  const decls = inputs
    .map(
      (t, i) =>
        `@group(0) @binding(${i}) var<storage, read> ${NAMES[i]}Buf: array<${wgslStorageType(t.dtype)}>;`,
    )
    .join('\n');
  const reads = inputs
    .map((t, i) => {
      const n = NAMES[i]!;
      return isContiguous(t, out)
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
}

// When no input broadcasts the shader reads only the size, so the packed bytes depend on it
// alone and are reused (the backend copies uniform bytes at dispatch, so sharing them is safe).
const contiguousCache = new Map<number, Uint8Array>();

function contiguousUniforms(size: number): Uint8Array {
  let bytes = contiguousCache.get(size);
  if (!bytes) {
    if (contiguousCache.size >= 4096) contiguousCache.clear();
    const zero: number[] = [];
    bytes = elementwiseParams.pack({
      size,
      rank: 0,
      outShape: zero,
      aStrides: zero,
      bStrides: zero,
      cStrides: zero,
    });
    contiguousCache.set(size, bytes);
  }
  return bytes;
}

function broadcastUniforms(inputs: readonly GpuTensor[], out: GpuTensor): Uint8Array {
  const zero: number[] = [];
  const strides = (i: number) => (inputs[i] ? broadcastStrides(inputs[i].shape, out.shape) : zero);
  return elementwiseParams.pack({
    size: out.size,
    rank: out.shape.length,
    outShape: out.shape,
    aStrides: strides(0),
    bStrides: strides(1),
    cStrides: strides(2),
  });
}

export { stridesOf };
