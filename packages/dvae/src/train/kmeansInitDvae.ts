// Data-dependent initialization of a whole dVAE from k-means of image cells. Each grid cell (the
// 2^(G-1) x 2^(G-1) pixels one token covers) is described by its per-channel max and (1 - min) of
// the mapped pixels, which is exactly what a dall_e encoder can pass through its input conv, identity
// paths and max-pools; k-means over those features is the codebook. The encoder's logits layer then
// scores each code by its (negated, scaled) squared distance to the cell, and the decoder's input
// layer maps each code to the logit of its cells' mean colour, carried flat through the identity
// paths and nearest upsampling to the output. So before any training the dVAE reconstructs every
// image as flat cells of quantized colour (about 29 dB on the shapes world at 2x2 cells, 512 codes),
// and training only has to add what lies inside a cell. Only the first 2C channels of each layer
// are set (and the residual paths' writes into them zeroed); the other channels keep their random
// init, so the network keeps its capacity for what training adds. Like initializing a VQ codebook
// by k-means, applied to the layers around it.
import { Rng, type Tensor, checkOptionKeys, tensor } from '@vl/tensor';
import { checkDvaePair, type DvaeConfig } from '../config.js';
import { checkConfigArg, checkParamsPair } from '../checkArguments.js';
import { checkImages } from '../dvaeEncoder.js';
import {
  checkParamsAgainst,
  decoderGroupChannels,
  decoderShapes,
  type DvaeParams,
  encoderGroupChannels,
  encoderShapes,
} from '../dvaeShapes.js';
import { pixelRangeError } from '../loadDvae.js';
import { checkLossEps } from './dvaeLoss.js';
import type { DvaeParamsPair } from './initDvaeParams.js';

/** Options of {@link kmeansInitDvae}. */
export interface KmeansInitDvaeOptions {
  /** Lloyd iterations after the k-means++ seeding (default 10). */
  iterations?: number;
  /**
   * The median cell's margin, in nats, of its nearest code's logit over the second nearest's
   * (default 4: above the Gumbel noise, so the relaxed samples start close to the k-means codes).
   */
  margin?: number;
  /** Seed of the k-means++ seeding (default 0). */
  seed?: number;
}

/** What {@link kmeansInitDvae} returns. */
export interface KmeansInitDvaeResult {
  /** The initialized params: new tensors where set, the input's tensors shared elsewhere. */
  params: DvaeParamsPair;
  /** Codes that at least one cell of `images` is nearest to. */
  codesUsed: number;
  /** Mean PSNR (dB) of `images` reconstructed as flat cells of their code's colour: the init's own quality. */
  psnr: number;
}

interface Cells {
  /** `[n, F]` features: mapped max per channel, then 1 - mapped min per channel. */
  features: Float64Array;
  /** `[n, C]` mean pixel value per channel, in [0, 1]. */
  means: Float64Array;
  n: number;
}

/** Cell features of f32 `[N, C, H, W]` pixels in [0, 1], cells of `f x f` pixels. */
function cellsOf(data: Float32Array, shape: readonly number[], f: number, eps: number): Cells {
  const [N, C, H, W] = shape as [number, number, number, number];
  const h = H / f;
  const w = W / f;
  const n = N * h * w;
  const features = new Float64Array(n * 2 * C);
  const means = new Float64Array(n * C);
  for (let b = 0; b < N; b++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const cell = (b * h + i) * w + j;
        for (let c = 0; c < C; c++) {
          let hi = Number.NEGATIVE_INFINITY;
          let lo = Number.POSITIVE_INFINITY;
          let sum = 0;
          for (let y = i * f; y < (i + 1) * f; y++) {
            for (let x = j * f; x < (j + 1) * f; x++) {
              const v = data[((b * C + c) * H + y) * W + x]!;
              hi = Math.max(hi, v);
              lo = Math.min(lo, v);
              sum += v;
            }
          }
          features[cell * 2 * C + c] = (1 - 2 * eps) * hi + eps;
          features[cell * 2 * C + C + c] = 1 - ((1 - 2 * eps) * lo + eps);
          means[cell * C + c] = sum / (f * f);
        }
      }
    }
  }
  return { features, means, n };
}

function dist2(a: Float64Array, i: number, b: Float64Array, k: number, F: number): number {
  let d = 0;
  for (let j = 0; j < F; j++) {
    const e = a[i * F + j]! - b[k * F + j]!;
    d += e * e;
  }
  return d;
}

/** k-means++ seeding then Lloyd iterations; returns `[V, F]` centroids. */
function kmeans(cells: Cells, F: number, V: number, iterations: number, seed: number): Float64Array {
  const { features: x, n } = cells;
  const rng = new Rng(seed);
  const uniform = () => rng.next() / 2 ** 52;
  const centroids = new Float64Array(V * F);
  const best = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  let pick = Math.floor(uniform() * n);
  for (let k = 0; k < V; k++) {
    centroids.set(x.subarray(pick * F, (pick + 1) * F), k * F);
    let total = 0;
    for (let i = 0; i < n; i++) {
      best[i] = Math.min(best[i]!, dist2(x, i, centroids, k, F));
      total += best[i]!;
    }
    let r = uniform() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= best[i]!;
      if (r < 0) {
        pick = i;
        break;
      }
    }
  }
  for (let it = 0; it < iterations; it++) {
    const sums = new Float64Array(V * F);
    const counts = new Float64Array(V);
    const err = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const [k, d] = nearest(x, i, centroids, V, F);
      err[i] = d;
      counts[k] = counts[k]! + 1;
      for (let j = 0; j < F; j++) sums[k * F + j] = sums[k * F + j]! + x[i * F + j]!;
    }
    // An empty code takes the worst-fitted cell, so no code is wasted.
    const worst = Array.from(err.keys()).sort((a, b) => err[b]! - err[a]!);
    let next = 0;
    for (let k = 0; k < V; k++) {
      if (counts[k]! > 0) {
        for (let j = 0; j < F; j++) centroids[k * F + j] = sums[k * F + j]! / counts[k]!;
      } else {
        const i = worst[next++]!;
        centroids.set(x.subarray(i * F, (i + 1) * F), k * F);
      }
    }
  }
  return centroids;
}

function nearest(
  x: Float64Array,
  i: number,
  centroids: Float64Array,
  V: number,
  F: number,
): [number, number, number] {
  let k1 = 0;
  let d1 = Number.POSITIVE_INFINITY;
  let d2 = Number.POSITIVE_INFINITY;
  for (let k = 0; k < V; k++) {
    const d = dist2(x, i, centroids, k, F);
    if (d < d1) {
      d2 = d1;
      d1 = d;
      k1 = k;
    } else if (d < d2) d2 = d;
  }
  return [k1, d1, d2];
}

const logit = (p: number): number => Math.log(p / (1 - p));

/** A copy of `t`'s data with `edit` applied, as a new tensor of the same shape. */
async function edited(t: Tensor, edit: (d: Float32Array) => void): Promise<Tensor> {
  const d = Float32Array.from((await t.read()) as Float32Array);
  edit(d);
  return tensor(d, t.shape, { backend: t.backend });
}

/** Rows `< F` of a conv `[out, in, k, k]`: zeroed, then `set(row, d, inner)` fills them; biases too. */
async function setRows(
  params: Map<string, Tensor>,
  source: DvaeParams,
  name: string,
  F: number,
  set: (row: number, w: Float32Array, inner: number) => void = () => {},
  bias: (row: number) => number = () => 0,
): Promise<void> {
  const w = source.get(`${name}.w`)!;
  const inner = w.size / w.shape[0]!;
  params.set(
    `${name}.w`,
    await edited(w, (d) => {
      for (let r = 0; r < F; r++) {
        d.fill(0, r * inner, (r + 1) * inner);
        set(r, d, inner);
      }
    }),
  );
  params.set(
    `${name}.b`,
    await edited(source.get(`${name}.b`)!, (d) => {
      for (let r = 0; r < F; r++) d[r] = bias(r);
    }),
  );
}

/** Identity id_paths and silent residual writes on the first F channels of every block. */
async function passThrough(
  out: Map<string, Tensor>,
  source: DvaeParams,
  groups: number,
  blocks: number,
  F: number,
): Promise<void> {
  for (let g = 1; g <= groups; g++) {
    for (let b = 1; b <= blocks; b++) {
      const p = `blocks.group_${g}.block_${b}`;
      if (source.has(`${p}.id_path.w`))
        await setRows(out, source, `${p}.id_path`, F, (r, d, inner) => (d[r * inner + r] = 1));
      await setRows(out, source, `${p}.res_path.conv_4`, F);
    }
  }
}

/**
 * Initializes a dVAE from k-means of `images`' cells (f32 `[N, C, H, W]` in [0, 1], checked: 8-bit
 * pixels or NaN are an error; at least `vocab_size` cells in all): the codebook is k-means of each
 * cell's per-channel max and min, the encoder's logits layer scores codes by distance to the cell, and the decoder maps each code to
 * its cells' mean colour, flat over the cell; only the first `2C` channels of each layer are set,
 * the rest keep `params`' values. Training then starts from a dVAE that already reconstructs images
 * as flat quantized cells. Needs `n_hid >= 2C` (encoder and decoder) and decoder `n_init >= 2C`.
 * `params` are not modified; the returned maps hold new tensors (owned by the caller) where they
 * differ and share the rest. Unknown option keys are refused.
 *
 * @example
 * ```ts
 * const fresh = initDvaeParams(config, { backend, seed: 0 });
 * const { params, psnr } = await kmeansInitDvae(fresh, config, images); // [64, 3, 64, 64]
 * console.log(`flat k-means reconstruction: ${psnr.toFixed(1)} dB`);
 * const trainer = new DvaeTrainer(params, config);
 * ```
 */
export async function kmeansInitDvae(
  params: DvaeParamsPair,
  config: DvaeConfig,
  images: Tensor,
  options: KmeansInitDvaeOptions = {},
): Promise<KmeansInitDvaeResult> {
  checkOptionKeys('kmeansInitDvae', options, ['iterations', 'margin', 'seed']); // `{ iteration: 3 }` would run 10
  const { iterations = 10, margin = 4, seed = 0 } = options;
  if (!Number.isInteger(iterations) || iterations < 0)
    throw new RangeError(`kmeansInitDvae: iterations must be an integer >= 0, got ${iterations}`);
  if (!(margin > 0) || !Number.isFinite(margin))
    throw new RangeError(`kmeansInitDvae: margin must be a finite number > 0, got ${margin}`);
  const caller = 'kmeansInitDvae';
  checkParamsPair(caller, 'params', params);
  checkConfigArg(caller, config);
  const { encoder: enc, decoder: dec } = config;
  checkParamsAgainst(caller, 'params.encoder', params.encoder, encoderShapes(enc), 'encoder');
  checkParamsAgainst(caller, 'params.decoder', params.decoder, decoderShapes(dec), 'decoder');
  checkImages(caller, 'images', images, enc);
  checkDvaePair(config, 'kmeansInitDvae');
  checkLossEps(config, 'kmeansInitDvae'); // the decoder's init is the logit of each code's colour
  const C = enc.input_channels;
  const F = 2 * C;
  const narrow = [
    ['encoder.n_hid', enc.n_hid],
    ['decoder.n_init', dec.n_init],
    ['decoder.n_hid', dec.n_hid],
  ].find(([, v]) => (v as number) < F);
  if (narrow)
    throw new RangeError(
      `kmeansInitDvae: ${narrow[0]} is ${narrow[1]}, it must be at least 2 * input_channels = ${F}`,
    );
  const V = enc.vocab_size;
  const f = 2 ** (enc.group_count - 1);
  const eps = config.logit_laplace_eps;
  const px = (await images.read()) as Float32Array; // [N, C, H, W]
  // 0..255 pixels would give NaN weights without an error; the pixels are on the host already.
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of px) {
    if (Number.isNaN(v)) {
      lo = hi = Number.NaN;
      break;
    }
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const rangeError = px.length > 0 ? pixelRangeError('kmeansInitDvae', lo, hi) : undefined;
  if (rangeError) throw rangeError;
  const cells = cellsOf(px, images.shape, f, eps);
  if (cells.n < V)
    throw new RangeError(
      `kmeansInitDvae: images ${images.describe()} have ${cells.n} cells of ${f}x${f} pixels, fewer than the ${V} codes; pass more images`,
    );

  const centroids = kmeans(cells, F, V, iterations, seed); // [V, F]
  // Each code's colour (mean of its cells' means), the margins, and the Laplace scale in logit space.
  const colour = new Float64Array(V * C);
  const count = new Float64Array(V);
  const gaps: number[] = [];
  const assign = new Int32Array(cells.n);
  for (let i = 0; i < cells.n; i++) {
    const [k, d1, d2] = nearest(cells.features, i, centroids, V, F);
    assign[i] = k;
    count[k] = count[k]! + 1;
    gaps.push(d2 - d1);
    for (let c = 0; c < C; c++) colour[k * C + c] = colour[k * C + c]! + cells.means[i * C + c]!;
  }
  for (let k = 0; k < V; k++) {
    for (let c = 0; c < C; c++) {
      // An unused code decodes to the middle of its centroid's max and min.
      const mid = (centroids[k * F + c]! + 1 - centroids[k * F + C + c]! - 2 * eps) / (2 * (1 - 2 * eps));
      colour[k * C + c] = count[k]! > 0 ? colour[k * C + c]! / count[k]! : Math.min(1, Math.max(0, mid));
    }
  }
  const mu = Float64Array.from(colour, (m) => logit((1 - 2 * eps) * m + eps)); // [V, C]
  const [N, , H, W] = images.shape as [number, number, number, number];
  let psnrSum = 0;
  const absDev = new Float64Array(C);
  for (let b = 0; b < N; b++) {
    let se = 0;
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const cell = (b * (H / f) + Math.floor(y / f)) * (W / f) + Math.floor(x / f);
          const k = assign[cell]!;
          const v = px[((b * C + c) * H + y) * W + x]!;
          se += (v - colour[k * C + c]!) ** 2;
          absDev[c] = absDev[c]! + Math.abs(logit((1 - 2 * eps) * v + eps) - mu[k * C + c]!);
        }
      }
    }
    psnrSum += 10 * Math.log10(1 / Math.max(se / (C * H * W), 1e-10));
  }
  const lnScale = Array.from(absDev, (s) => Math.log(Math.max(s / (N * H * W), 1e-3)));
  gaps.sort((a, b) => a - b);
  const s = margin / Math.max(gaps[Math.floor(gaps.length / 2)]!, 1e-9);

  const encoder = new Map(params.encoder);
  // Input conv: channel c copies the mapped pixel (centre tap), channel C + c gives 1 - it.
  await setRows(
    encoder,
    params.encoder,
    'blocks.input',
    F,
    (r, d, inner) => {
      d[r * inner + (r % C) * 49 + 3 * 7 + 3] = r < C ? 1 : -1;
    },
    (r) => (r < C ? 0 : 1),
  );
  await passThrough(encoder, params.encoder, enc.group_count, enc.n_blk_per_group, F);
  // Logits: s (|feature - mean|^2 - |feature - centroid|^2), linear in the feature, which orders
  // the codes by distance and keeps the logits small (the mean is over the cells).
  const fMean = new Float64Array(F);
  for (let i = 0; i < cells.n; i++)
    for (let j = 0; j < F; j++) fMean[j] = fMean[j]! + cells.features[i * F + j]! / cells.n;
  const nIn = encoderGroupChannels(enc, enc.group_count);
  encoder.set(
    'blocks.output.conv.w',
    await edited(params.encoder.get('blocks.output.conv.w')!, (d) => {
      d.fill(0);
      for (let k = 0; k < V; k++)
        for (let j = 0; j < F; j++) d[k * nIn + j] = 2 * s * (centroids[k * F + j]! - fMean[j]!);
    }),
  );
  encoder.set(
    'blocks.output.conv.b',
    await edited(params.encoder.get('blocks.output.conv.b')!, (d) => {
      for (let k = 0; k < V; k++) {
        let b = 0;
        for (let j = 0; j < F; j++) b += fMean[j]! ** 2 - centroids[k * F + j]! ** 2;
        d[k] = s * b;
      }
    }),
  );

  const decoder = new Map(params.decoder);
  // Input conv: code k writes relu(mu) and relu(-mu) of its colour's logit per channel.
  await setRows(decoder, params.decoder, 'blocks.input', F, (r, d, inner) => {
    const c = Math.floor(r / 2);
    for (let k = 0; k < V; k++)
      d[r * inner + k] = Math.max(r % 2 === 0 ? mu[k * C + c]! : -mu[k * C + c]!, 0);
  });
  await passThrough(decoder, params.decoder, dec.group_count, dec.n_blk_per_group, F);
  const nLast = decoderGroupChannels(dec, dec.group_count);
  decoder.set(
    'blocks.output.conv.w',
    await edited(params.decoder.get('blocks.output.conv.w')!, (d) => {
      d.fill(0);
      for (let c = 0; c < C; c++) {
        d[c * nLast + 2 * c] = 1;
        d[c * nLast + 2 * c + 1] = -1;
      }
    }),
  );
  decoder.set(
    'blocks.output.conv.b',
    await edited(params.decoder.get('blocks.output.conv.b')!, (d) => {
      for (let c = 0; c < C; c++) {
        d[c] = 0;
        d[C + c] = lnScale[c]!;
      }
    }),
  );
  return {
    params: { encoder, decoder },
    codesUsed: count.filter((n) => n > 0).length,
    psnr: psnrSum / N,
  };
}
