// The ModifiedResNet tower (open_clip RN50 family) against a direct float64 transcription of
// openai/CLIP's module structure written here with plain loops, on a tiny random configuration, and
// the open_clip loader routing a `layers: [...]` config to it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, type Tensor, createBackend, saveSafetensors, tensor } from '@vl/tensor';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type ModifiedResNetConfig,
  loadClip,
  modifiedResNetForward,
  modifiedResNetShapes,
} from '../src/index.js';

const cfg: ModifiedResNetConfig = {
  layers: [1, 2, 1, 1],
  width: 8,
  heads: 4,
  image_size: 64,
  output_dim: 16,
};
let backend: Backend;
beforeAll(async () => {
  backend = await createBackend('cpu');
});
afterAll(() => backend.dispose());

let seed = 99;
const rand = () => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
};

function randomParams(): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const [name, shape] of modifiedResNetShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length === 4 ? shape[1]! * shape[2]! * shape[3]! : (shape[1] ?? 1);
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      if (name.endsWith('running_var')) v[i] = 0.5 + rand();
      else if (name.endsWith('running_mean') || name.endsWith('.bias')) v[i] = (rand() - 0.5) * 0.2;
      else if (
        name.endsWith('bn1.weight') ||
        name.endsWith('bn2.weight') ||
        name.endsWith('bn3.weight') ||
        (name.endsWith('1.weight') && name.includes('downsample'))
      )
        v[i] = 0.8 + 0.4 * rand();
      else v[i] = ((rand() - 0.5) * 2 * Math.sqrt(3)) / Math.sqrt(fanIn);
    }
    out.set(name, v);
  }
  return out;
}

// --- float64 reference: x is [C][H][W] flattened, one image at a time ---
type Img = { c: number; h: number; w: number; d: Float64Array };

function conv(x: Img, w: Float64Array, o: number, k: number, stride: number, pad: number): Img {
  const h = Math.floor((x.h + 2 * pad - k) / stride) + 1;
  const wd = Math.floor((x.w + 2 * pad - k) / stride) + 1;
  const d = new Float64Array(o * h * wd);
  for (let oc = 0; oc < o; oc++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < wd; xx++) {
        let s = 0;
        for (let ic = 0; ic < x.c; ic++)
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const iy = y * stride + ky - pad;
              const ix = xx * stride + kx - pad;
              if (iy < 0 || ix < 0 || iy >= x.h || ix >= x.w) continue;
              s += x.d[(ic * x.h + iy) * x.w + ix]! * w[((oc * x.c + ic) * k + ky) * k + kx]!;
            }
        d[(oc * h + y) * wd + xx] = s;
      }
  return { c: o, h, w: wd, d };
}

function bn(x: Img, p: Map<string, Float64Array>, name: string, relu: boolean): Img {
  const g = p.get(`${name}.weight`)!;
  const b = p.get(`${name}.bias`)!;
  const m = p.get(`${name}.running_mean`)!;
  const v = p.get(`${name}.running_var`)!;
  const d = x.d.map((val, i) => {
    const c = Math.floor(i / (x.h * x.w));
    const y = ((val - m[c]!) / Math.sqrt(v[c]! + 1e-5)) * g[c]! + b[c]!;
    return relu ? Math.max(0, y) : y;
  });
  return { ...x, d };
}

function avg(x: Img, k: number): Img {
  if (k === 1) return x;
  const h = Math.floor(x.h / k);
  const w = Math.floor(x.w / k);
  const d = new Float64Array(x.c * h * w);
  for (let c = 0; c < x.c; c++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        let s = 0;
        for (let i = 0; i < k; i++)
          for (let j = 0; j < k; j++) s += x.d[(c * x.h + y * k + i) * x.w + xx * k + j]!;
        d[(c * h + y) * w + xx] = s / (k * k);
      }
  return { c: x.c, h, w, d };
}

function linear(x: number[], w: Float64Array, b: Float64Array, out: number): number[] {
  return Array.from({ length: out }, (_, o) => x.reduce((s, v, i) => s + v * w[o * x.length + i]!, b[o]!));
}

function reference(p: Map<string, Float64Array>, img: Img): number[] {
  const W = cfg.width;
  let x = bn(conv(img, p.get('visual.conv1.weight')!, W / 2, 3, 2, 1), p, 'visual.bn1', true);
  x = bn(conv(x, p.get('visual.conv2.weight')!, W / 2, 3, 1, 1), p, 'visual.bn2', true);
  x = bn(conv(x, p.get('visual.conv3.weight')!, W, 3, 1, 1), p, 'visual.bn3', true);
  x = avg(x, 2);
  cfg.layers.forEach((blocks, i) => {
    const planes = W * 2 ** i;
    for (let b = 0; b < blocks; b++) {
      const pre = `visual.layer${i + 1}.${b}`;
      const stride = b === 0 && i > 0 ? 2 : 1;
      let out = bn(conv(x, p.get(`${pre}.conv1.weight`)!, planes, 1, 1, 0), p, `${pre}.bn1`, true);
      out = bn(conv(out, p.get(`${pre}.conv2.weight`)!, planes, 3, 1, 1), p, `${pre}.bn2`, true);
      out = bn(
        conv(avg(out, stride), p.get(`${pre}.conv3.weight`)!, planes * 4, 1, 1, 0),
        p,
        `${pre}.bn3`,
        false,
      );
      const id = p.has(`${pre}.downsample.0.weight`)
        ? bn(
            conv(avg(x, stride), p.get(`${pre}.downsample.0.weight`)!, planes * 4, 1, 1, 0),
            p,
            `${pre}.downsample.1`,
            false,
          )
        : x;
      x = { ...out, d: out.d.map((v, j) => Math.max(0, v + id.d[j]!)) };
    }
  });
  // Attention pool: tokens [HW + 1][C], query = first token.
  const C = x.c;
  const HW = x.h * x.w;
  const tokens = Array.from({ length: HW }, (_, t) => Array.from({ length: C }, (_, c) => x.d[c * HW + t]!));
  const meanTok = Array.from({ length: C }, (_, c) => tokens.reduce((s, tk) => s + tk[c]!, 0) / HW);
  const pos = p.get('visual.attnpool.positional_embedding')!;
  const seq = [meanTok, ...tokens].map((tk, t) => tk.map((v, c) => v + pos[t * C + c]!));
  const P = (n: string) =>
    [p.get(`visual.attnpool.${n}.weight`)!, p.get(`visual.attnpool.${n}.bias`)!] as const;
  const q = linear(seq[0]!, ...P('q_proj'), C);
  const ks = seq.map((s) => linear(s, ...P('k_proj'), C));
  const vs = seq.map((s) => linear(s, ...P('v_proj'), C));
  const D = C / cfg.heads;
  const o = new Array<number>(C).fill(0);
  for (let h = 0; h < cfg.heads; h++) {
    const scores = ks.map((k) => {
      let s = 0;
      for (let j = 0; j < D; j++) s += q[h * D + j]! * k[h * D + j]!;
      return s / Math.sqrt(D);
    });
    const m = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - m));
    const z = e.reduce((a, b) => a + b, 0);
    for (let j = 0; j < D; j++) o[h * D + j] = vs.reduce((s, v, t) => s + (e[t]! / z) * v[h * D + j]!, 0);
  }
  return linear(o, ...P('c_proj'), cfg.output_dim);
}

test('ModifiedResNet matches a float64 transcription of openai/CLIP RN blocks', async () => {
  const p64 = randomParams();
  const params = new Map<string, Tensor>();
  for (const [name, shape] of modifiedResNetShapes(cfg))
    params.set(name, tensor(Float32Array.from(p64.get(name)!), shape, { backend }));
  const S = cfg.image_size;
  const imgs = [0, 1].map(() => ({
    c: 3,
    h: S,
    w: S,
    d: Float64Array.from({ length: 3 * S * S }, () => rand() * 2 - 1),
  }));
  const px = tensor(Float32Array.from(imgs.flatMap((i) => [...i.d])), [2, 3, S, S], { backend });
  const out = modifiedResNetForward(params, px, cfg);
  expect(out.shape).toEqual([2, cfg.output_dim]);
  const got = await out.read();
  const want = imgs.flatMap((img) => reference(p64, img));
  const scaleMax = Math.max(...want.map(Math.abs));
  const err = Math.max(...want.map((v, i) => Math.abs(v - got[i]!)));
  console.log(`ModifiedResNet max abs error ${err.toExponential(2)} (max |value| ${scaleMax.toFixed(3)})`);
  expect(err).toBeLessThan(1e-4 * Math.max(1, scaleMax));

  // The loader routes an open_clip config with a list of layers to this tower.
  const folder = mkdtempSync(join(tmpdir(), 'vl-rn-'));
  const text = { context_length: 8, vocab_size: 64, width: 16, heads: 2, layers: 1 };
  const all: Record<string, Tensor> = Object.fromEntries(params);
  const t = (shape: number[]) =>
    tensor(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rand() - 0.5) * 0.1),
      shape,
      { backend },
    );
  Object.assign(all, {
    'token_embedding.weight': t([64, 16]),
    positional_embedding: t([8, 16]),
    'ln_final.weight': t([16]),
    'ln_final.bias': t([16]),
    text_projection: t([16, 16]),
    logit_scale: t([]),
    'transformer.resblocks.0.attn.in_proj_weight': t([48, 16]),
    'transformer.resblocks.0.attn.in_proj_bias': t([48]),
    'transformer.resblocks.0.attn.out_proj.weight': t([16, 16]),
    'transformer.resblocks.0.attn.out_proj.bias': t([16]),
    'transformer.resblocks.0.ln_1.weight': t([16]),
    'transformer.resblocks.0.ln_1.bias': t([16]),
    'transformer.resblocks.0.ln_2.weight': t([16]),
    'transformer.resblocks.0.ln_2.bias': t([16]),
    'transformer.resblocks.0.mlp.c_fc.weight': t([64, 16]),
    'transformer.resblocks.0.mlp.c_fc.bias': t([64]),
    'transformer.resblocks.0.mlp.c_proj.weight': t([16, 64]),
    'transformer.resblocks.0.mlp.c_proj.bias': t([16]),
  });
  writeFileSync(join(folder, 'open_clip_model.safetensors'), await saveSafetensors(all));
  writeFileSync(
    join(folder, 'open_clip_config.json'),
    JSON.stringify({
      model_cfg: {
        embed_dim: 16,
        // As open_clip's RN50.json writes it: patch_size null (a ResNet has no patches).
        vision_cfg: { image_size: S, layers: cfg.layers, width: cfg.width, patch_size: null },
        text_cfg: text,
      },
    }),
  );
  const model = await loadClip(folder, { backend });
  const [e] = await model.embedImages(px);
  const norm = Math.hypot(...got.slice(0, 16));
  expect(Math.max(...e!.map((v, i) => Math.abs(v - got[i]! / norm)))).toBeLessThan(1e-5);
  model.dispose();
  for (const x of new Set(Object.values(all))) x.dispose();
  px.dispose();
  out.dispose();
});
