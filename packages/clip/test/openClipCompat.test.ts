// open_clip checkpoints as the hub and open_clip's model_configs write them: tiny synthetic state
// dicts with the real tensor names and random values, loaded through loadClip's open_clip path.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, type Tensor, createBackend, saveSafetensors, tensor } from '@vl/tensor';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ClipModel,
  type OpenClipModelConfig,
  clipVisionForward,
  loadClip,
  openClipConfig,
} from '../src/index.js';

let backend: Backend;
beforeAll(async () => {
  backend = await createBackend('cpu');
});
afterAll(() => backend.dispose());

/** Values seeded by the tensor's name, so they do not depend on which other tensors exist. */
function seeded(name: string): () => number {
  let seed = [...name].reduce((h, ch) => (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0, 7);
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

/** A small ViT open_clip model_cfg (vision 2 layers of width 32, text 2 layers of width 32). */
function tinyCfg(): OpenClipModelConfig {
  return {
    embed_dim: 16,
    quick_gelu: true,
    vision_cfg: { image_size: 16, layers: 2, width: 32, patch_size: 8, head_width: 16, mlp_ratio: 2 },
    text_cfg: { context_length: 8, vocab_size: 49408, width: 32, heads: 2, layers: 2, mlp_ratio: 2 },
  };
}

interface Extras {
  /** LayerScale gammas (every channel) in every block of both towers. */
  gamma?: number;
  visionBlocks?: number;
  textBlocks?: number;
  extra?: Record<string, number[]>;
  omit?: string[];
  /** Shapes to replace, by name. */
  reshape?: Record<string, number[]>;
}

/** open_clip tensors for `cfg` (ViT), each seeded by its name. */
function openClipTensors(cfg: OpenClipModelConfig, x: Extras = {}): Map<string, Tensor> {
  const v = cfg.vision_cfg;
  const t = cfg.text_cfg;
  const shapes = new Map<string, number[]>();
  const block = (p: string, C: number, F: number) => {
    shapes.set(`${p}.attn.in_proj_weight`, [3 * C, C]);
    shapes.set(`${p}.attn.in_proj_bias`, [3 * C]);
    shapes.set(`${p}.attn.out_proj.weight`, [C, C]);
    shapes.set(`${p}.attn.out_proj.bias`, [C]);
    for (const ln of ['ln_1', 'ln_2']) for (const s of ['weight', 'bias']) shapes.set(`${p}.${ln}.${s}`, [C]);
    shapes.set(`${p}.mlp.c_fc.weight`, [F, C]);
    shapes.set(`${p}.mlp.c_fc.bias`, [F]);
    shapes.set(`${p}.mlp.c_proj.weight`, [C, F]);
    shapes.set(`${p}.mlp.c_proj.bias`, [C]);
    if (x.gamma !== undefined) for (const g of ['ls_1', 'ls_2']) shapes.set(`${p}.${g}.gamma`, [C]);
  };
  const W = v.width;
  const g = v.image_size / v.patch_size!;
  shapes.set('visual.conv1.weight', [W, 3, v.patch_size!, v.patch_size!]);
  shapes.set('visual.class_embedding', [W]);
  shapes.set('visual.positional_embedding', [g * g + 1, W]);
  for (const n of ['ln_pre', 'ln_post'])
    for (const s of ['weight', 'bias']) shapes.set(`visual.${n}.${s}`, [W]);
  shapes.set('visual.proj', [W, cfg.embed_dim]);
  for (let i = 0; i < (x.visionBlocks ?? (v.layers as number)); i++)
    block(`visual.transformer.resblocks.${i}`, W, Math.trunc(W * (v.mlp_ratio ?? 4)));
  const T = t.width!;
  shapes.set('token_embedding.weight', [t.vocab_size!, T]);
  shapes.set('positional_embedding', [t.context_length!, T]);
  for (const s of ['weight', 'bias']) shapes.set(`ln_final.${s}`, [T]);
  shapes.set('text_projection', [T, cfg.embed_dim]);
  shapes.set('logit_scale', []);
  for (let i = 0; i < (x.textBlocks ?? t.layers!); i++)
    block(`transformer.resblocks.${i}`, T, Math.trunc(T * (t.mlp_ratio ?? 4)));
  for (const k of x.omit ?? []) shapes.delete(k);
  for (const [k, s] of Object.entries({ ...x.extra, ...x.reshape })) shapes.set(k, s);
  const out = new Map<string, Tensor>();
  for (const [name, shape] of shapes) {
    const rand = seeded(name);
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
      const r = rand();
      if (name.endsWith('.gamma')) return x.gamma!;
      if (name === 'logit_scale') return Math.log(100);
      if (/ln_\w+\.weight|ln_final\.weight/.test(name)) return 0.8 + 0.4 * r;
      return (r - 0.5) * 0.4;
    });
    out.set(name, tensor(data, shape, { backend }));
  }
  return out;
}

function load(cfg: OpenClipModelConfig, weights: Map<string, Tensor>): Promise<ClipModel> {
  return loadClip({ config: cfg, weights, format: 'open_clip' }, { backend });
}

/** An open_clip folder (config, preprocess_cfg, weights) on disk. */
async function openClipFolder(
  cfg: OpenClipModelConfig,
  preprocess?: unknown,
  x: Extras = {},
  files: Record<string, unknown> = {},
): Promise<string> {
  const folder = mkdtempSync(join(tmpdir(), 'vl-oc-compat-'));
  const tensors = openClipTensors(cfg, x);
  writeFileSync(join(folder, 'open_clip_model.safetensors'), await saveSafetensors(tensors));
  for (const t of tensors.values()) t.dispose();
  writeFileSync(
    join(folder, 'open_clip_config.json'),
    JSON.stringify({ model_cfg: cfg, ...(preprocess ? { preprocess_cfg: preprocess } : {}) }),
  );
  for (const [name, json] of Object.entries(files)) writeFileSync(join(folder, name), JSON.stringify(json));
  return folder;
}

const texts = ['a photo of a cat', 'a dog'];
const image = (() => {
  // 32 wide, 16 high: the left quarter white, the rest black.
  const data = new Uint8Array(32 * 16 * 3);
  for (let y = 0; y < 16; y++)
    for (let x = 0; x < 8; x++) data.fill(255, (y * 32 + x) * 3, (y * 32 + x) * 3 + 3);
  return { data, width: 32, height: 16 };
})();

async function embeddings(model: ClipModel): Promise<number[]> {
  const rows = [...(await model.embedTexts(texts)), ...(await model.embedImages([image]))];
  model.dispose();
  return rows.flatMap((r) => [...r]);
}

function maxDiff(a: number[], b: number[]): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

/** The load fails with `message`, and every tensor made for it (before it, too) is freed. */
async function expectRejectsCleanly(load: () => Promise<unknown>, message: string | RegExp): Promise<void> {
  const before = backend.stats().liveTensors;
  await expect(load()).rejects.toThrow(message);
  expect(backend.stats().liveTensors).toBe(before);
}

describe('open_clip configs as open_clip writes them', () => {
  test('RN50-quickgelu.json verbatim ("patch_size": null) reads as a ModifiedResNet config', () => {
    // open_clip/src/open_clip/model_configs/RN50-quickgelu.json
    const rn50 = JSON.parse(`{
      "embed_dim": 1024,
      "quick_gelu": true,
      "vision_cfg": { "image_size": 224, "layers": [3, 4, 6, 3], "width": 64, "patch_size": null },
      "text_cfg": { "context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12 }
    }`);
    const config = openClipConfig(rn50);
    expect(config.vision_resnet).toEqual({
      layers: [3, 4, 6, 3],
      width: 64,
      heads: 32,
      image_size: 224,
      output_dim: 1024,
    });
    expect(config.text_config.hidden_act).toBe('quick_gelu');
    expect(config.text_config.num_hidden_layers).toBe(12);
  });

  test('settings that change the computation and are not implemented are refused by name', async () => {
    const tanh = tinyCfg();
    tanh.text_cfg.act_kwargs = { approximate: 'tanh' };
    await expectRejectsCleanly(
      () => load(tanh, openClipTensors(tanh)),
      'model_cfg.text_cfg.act_kwargs {"approximate":"tanh"} means activation arguments',
    );
    const unknown = tinyCfg();
    unknown.vision_cfg.rope = true;
    await expectRejectsCleanly(
      () => load(unknown, openClipTensors(unknown)),
      'model_cfg.vision_cfg.rope (true) is not a setting this loader knows',
    );
    const timm = tinyCfg();
    timm.vision_cfg = { timm_model_name: 'convnext_base', image_size: 16 } as never;
    await expectRejectsCleanly(
      () => load(timm, new Map()),
      'model_cfg.vision_cfg.timm_model_name "convnext_base" means a timm image tower',
    );
    const hfText = tinyCfg();
    hfText.text_cfg = { hf_model_name: 'xlm-roberta-base' };
    await expectRejectsCleanly(() => load(hfText, new Map()), 'means a transformers text tower');
  });

  test('mlp width is truncated as open_clip does (int(width * mlp_ratio))', () => {
    const cfg = tinyCfg();
    cfg.vision_cfg.mlp_ratio = 2.995; // 32 * 2.995 = 95.84
    expect(openClipConfig(cfg).vision_config.intermediate_size).toBe(95);
  });
});

describe('tensors are checked under their own names before anything is made', () => {
  test('a failed load frees every tensor, and names the tensor as it is in the file', async () => {
    const cfg = tinyCfg();
    await expectRejectsCleanly(
      () => load(cfg, openClipTensors(cfg, { omit: ['logit_scale'] })),
      'missing tensor logit_scale',
    );
    await expectRejectsCleanly(
      () => load(cfg, openClipTensors(cfg, { omit: ['visual.proj'] })),
      'missing tensor visual.proj (expected shape [32, 16])',
    );
    // The in_proj expectation comes from the config's width, not from the tensor.
    await expectRejectsCleanly(
      () =>
        load(
          cfg,
          openClipTensors(cfg, {
            reshape: { 'visual.transformer.resblocks.1.attn.in_proj_weight': [48, 16] },
          }),
        ),
      'tensor visual.transformer.resblocks.1.attn.in_proj_weight has shape [48, 16] but the config implies [96, 32]',
    );
    await expectRejectsCleanly(
      () => load(cfg, openClipTensors(cfg, { reshape: { 'token_embedding.weight': [49408, 48] } })),
      'tensor token_embedding.weight has shape [49408, 48] but the config implies [49408, 32]',
    );
  });

  test('blocks beyond the config layer count, and tensors nothing reads, are an error naming them', async () => {
    const cfg = tinyCfg();
    await expectRejectsCleanly(
      () => load(cfg, openClipTensors(cfg, { visionBlocks: 3 })),
      /tensors its config does not use.*visual\.transformer\.resblocks\.2\.attn\.in_proj_weight.*beyond the layer count/,
    );
    await expectRejectsCleanly(
      () => load(cfg, openClipTensors(cfg, { extra: { logit_bias: [] } })),
      'tensors its config does not use, so it describes another model: logit_bias',
    );
    // Harmless buffers load.
    const ok = await load(cfg, openClipTensors(cfg, { extra: { attn_mask: [8, 8] } }));
    ok.dispose();
  });

  test('a logit_scale of shape [1] (nonscalar_logit_scale) loads as a scalar', async () => {
    const cfg = tinyCfg();
    const model = await load(cfg, openClipTensors(cfg, { reshape: { logit_scale: [1] } }));
    expect(model.params.get('logit_scale')!.shape).toEqual([]);
    model.dispose();
  });
});

describe('open_clip computations the loader implements', () => {
  test('LayerScale scales each residual branch: gamma 1 is no LayerScale, gamma 0 skips every block', async () => {
    const cfg = tinyCfg();
    const ls = {
      ...cfg,
      vision_cfg: { ...cfg.vision_cfg, ls_init_value: 1e-5 },
      text_cfg: { ...cfg.text_cfg, ls_init_value: 1e-5 },
    };
    const plain = await embeddings(await load(cfg, openClipTensors(cfg)));
    const one = await embeddings(await load(ls, openClipTensors(ls, { gamma: 1 })));
    expect(maxDiff(one, plain)).toBeLessThan(1e-5);
    const zero = await load(ls, openClipTensors(ls, { gamma: 0 }));
    const pixels = zero.pixelValues([image]);
    const { hiddenStates } = clipVisionForward(zero.params, pixels, zero.config.vision_config);
    const [first, ...rest] = await Promise.all(hiddenStates.map((h) => h.read()));
    for (const h of rest) expect(maxDiff([...h], [...first!])).toBe(0); // every block is the identity
    for (const t of [pixels, ...hiddenStates]) t.dispose();
    expect(maxDiff(await embeddings(zero), plain)).toBeGreaterThan(1e-3);
  });

  test('pool settings reach the vision config (avg, final_ln_after_pool, the older global_average_pool)', () => {
    const avg = tinyCfg();
    Object.assign(avg.vision_cfg, { pool_type: 'avg', final_ln_after_pool: true });
    expect(openClipConfig(avg).vision_config).toMatchObject({ pool_type: 'avg', final_ln_after_pool: true });
    const gap = tinyCfg();
    gap.vision_cfg.global_average_pool = true;
    expect(openClipConfig(gap).vision_config).toMatchObject({
      pool_type: 'avg_all',
      final_ln_after_pool: true,
    });
    const eos = tinyCfg();
    Object.assign(eos.text_cfg, { pool_type: 'eos', eos_id: 2 });
    expect(openClipConfig(eos).text_config).toMatchObject({ pool_type: 'eos', eos_token_id: 2 });
    const last = tinyCfg();
    last.text_cfg.pool_type = 'last' as never;
    expect(() => openClipConfig(last)).toThrow(
      'model_cfg.text_cfg.pool_type the string "last" is not implemented',
    );
  });

  test("OpenAI's weights (input_resolution, context_length, vocab_size) run QuickGELU whatever the config says", async () => {
    const gelu = { ...tinyCfg(), quick_gelu: undefined };
    const openAi = { extra: { input_resolution: [], context_length: [], vocab_size: [] } };
    const model = await load(gelu, openClipTensors(gelu, openAi));
    expect(model.config.text_config.hidden_act).toBe('quick_gelu');
    expect(model.config.vision_config.hidden_act).toBe('quick_gelu');
    const a = await embeddings(model);
    const b = await embeddings(await load(tinyCfg(), openClipTensors(tinyCfg())));
    expect(maxDiff(a, b)).toBeLessThan(1e-6);
    const plain = await load(gelu, openClipTensors(gelu));
    expect(plain.config.text_config.hidden_act).toBe('gelu');
    plain.dispose();
    const contradiction = { ...tinyCfg(), quick_gelu: false };
    await expectRejectsCleanly(
      () => load(contradiction, openClipTensors(contradiction, openAi)),
      "model_cfg.quick_gelu is false, but the weights are OpenAI's",
    );
  });
});

describe('preprocess_cfg', () => {
  test("resize_mode 'squash' resizes to S x S without a crop, with the interpolation it names", async () => {
    const folder = await openClipFolder(tinyCfg(), { interpolation: 'bilinear', resize_mode: 'squash' });
    const model = await loadClip(folder, { backend });
    expect(model.preprocessOptions).toMatchObject({
      size: { height: 16, width: 16 },
      crop: false,
      resample: 'bilinear',
      cropRule: 'torchvision',
    });
    const pixels = model.pixelValues([image]); // [1, 3, 16, 16]
    const px = await pixels.read();
    pixels.dispose();
    // The white left quarter survives the squash (a shortest-edge crop would cut it off).
    expect(px[0]).toBeCloseTo((1 - 0.48145466) / 0.26862954, 4);
    model.dispose();
  });

  test("resize_mode 'longest' fits the longer side and pads with black", async () => {
    const model = await loadClip(await openClipFolder(tinyCfg(), { resize_mode: 'longest' }), { backend });
    expect(model.preprocessOptions).toMatchObject({ size: { longestEdge: 16 }, crop: 16 });
    const pixels = model.pixelValues([image]); // 32x16 -> 16x8, padded 4 rows above and below
    const px = await pixels.read();
    pixels.dispose();
    const black = -0.48145466 / 0.26862954;
    expect(px[0]).toBeCloseTo(black, 4); // row 0: padding
    expect(px[5 * 16]).toBeCloseTo((1 - 0.48145466) / 0.26862954, 4); // row 5, column 0: the white quarter
    model.dispose();
  });

  test('an unknown resize_mode or interpolation is an error naming the field', async () => {
    const before = backend.stats().liveTensors;
    await expect(
      loadClip(await openClipFolder(tinyCfg(), { resize_mode: 'crop' }), { backend }),
    ).rejects.toThrow(
      "preprocess_cfg.resize_mode must be 'shortest', 'squash' or 'longest', got the string \"crop\"",
    );
    await expect(
      loadClip(await openClipFolder(tinyCfg(), { interpolation: 'nearest' }), { backend }),
    ).rejects.toThrow('preprocess_cfg.interpolation must be');
    expect(backend.stats().liveTensors).toBe(before);
  });
});

describe('tokenizers and folders', () => {
  test('a text tower of another tokenizer (hf_tokenizer_name) is refused without that tokenizer', async () => {
    const cfg = tinyCfg();
    Object.assign(cfg.text_cfg, {
      hf_tokenizer_name: 'facebook/xlm-v-base',
      vocab_size: 600,
      pool_type: 'eos',
      eos_id: 2,
    });
    await expectRejectsCleanly(
      () => load(cfg, openClipTensors(cfg)),
      'model_cfg.text_cfg.hf_tokenizer_name is "facebook/xlm-v-base": the text tower reads that tokenizer\'s ids (vocab_size 600), and the checkpoint has only the bundled CLIP BPE (49408 tokens)',
    );
  });

  test('a tokenizer smaller than the text tower vocabulary is refused at embedTexts', async () => {
    const cfg = tinyCfg();
    cfg.text_cfg.vocab_size = 50000;
    const model = await load(cfg, openClipTensors(cfg));
    await expect(model.embedTexts(['a cat'])).rejects.toThrow(
      'the tokenizer has 49408 tokens but text_config.vocab_size is 50000',
    );
    model.dispose();
  });

  test("timm's config.json next to open_clip files does not hijack the load", async () => {
    const timm = { architecture: 'vit_base_patch16_clip_224', num_classes: 512, pretrained_cfg: {} };
    const folder = await openClipFolder(tinyCfg(), undefined, {}, { 'config.json': timm });
    const model = await loadClip(folder, { backend });
    expect(model.config.vision_config.hidden_size).toBe(32);
    model.dispose();
  });
});
