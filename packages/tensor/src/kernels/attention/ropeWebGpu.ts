// The WebGPU rope kernel: one invocation per element, the inverse frequencies baked into the shader
// (the pipeline key holds their bits), positions from the offset or an i32 tensor, and a cos/sin
// that is accurate on every driver.
import { type GpuContext, type GpuTensor, workgroups1d } from '../../backends/webgpu/context.js';
import { uniformLayout } from '../../backends/webgpu/uniforms.js';
import type { RopeAttrs } from '../rope.js';

/**
 * pi/2 as a sum of parts of 4 significant bits (and a last f32 part): for |k| < 2^20 every k * part
 * is exact in f32, and so are the large partial remainders, so angles up to ~1.6e6 radians reduce
 * to within about an ulp of the reduced angle (a 1M-token context at inv_freq 1 included).
 */
const HALF_PI_PARTS = (() => {
  const parts: number[] = [];
  let rest = Math.PI / 2;
  for (let i = 0; i < 6; i++) {
    const unit = 2 ** (Math.floor(Math.log2(rest)) - 3);
    const part = Math.floor(rest / unit) * unit;
    parts.push(part);
    rest -= part;
  }
  parts.push(Math.fround(rest));
  return parts;
})();
const REDUCE = HALF_PI_PARTS.reduce((expr, c) => `(${expr} - k * ${c.toPrecision(17)})`, 'a');

const ropeParams = uniformLayout({ size: 'u32', heads: 'u32', tokens: 'u32', offset: 'i32', sign: 'f32' });
const WG = 256;

function ropeSource(attrs: RopeAttrs, d: number, positions: 'none' | 'shared' | 'batched'): string {
  const half = attrs.rotaryDim / 2;
  // Exact f32 values: 17 significant digits reproduce the double that holds each f32.
  const freqs = attrs.invFreq.map((f) => f.toPrecision(17)).join(', ');
  const position = {
    none: 'p.offset + i32(t)',
    shared: 'positions[t]',
    batched: 'positions[b * p.tokens + t]',
  }[positions];
  const pair = attrs.interleaved
    ? `let fi = c / 2u;
  var rotated: f32;
  if ((c & 1u) == 0u) { rotated = -x[e + 1u]; } else { rotated = x[e - 1u]; }`
    : `let fi = c % HALF;
  var rotated: f32;
  if (c < HALF) { rotated = -x[e + HALF]; } else { rotated = x[e - HALF]; }`;
  const out = positions === 'none' ? 1 : 2;
  return `${ropeParams.wgsl('Params')}
const D = ${d}u;
const ROT = ${attrs.rotaryDim}u;
const HALF = ${Math.max(half, 1)}u;
var<private> INV_FREQ: array<f32, ${Math.max(half, 1)}> = array<f32, ${Math.max(half, 1)}>(${freqs || '0.0'});
@group(0) @binding(0) var<storage, read> x: array<f32>;
${positions === 'none' ? '' : '@group(0) @binding(1) var<storage, read> positions: array<i32>;'}
@group(0) @binding(${out}) var<storage, read_write> outBuf: array<f32>;
@group(0) @binding(${out + 1}) var<uniform> p: Params;

// cos and sin of an f32 angle to about 1 ulp on every driver (WGSL's builtins are only required to
// be accurate to 2^-11 on [-pi, pi], and software drivers are no better): Cody-Waite reduction by
// pi/2, then Cephes' sinf/cosf polynomials on [-pi/4, pi/4].
fn cosSin(a: f32) -> vec2<f32> {
  let k = round(a * 0.6366197723675814);
  let r = ${REDUCE};
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  switch (i32(k) & 3) {
    case 0: { return vec2<f32>(c, s); }
    case 1: { return vec2<f32>(-s, c); }
    case 2: { return vec2<f32>(-c, -s); }
    default: { return vec2<f32>(s, -c); }
  }
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * ${WG}u;
  if (e >= p.size) { return; }
  let c = e % D;
  if (c >= ROT) { outBuf[e] = x[e]; return; }
  let t = (e / D) % p.tokens;
  let b = e / (D * p.tokens * p.heads);
  ${pair}
  let cs = cosSin(f32(${position}) * INV_FREQ[fi]);
  outBuf[e] = x[e] * cs.x + rotated * (p.sign * cs.y);
}`;
}

/** Encodes rope on WebGPU. */
export function ropeWebGpu(
  ctx: GpuContext,
  [x, positions]: readonly GpuTensor[],
  out: GpuTensor,
  attrs: RopeAttrs,
): void {
  if (out.size === 0) return;
  const [, heads, tokens, d] = x!.shape as [number, number, number, number];
  const kind = !positions ? 'none' : positions.shape.length === 1 ? 'shared' : 'batched';
  const freqBits = new Uint32Array(Float32Array.from(attrs.invFreq).buffer);
  const key = `rope:${d}:${attrs.rotaryDim}:${attrs.interleaved}:${kind}:${Array.from(freqBits, (v) => v.toString(16)).join(',')}`;
  const pipeline = ctx.pipeline(key, () => ropeSource(attrs, d, kind));
  const uniforms = ropeParams.pack({
    size: out.size,
    heads,
    tokens,
    offset: attrs.offset,
    sign: attrs.inverse ? -1 : 1,
  });
  ctx.dispatch(
    pipeline,
    positions ? [x!, positions, out] : [x!, out],
    uniforms,
    workgroups1d(Math.ceil(out.size / WG)),
  );
}
