// maxPool2d(x, kernel, stride, padding): NCHW max pooling (f32), and its gradient kernel, which
// routes each output gradient to the first maximum of its window (a NaN, which propagates, wins).
import type { TensorInfo } from '../backend.js';
import { type GpuContext, type GpuTensor, workgroups1d } from '../backends/webgpu/context.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { checkTensor } from '../checkTensor.js';
import { run1 } from '../engine.js';
import type { HostTensor, Kernel } from '../kernel.js';
import { formatShape, showValue } from '../shape.js';
import { WGSL_NAN_OPS } from './elementwise.js';
import type { Tensor } from '../tensor.js';

interface PoolAttrs {
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
}

/** Output spatial size of a pooling window; throws naming the op and shapes when it does not fit. */
function poolGeometry(x: TensorInfo, { kernel, stride, padding }: PoolAttrs): [number, number] {
  const what = `x of shape ${formatShape(x.shape)} with kernel [${kernel}], stride [${stride}], padding [${padding}]`;
  if (x.shape.length !== 4) throw new RangeError(`maxPool2d: x must be [N, C, H, W], got ${what}`);
  if (x.dtype !== 'f32') throw new TypeError(`maxPool2d: x must be f32, got ${x.dtype}`);
  for (let i = 0; i < 2; i++) {
    const k = kernel[i]!;
    const s = stride[i]!;
    const p = padding[i]!;
    if (![k, s, p].every(Number.isInteger) || k < 1 || s < 1 || p < 0) {
      throw new RangeError(
        `maxPool2d: ${what}: kernel and stride must be positive integers, padding non-negative`,
      );
    }
    // Keeps every window overlapping the input, so no output is -Infinity (PyTorch's rule).
    if (2 * p > k) throw new RangeError(`maxPool2d: ${what}: padding must be at most half the kernel`);
  }
  const oh = Math.floor((x.shape[2]! + 2 * padding[0] - kernel[0]) / stride[0]) + 1;
  const ow = Math.floor((x.shape[3]! + 2 * padding[1] - kernel[1]) / stride[1]) + 1;
  if (oh < 1 || ow < 1)
    throw new RangeError(`maxPool2d: ${what}: the window is larger than the padded input`);
  return [oh, ow];
}

/** CPU: for each output, the flat input index of its window's first maximum. */
function argmaxWindows(
  x: HostTensor,
  { kernel, stride, padding }: PoolAttrs,
  oh: number,
  ow: number,
): [Float32Array, Int32Array] {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const size = n * c * oh * ow;
  const values = new Float32Array(size);
  const where = new Int32Array(size);
  for (let o = 0; o < size; o++) {
    const ox = o % ow;
    const oy = Math.floor(o / ow) % oh;
    const plane = Math.floor(o / (ow * oh));
    let best = Number.NEGATIVE_INFINITY;
    let at = -1;
    for (let ky = 0; ky < kernel[0]; ky++) {
      const iy = oy * stride[0] - padding[0] + ky;
      if (iy < 0 || iy >= h) continue;
      for (let kx = 0; kx < kernel[1]; kx++) {
        const ix = ox * stride[1] - padding[1] + kx;
        if (ix < 0 || ix >= w) continue;
        const e = (plane * h + iy) * w + ix;
        const v = x.data[e]!;
        if (at < 0 || v > best || Number.isNaN(v)) {
          best = v;
          at = e;
        }
      }
    }
    values[o] = best;
    where[o] = at;
  }
  return [values, where];
}

const params = uniformLayout({
  size: 'u32',
  H: 'u32',
  W: 'u32',
  OH: 'u32',
  OW: 'u32',
  kh: 'u32',
  kw: 'u32',
  sh: 'u32',
  sw: 'u32',
  ph: 'u32',
  pw: 'u32',
});

// The window scan shared by the forward and the gradient shaders: the first maximum wins, and a
// NaN wins over any number (the last NaN, as in PyTorch), so it propagates.
const WINDOW_WGSL = `${WGSL_NAN_OPS}
struct Window { best: f32, at: i32 }
fn windowArgmax(plane: u32, oy: u32, ox: u32) -> Window {
  var best = 0.0;
  var at = -1;
  for (var ky = 0u; ky < p.kh; ky++) {
    let iy = i32(oy * p.sh + ky) - i32(p.ph);
    if (iy < 0 || iy >= i32(p.H)) { continue; }
    for (var kx = 0u; kx < p.kw; kx++) {
      let ix = i32(ox * p.sw + kx) - i32(p.pw);
      if (ix < 0 || ix >= i32(p.W)) { continue; }
      let e = i32((plane * p.H + u32(iy)) * p.W) + ix;
      let v = xBuf[e];
      if (at < 0 || isNan(v) || (!isNan(best) && v > best)) { best = v; at = e; }
    }
  }
  return Window(best, at);
}`;

function poolUniforms(x: GpuTensor, attrs: PoolAttrs, oh: number, ow: number, size: number): Uint8Array {
  return params.pack({
    size,
    H: x.shape[2]!,
    W: x.shape[3]!,
    OH: oh,
    OW: ow,
    kh: attrs.kernel[0],
    kw: attrs.kernel[1],
    sh: attrs.stride[0],
    sw: attrs.stride[1],
    ph: attrs.padding[0],
    pw: attrs.padding[1],
  });
}

const WG = 256;

function forwardGpu(ctx: GpuContext, x: GpuTensor, out: GpuTensor, attrs: PoolAttrs): void {
  if (out.size === 0) return;
  const pipeline = ctx.pipeline(
    'maxPool2d',
    () => `${params.wgsl('Params')}
@group(0) @binding(0) var<storage, read> xBuf: array<f32>;
@group(0) @binding(1) var<storage, read_write> outBuf: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
${WINDOW_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * ${WG}u;
  if (o >= p.size) { return; }
  outBuf[o] = windowArgmax(o / (p.OW * p.OH), (o / p.OW) % p.OH, o % p.OW).best;
}`,
  );
  const [, , oh, ow] = out.shape as [number, number, number, number];
  ctx.dispatch(
    pipeline,
    [x, out],
    poolUniforms(x, attrs, oh, ow, out.size),
    workgroups1d(Math.ceil(out.size / WG)),
  );
}

// Gather-side gradient: each input element sums dy over the windows that contain it and whose
// first maximum it is, in (oy, ox) order, the order in which the CPU reference accumulates.
function gradGpu(ctx: GpuContext, x: GpuTensor, dy: GpuTensor, dx: GpuTensor, attrs: PoolAttrs): void {
  if (dx.size === 0) return;
  const pipeline = ctx.pipeline(
    'maxPool2d:grad',
    () => `${params.wgsl('Params')}
@group(0) @binding(0) var<storage, read> xBuf: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
${WINDOW_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= p.size) { return; }
  let ix = i32(i % p.W);
  let iy = i32((i / p.W) % p.H);
  let plane = i / (p.W * p.H);
  // Windows oy with oy*sh - ph <= iy < oy*sh - ph + kh.
  let y0 = max(0, (iy + i32(p.ph) - i32(p.kh) + i32(p.sh)) / i32(p.sh));
  let y1 = min(i32(p.OH) - 1, (iy + i32(p.ph)) / i32(p.sh));
  let x0 = max(0, (ix + i32(p.pw) - i32(p.kw) + i32(p.sw)) / i32(p.sw));
  let x1 = min(i32(p.OW) - 1, (ix + i32(p.pw)) / i32(p.sw));
  var acc = 0.0;
  for (var oy = y0; oy <= y1; oy++) {
    for (var ox = x0; ox <= x1; ox++) {
      let w = windowArgmax(plane, u32(oy), u32(ox));
      if (w.at == i32(i)) { acc += dy[(plane * p.OH + u32(oy)) * p.OW + u32(ox)]; }
    }
  }
  dx[i] = acc;
}`,
  );
  const [, , oh, ow] = dy.shape as [number, number, number, number];
  ctx.dispatch(
    pipeline,
    [x, dy, dx],
    poolUniforms(x, attrs, oh, ow, dx.size),
    workgroups1d(Math.ceil(dx.size / WG)),
  );
}

/** The gradient of {@link maxPool2d} with respect to x: inputs `[x, dy]`. */
export const maxPool2dGradKernel: Kernel<PoolAttrs> = {
  name: 'maxPool2dGrad',
  infer([x, dy], attrs): TensorInfo[] {
    const [oh, ow] = poolGeometry(x!, attrs);
    const want = [x!.shape[0]!, x!.shape[1]!, oh, ow];
    if (dy!.shape.length !== 4 || want.some((d, i) => d !== dy!.shape[i])) {
      throw new RangeError(
        `maxPool2dGrad: dy has shape ${formatShape(dy!.shape)}, expected ${formatShape(want)} for x ${formatShape(x!.shape)}`,
      );
    }
    return [{ shape: x!.shape, dtype: 'f32' }];
  },
  cpu([x, dy], attrs) {
    const [, where] = argmaxWindows(x!, attrs, dy!.shape[2]!, dy!.shape[3]!);
    const dx = new Float32Array(x!.data.length);
    where.forEach((e, o) => {
      dx[e] = dx[e]! + dy!.data[o]!;
    });
    return [dx];
  },
  webgpu(ctx, [x, dy], [dx], attrs) {
    gradGpu(ctx, x!, dy!, dx!, attrs);
  },
};

export const maxPool2dKernel: Kernel<PoolAttrs> = {
  name: 'maxPool2d',
  infer([x], attrs): TensorInfo[] {
    const [oh, ow] = poolGeometry(x!, attrs);
    return [{ shape: [x!.shape[0]!, x!.shape[1]!, oh, ow], dtype: 'f32' }];
  },
  cpu([x], attrs, [out]) {
    return [argmaxWindows(x!, attrs, out!.shape[2]!, out!.shape[3]!)[0]];
  },
  webgpu(ctx, [x], [out], attrs) {
    forwardGpu(ctx, x!, out!, attrs);
  },
  tfjs(tf, [x], { kernel, stride, padding }) {
    // Pad with -Infinity so padding never wins, then pool without padding, in NHWC.
    const pad = (t: typeof x, value: number) =>
      tf.pad(
        tf.transpose(t, [0, 2, 3, 1]),
        [
          [0, 0],
          [padding[0], padding[0]],
          [padding[1], padding[1]],
          [0, 0],
        ],
        value,
      );
    const pool = (t: typeof x) =>
      tf.transpose(tf.maxPool(t, [...kernel], [...stride], 'valid'), [0, 3, 1, 2]);
    // tfjs's pooling skips NaN: pool a NaN mask beside it, so a window holding one gives NaN.
    const hasNaN = pool(pad(tf.cast(tf.isNaN(x), 'float32'), 0));
    return [
      tf.where(
        tf.greater(hasNaN, 0),
        tf.fill(hasNaN.shape, Number.NaN),
        pool(pad(x, Number.NEGATIVE_INFINITY)),
      ),
    ];
  },
  grad({ dy: [dy], inputs: [x], attrs }) {
    return [dy && run1(maxPool2dGradKernel, [x!, dy], attrs)];
  },
};

/** A number for both axes or an `[h, w]` pair; the ranges are poolGeometry's to check. */
function pair(v: unknown, name: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number')
    return [v[0], v[1]];
  throw new TypeError(
    `maxPool2d: ${name} must be a number or an [h, w] pair of numbers, got ${showValue(v)}`,
  );
}

/**
 * Max pooling over `kernel` windows of `x` `[N, C, H, W]` (f32), moved by `stride` (default: the
 * kernel) with `padding` on each side that never wins (at most half the kernel).
 * Output `[N, C, floor((H + 2p - k) / s) + 1, ...]`. Its gradient goes to each window's first maximum.
 * A window holding a NaN gives NaN (its gradient goes to the last NaN), as in PyTorch.
 *
 * @example
 * ```ts
 * const pooled = maxPool2d(x, 3, 2, 1); // ResNet stem: [N, 64, 112, 112] -> [N, 64, 56, 56]
 * ```
 */
export function maxPool2d(
  x: Tensor,
  kernel: number | readonly [number, number],
  stride?: number | readonly [number, number],
  padding: number | readonly [number, number] = 0,
): Tensor {
  checkTensor(x, 'maxPool2d', 'x');
  const k = pair(kernel, 'kernel');
  return run1(maxPool2dKernel, [x], {
    kernel: k,
    stride: stride === undefined ? k : pair(stride, 'stride'),
    padding: pair(padding, 'padding'),
  });
}
