// openai/CLIP's ModifiedResNet image tower (RN50, RN101, RN50x4, ...) with open_clip's tensor
// names (`visual.*`): a three-conv stem with an average pool; Bottleneck blocks whose stride is an
// average pool after the 3x3 conv (anti-aliased), with an average pool before the 1x1 downsample;
// and attention pooling (the mean token attends over all positions) in place of a global pool.
import {
  type Shape,
  type Tensor,
  add,
  attention,
  concat,
  conv2d,
  full,
  matmul,
  mean,
  mul,
  relu,
  reshape,
  rsqrt,
  scale,
  slice,
  sub,
  transpose,
} from '@vl/tensor';
import { argumentError, checkObject, checkParamsMap, checkString, checkTensor } from '../checkArguments.js';
import { type ClipParams, param } from './params.js';

/** Sizes of a ModifiedResNet tower (open_clip `vision_cfg` with a list of layers). */
export interface ModifiedResNetConfig {
  /** Blocks per stage, e.g. `[3, 4, 6, 3]` for RN50. */
  layers: readonly number[];
  /** Stem width (64 for RN50); stage `i` has `width * 2^i` planes and 4x that many outputs. */
  width: number;
  /** Attention-pool heads (`width * 32 / 64`). */
  heads: number;
  image_size: number;
  /** The joint embedding size the attention pool projects to. */
  output_dim: number;
}

const BN_EPS = 1e-5;

/** An object with its blocks per stage in an array (which both functions walk). */
function checkResNetConfig(fn: string, c: unknown): asserts c is ModifiedResNetConfig {
  checkObject(fn, 'c', c, 'a ModifiedResNetConfig');
  const { layers } = c as { layers?: unknown };
  if (!Array.isArray(layers)) throw argumentError(fn, 'c.layers', 'an array of blocks per stage', layers);
}

/** BatchNorm2d in inference mode over `[B, C, H, W]`. */
function batchNorm(params: ClipParams, prefix: string, x: Tensor): Tensor {
  const C = x.shape[1]!;
  const p = (n: string) => reshape(param(params, `${prefix}.${n}`, [C]), [1, C, 1, 1]);
  const inv = rsqrt(scale(p('running_var'), 1, BN_EPS)); // [1, C, 1, 1]
  return add(mul(mul(sub(x, p('running_mean')), inv), p('weight')), p('bias')); // [B, C, H, W]
}

/** AvgPool2d(k) (stride k, no padding) as a depthwise convolution with constant weights. */
function avgPool(x: Tensor, k: number): Tensor {
  if (k === 1) return x;
  const C = x.shape[1]!;
  const w = full([C, 1, k, k], 1 / (k * k), { backend: x.backend }); // [C, 1, k, k]
  return conv2d(x, w, undefined, { stride: k, groups: C }); // [B, C, H/k, W/k]
}

function convBn(params: ClipParams, conv: string, bn: string, x: Tensor, padding: number): Tensor {
  return batchNorm(params, bn, conv2d(x, param(params, `${conv}.weight`), undefined, { padding }));
}

function bottleneck(params: ClipParams, prefix: string, x: Tensor, stride: number): Tensor {
  let out = relu(convBn(params, `${prefix}.conv1`, `${prefix}.bn1`, x, 0)); // [B, planes, H, W]
  out = relu(convBn(params, `${prefix}.conv2`, `${prefix}.bn2`, out, 1)); // [B, planes, H, W]
  out = avgPool(out, stride); // [B, planes, H/s, W/s]
  out = convBn(params, `${prefix}.conv3`, `${prefix}.bn3`, out, 0); // [B, 4 planes, H/s, W/s]
  const identity = params.has(`${prefix}.downsample.0.weight`)
    ? convBn(params, `${prefix}.downsample.0`, `${prefix}.downsample.1`, avgPool(x, stride), 0)
    : x; // [B, 4 planes, H/s, W/s]
  return relu(add(out, identity));
}

/** Attention pooling: the mean of the positions (plus its position embedding) queries every position. */
function attentionPool(params: ClipParams, prefix: string, x: Tensor, heads: number): Tensor {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const tokens = transpose(reshape(x, [B, C, H * W]), [0, 2, 1]); // [B, HW, C]
  const seq = add(
    concat([mean(tokens, 1, true), tokens], 1),
    param(params, `${prefix}.positional_embedding`),
  ); // [B, 1 + HW, C]
  const proj = (name: string, t: Tensor) =>
    matmul(t, param(params, `${prefix}.${name}.weight`), {
      transposeB: true,
      bias: param(params, `${prefix}.${name}.bias`),
    });
  const D = C / heads;
  const split = (t: Tensor) => transpose(reshape(t, [B, t.shape[1]!, heads, D]), [0, 2, 1, 3]); // [B, h, T, D]
  const q = split(proj('q_proj', slice(seq, [0, 0, 0], [B, 1, C]))); // [B, h, 1, D]
  const k = split(proj('k_proj', seq)); // [B, h, 1 + HW, D]
  const v = split(proj('v_proj', seq)); // [B, h, 1 + HW, D]
  const o = reshape(transpose(attention(q, k, v), [0, 2, 1, 3]), [B, C]); // [B, C]
  return proj('c_proj', o); // [B, output_dim]
}

/**
 * Expected tensor shapes of the tower, as `[name, shape]` pairs with open_clip's names under
 * `prefix` (default `visual`); the attention pool's `c_proj` is the image projection.
 *
 * @example
 * ```ts
 * const rn50 = { layers: [3, 4, 6, 3], width: 64, heads: 32, image_size: 224, output_dim: 1024 };
 * const shapes = new Map(modifiedResNetShapes(rn50));
 * shapes.get('visual.attnpool.c_proj.weight'); // [1024, 2048]
 * ```
 */
export function modifiedResNetShapes(c: ModifiedResNetConfig, prefix = 'visual'): [string, Shape][] {
  checkResNetConfig('modifiedResNetShapes', c);
  checkString('modifiedResNetShapes', 'prefix', prefix);
  const shapes: [string, Shape][] = [];
  const bn = (name: string, n: number) => {
    for (const s of ['weight', 'bias', 'running_mean', 'running_var']) shapes.push([`${name}.${s}`, [n]]);
  };
  const w = c.width;
  shapes.push([`${prefix}.conv1.weight`, [w / 2, 3, 3, 3]]);
  bn(`${prefix}.bn1`, w / 2);
  shapes.push([`${prefix}.conv2.weight`, [w / 2, w / 2, 3, 3]]);
  bn(`${prefix}.bn2`, w / 2);
  shapes.push([`${prefix}.conv3.weight`, [w, w / 2, 3, 3]]);
  bn(`${prefix}.bn3`, w);
  let inplanes = w;
  c.layers.forEach((blocks, i) => {
    const planes = w * 2 ** i;
    for (let b = 0; b < blocks; b++) {
      const p = `${prefix}.layer${i + 1}.${b}`;
      const stride = b === 0 && i > 0 ? 2 : 1;
      shapes.push([`${p}.conv1.weight`, [planes, inplanes, 1, 1]]);
      bn(`${p}.bn1`, planes);
      shapes.push([`${p}.conv2.weight`, [planes, planes, 3, 3]]);
      bn(`${p}.bn2`, planes);
      shapes.push([`${p}.conv3.weight`, [planes * 4, planes, 1, 1]]);
      bn(`${p}.bn3`, planes * 4);
      if (stride > 1 || inplanes !== planes * 4) {
        shapes.push([`${p}.downsample.0.weight`, [planes * 4, inplanes, 1, 1]]);
        bn(`${p}.downsample.1`, planes * 4);
      }
      inplanes = planes * 4;
    }
  });
  const E = w * 32;
  const grid = c.image_size / 32;
  shapes.push([`${prefix}.attnpool.positional_embedding`, [grid * grid + 1, E]]);
  for (const n of ['q_proj', 'k_proj', 'v_proj'])
    shapes.push([`${prefix}.attnpool.${n}.weight`, [E, E]], [`${prefix}.attnpool.${n}.bias`, [E]]);
  shapes.push(
    [`${prefix}.attnpool.c_proj.weight`, [c.output_dim, E]],
    [`${prefix}.attnpool.c_proj.bias`, [c.output_dim]],
  );
  return shapes;
}

/**
 * The ModifiedResNet tower on normalized pixels `[B, 3, S, S]`; returns the projected image
 * features `[B, output_dim]` (the attention pool's output projection is CLIP's image projection).
 *
 * @example
 * ```ts
 * const features = modifiedResNetForward(params, pixelValues, { layers: [3, 4, 6, 3], width: 64, heads: 32, image_size: 224, output_dim: 1024 });
 * ```
 */
export function modifiedResNetForward(
  params: ClipParams,
  pixelValues: Tensor,
  c: ModifiedResNetConfig,
  prefix = 'visual',
): Tensor {
  checkParamsMap('modifiedResNetForward', params);
  checkTensor('modifiedResNetForward', 'pixelValues', pixelValues);
  checkResNetConfig('modifiedResNetForward', c);
  checkString('modifiedResNetForward', 'prefix', prefix);
  const S = c.image_size;
  if (
    pixelValues.rank !== 4 ||
    pixelValues.shape[1] !== 3 ||
    pixelValues.shape[2] !== S ||
    pixelValues.shape[3] !== S
  ) {
    throw new RangeError(
      `ModifiedResNet: pixelValues must be [B, 3, ${S}, ${S}], got ${pixelValues.describe()}`,
    );
  }
  let x = relu(
    batchNorm(
      params,
      `${prefix}.bn1`,
      conv2d(pixelValues, param(params, `${prefix}.conv1.weight`), undefined, { stride: 2, padding: 1 }),
    ),
  ); // [B, w/2, S/2, S/2]
  x = relu(convBn(params, `${prefix}.conv2`, `${prefix}.bn2`, x, 1)); // [B, w/2, S/2, S/2]
  x = relu(convBn(params, `${prefix}.conv3`, `${prefix}.bn3`, x, 1)); // [B, w, S/2, S/2]
  x = avgPool(x, 2); // [B, w, S/4, S/4]
  c.layers.forEach((blocks, i) => {
    for (let b = 0; b < blocks; b++)
      x = bottleneck(params, `${prefix}.layer${i + 1}.${b}`, x, b === 0 && i > 0 ? 2 : 1);
  }); // [B, 32 w, S/32, S/32]
  return attentionPool(params, `${prefix}.attnpool`, x, c.heads); // [B, output_dim]
}
