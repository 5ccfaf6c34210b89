// upsampleNearest(x, scale): NCHW nearest-neighbour upsampling by integer factors.
import type { TensorInfo } from '../backend.js';
import { uniformLayout } from '../backends/webgpu/uniforms.js';
import { allocArray, type TypedArray } from '../dtype.js';
import { checkTensor } from '../checkTensor.js';
import { run1 } from '../engine.js';
import type { Kernel } from '../kernel.js';
import { formatShape, showValue, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { sum } from './reduce.js';
import { reshape } from './reshape.js';
import { dispatchIndexMap } from './transpose.js';

interface UpsampleAttrs {
  readonly scale: readonly [number, number];
}

const params = uniformLayout({ size: 'u32', fill: 'u32', H: 'u32', W: 'u32', sh: 'u32', sw: 'u32' });

export const upsampleNearestKernel: Kernel<UpsampleAttrs> = {
  name: 'upsampleNearest',
  infer([x], { scale: [sh, sw] }): TensorInfo[] {
    if (x!.shape.length !== 4)
      throw new RangeError(`upsampleNearest: x must be [N, C, H, W], got shape ${formatShape(x!.shape)}`);
    if (!Number.isInteger(sh) || !Number.isInteger(sw) || sh < 1 || sw < 1) {
      throw new RangeError(`upsampleNearest: scale must be positive integers, got [${sh}, ${sw}]`);
    }
    const [n, c, h, w] = x!.shape as [number, number, number, number];
    return [{ shape: [n, c, h * sh, w * sw], dtype: x!.dtype }];
  },
  cpu([x], { scale: [sh, sw] }, [out]) {
    const w = x!.shape[3]!;
    const result: TypedArray = allocArray(out!.dtype, sizeOf(out!.shape));
    const OW = w * sw;
    const xd = x!.data;
    // Row by row: each input row widened once (every value sw times), then copied sh - 1 times;
    // an index computed per output value (divisions, floors) was 10x slower on the dVAE's.
    const rows = result.length / OW / sh; // planes * h
    for (let r = 0; r < rows; r++) {
      const to = r * sh * OW;
      const from = r * w;
      for (let i = 0; i < w; i++) {
        const v = xd[from + i]!;
        for (let j = 0; j < sw; j++) result[to + i * sw + j] = v;
      }
      for (let k = 1; k < sh; k++) result.copyWithin(to + k * OW, to, to + OW);
    }
    return [result];
  },
  webgpu(ctx, [x], [out], { scale: [sh, sw] }) {
    const [, , H, W] = x!.shape as [number, number, number, number];
    dispatchIndexMap(ctx, {
      key: 'upsampleNearest',
      sources: [x!],
      out: out!,
      paramsWgsl: params.wgsl('Params'),
      uniforms: params.pack({ size: out!.size, fill: 0, H, W, sh, sw }),
      locate: `fn locate(o: u32) -> vec2<i32> {
  let OW = p.W * p.sw;
  let OH = p.H * p.sh;
  let ow = o % OW;
  let oh = (o / OW) % OH;
  let plane = o / (OW * OH);
  return vec2<i32>(0, i32((plane * p.H + oh / p.sh) * p.W + ow / p.sw));
}`,
    });
  },
  tfjs(tf, [x], { scale: [sh, sw] }) {
    const [n, c, h, w] = x.shape;
    const tiled = tf.tile(tf.reshape(x, [n, c, h, 1, w, 1]), [1, 1, 1, sh, 1, sw]);
    return [tf.reshape(tiled, [n, c, h * sh, w * sw])];
  },
  grad({
    dy: [dy],
    inputs: [x],
    attrs: {
      scale: [sh, sw],
    },
  }) {
    if (!dy) return [undefined];
    // Each input pixel fed an sh x sw block of the output: sum-pool the gradient over the blocks.
    const [n, c, h, w] = x!.shape as [number, number, number, number];
    return [sum(reshape(dy, [n, c, h, sh, w, sw]), [3, 5])];
  },
};

/**
 * Nearest-neighbour upsampling of `x` `[N, C, H, W]` by integer factors (one for both axes, or
 * `[sh, sw]`): `[N, C, H*sh, W*sw]`. Any dtype.
 *
 * @example
 * ```ts
 * const up = upsampleNearest(features, 2); // [1, 256, 16, 16] -> [1, 256, 32, 32]
 * ```
 */
export function upsampleNearest(x: Tensor, scale: number | readonly [number, number]): Tensor {
  checkTensor(x, 'upsampleNearest', 'x');
  let s: [number, number];
  if (typeof scale === 'number') s = [scale, scale];
  else if (Array.isArray(scale) && scale.length === 2) s = [scale[0], scale[1]];
  else {
    throw new TypeError(
      `upsampleNearest: scale must be a number or an [sh, sw] pair of numbers, got ${showValue(scale)}`,
    );
  }
  return run1(upsampleNearestKernel, [x], { scale: s });
}
