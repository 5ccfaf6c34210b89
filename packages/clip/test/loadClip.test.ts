// The task API on the clip-tiny fixture: loading an HF folder, the same weights rearranged into the
// open_clip layout, and checkpoints that do not match their config.
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Tensor,
  concat,
  loadSafetensors,
  saveSafetensors,
  sum,
  transpose,
  tensor,
  valueAndGrad,
} from '@vl/tensor';
import { describe, expect, test } from 'vitest';
import {
  ClipModel,
  EmbeddingIndex,
  clipCheckpointFiles,
  initClipParams,
  loadClip,
  parseClipConfig,
} from '../src/index.js';
import { clipTinyReference, clipTinyDir as dir } from './clipTinyReference.js';

const { backend, ref } = await clipTinyReference();

async function maxAbs(a: Tensor | Float32Array[], b: Tensor): Promise<number> {
  const x = Array.isArray(a) ? a.flatMap((r) => [...r]) : [...(await a.read())];
  const y = await b.read();
  expect(x.length).toBe(y.length);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
}

const f32 = async (t: Tensor) => (await t.read()) as Float32Array;

function rows(x: Float32Array, width: number): Float32Array[] {
  return Array.from({ length: x.length / width }, (_, i) => x.subarray(i * width, (i + 1) * width));
}

function cosine(a: Float32Array, b: Float32Array): number {
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) [ab, aa, bb] = [ab + a[i]! * b[i]!, aa + a[i]! ** 2, bb + b[i]! ** 2];
  return ab / Math.sqrt(aa * bb);
}

async function expectMatchesReference(model: ClipModel): Promise<void> {
  const imageEmbeds = await model.embedImages(ref.get('pixel_values')!);
  expect(await maxAbs(imageEmbeds, ref.get('image_embeds')!)).toBeLessThan(1e-4);
  const text = model.encodeText(ref.get('input_ids')!, ref.get('attention_mask')!);
  expect(await maxAbs(text, ref.get('text_pooled')!)).toBeLessThan(1e-4);
  text.dispose();
}

/** The clip-tiny weights rearranged into an open_clip folder (fused in_proj, [in, out] projections). */
async function openClipFolder(): Promise<string> {
  const { tensors: hf } = await loadSafetensors(join(dir, 'model.safetensors'), { backend });
  const g = (n: string) => hf.get(n)!;
  const oc: Record<string, Tensor> = {};
  const block = (from: string, to: string) => {
    const p = (n: string) => g(`${from}.self_attn.${n}`);
    oc[`${to}.attn.in_proj_weight`] = concat([p('q_proj.weight'), p('k_proj.weight'), p('v_proj.weight')], 0);
    oc[`${to}.attn.in_proj_bias`] = concat([p('q_proj.bias'), p('k_proj.bias'), p('v_proj.bias')], 0);
    const copy: [string, string][] = [
      ['self_attn.out_proj', 'attn.out_proj'],
      ['layer_norm1', 'ln_1'],
      ['layer_norm2', 'ln_2'],
      ['mlp.fc1', 'mlp.c_fc'],
      ['mlp.fc2', 'mlp.c_proj'],
    ];
    for (const [a, b] of copy)
      for (const s of ['weight', 'bias']) oc[`${to}.${b}.${s}`] = g(`${from}.${a}.${s}`);
  };
  for (let i = 0; i < 2; i++) {
    block(`vision_model.encoder.layers.${i}`, `visual.transformer.resblocks.${i}`);
    block(`text_model.encoder.layers.${i}`, `transformer.resblocks.${i}`);
  }
  Object.assign(oc, {
    'visual.conv1.weight': g('vision_model.embeddings.patch_embedding.weight'),
    'visual.class_embedding': g('vision_model.embeddings.class_embedding'),
    'visual.positional_embedding': g('vision_model.embeddings.position_embedding.weight'),
    'visual.ln_pre.weight': g('vision_model.pre_layrnorm.weight'),
    'visual.ln_pre.bias': g('vision_model.pre_layrnorm.bias'),
    'visual.ln_post.weight': g('vision_model.post_layernorm.weight'),
    'visual.ln_post.bias': g('vision_model.post_layernorm.bias'),
    'visual.proj': transpose(g('visual_projection.weight'), [1, 0]),
    'token_embedding.weight': g('text_model.embeddings.token_embedding.weight'),
    positional_embedding: g('text_model.embeddings.position_embedding.weight'),
    'ln_final.weight': g('text_model.final_layer_norm.weight'),
    'ln_final.bias': g('text_model.final_layer_norm.bias'),
    text_projection: transpose(g('text_projection.weight'), [1, 0]),
    logit_scale: g('logit_scale'),
  });
  const folder = mkdtempSync(join(tmpdir(), 'vl-openclip-'));
  writeFileSync(join(folder, 'open_clip_model.safetensors'), await saveSafetensors(oc));
  const modelCfg = {
    embed_dim: 32,
    quick_gelu: true,
    vision_cfg: { image_size: 32, layers: 2, width: 64, patch_size: 8, head_width: 16, mlp_ratio: 2 },
    text_cfg: { context_length: 16, vocab_size: 512, width: 64, heads: 4, layers: 2, mlp_ratio: 2 },
  };
  writeFileSync(join(folder, 'open_clip_config.json'), JSON.stringify({ model_cfg: modelCfg }));
  for (const t of new Set([...hf.values(), ...Object.values(oc)])) t.dispose();
  return folder;
}

describe('loadClip', () => {
  test('an HF folder loads and matches transformers', async () => {
    const model = await loadClip(dir, { backend });
    expect(model).toBeInstanceOf(ClipModel);
    expect(model.embeddingDim).toBe(32);
    await expectMatchesReference(model);
    model.dispose();
    expect(backend.stats().liveTensors).toBe(ref.size);
  });

  test('fuseQkv runs one qkv product per block, matches transformers, and frees its copy', async () => {
    const model = await loadClip(dir, { backend, fuseQkv: true });
    const loaded = backend.stats().liveTensors;
    await expectMatchesReference(model);
    // The fused weights and biases of every block of both towers, made on first use; params unchanged.
    const blocks = model.config.vision_config.num_hidden_layers + model.config.text_config.num_hidden_layers;
    expect(backend.stats().liveTensors).toBe(loaded + 2 * blocks);
    expect([...model.params.keys()].some((n) => n.includes('qkv_proj'))).toBe(false);
    // Differentiated, the forward reads q, k and v themselves: the fused copy would be a constant.
    const q = model.params.get('vision_model.encoder.layers.0.self_attn.q_proj.weight')!;
    const { value, grads } = valueAndGrad(() => sum(model.encodeImage(ref.get('pixel_values')!)), { q });
    const dq = await grads.q.read();
    expect(dq.some((g) => g !== 0)).toBe(true);
    value.dispose();
    grads.q.dispose();
    model.dispose();
    expect(backend.stats().liveTensors).toBe(ref.size);
  });

  test('the same weights in the open_clip layout (fused in_proj, [in, out] projections) give the same outputs', async () => {
    const model = await loadClip(await openClipFolder(), { backend });
    await expectMatchesReference(model);
    model.dispose();
  });

  // How far each stored dtype may move the embeddings (1 - cosine with transformers' f32 ones).
  const drift = { f16: 1e-6, bf16: 1e-4, q8: 5e-4, q4: 6e-2 } as const;
  test.each(Object.entries(drift))(
    'weightDtype %s keeps the linear weights in it (HF and open_clip folders) and stays near transformers',
    async (dtype, tolerance) => {
      for (const folder of [dir, await openClipFolder()]) {
        const model = await loadClip(folder, { backend, weightDtype: dtype as keyof typeof drift });
        const dtypes = new Set<string>();
        for (const [name, t] of model.params) {
          const linear = /_proj\.weight$|fc[12]\.weight$|projection\.weight$/.test(name);
          expect(t.dtype, name).toBe(linear ? dtype : 'f32');
          if (linear) dtypes.add(name.replace(/layers\.\d+/, 'layers.N'));
        }
        expect(dtypes.size).toBe(14); // q, k, v, out, fc1, fc2 of each tower; both projections
        const text = model.encodeText(ref.get('input_ids')!, ref.get('attention_mask')!);
        const pairs: [Float32Array[], Float32Array, string][] = [
          [await model.embedImages(ref.get('pixel_values')!), await f32(ref.get('image_embeds')!), 'image'],
          [rows(await f32(text), 32), await f32(ref.get('text_pooled')!), 'text'],
        ];
        text.dispose();
        for (const [got, want, what] of pairs) {
          for (const [i, row] of got.entries()) {
            const cos = cosine(row, want.subarray(i * row.length, (i + 1) * row.length));
            expect(1 - cos, `${what} ${i}`).toBeLessThan(tolerance);
          }
        }
        model.dispose();
        expect(backend.stats().liveTensors).toBe(ref.size);
      }
    },
  );

  test('a linear weight q8 cannot hold is named the same way from a folder and from tensors', async () => {
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    raw.text_config.intermediate_size = 100; // fc2's [64, 100]: 100 is not a multiple of 32
    const config = parseClipConfig(raw);
    const params = initClipParams(config, { backend, seed: 1 });
    const files = await clipCheckpointFiles(params, config);
    const folder = mkdtempSync(join(tmpdir(), 'vl-clip-q8-'));
    writeFileSync(join(folder, 'config.json'), files['config.json']);
    writeFileSync(join(folder, 'model.safetensors'), files['model.safetensors']);
    const message =
      /weightDtype q8: tensor text_model\.encoder\.layers\.0\.mlp\.fc2\.weight is f32\[64, 100\]; q8 needs a 2-D \[out, in\] weight with in a multiple of 32 \(use f16 or bf16\)/;
    await expect(loadClip(folder, { backend, weightDtype: 'q8' })).rejects.toThrow(message);
    await expect(loadClip({ config: raw, weights: params }, { backend, weightDtype: 'q8' })).rejects.toThrow(
      message,
    );
    expect(backend.stats().liveTensors).toBe(ref.size); // the handed-over tensors were freed too
  });

  test('a misspelt option is refused by name (weight_dtype would have loaded f32 without a word)', async () => {
    await expect(loadClip(dir, { backend, weight_dtype: 'q8' } as never)).rejects.toThrow(
      'loadClip: unknown option "weight_dtype" (expected backend, onProgress, signal, fuseQkv, weightDtype)',
    );
    const model = await loadClip(dir, { backend });
    await expect(model.embedTexts(['a'], { batch_size: 2 } as never)).rejects.toThrow(
      'embedTexts: unknown option "batch_size"',
    );
    await expect(
      model.zeroShot({ data: new Uint8Array(48), width: 4, height: 4 }, ['a'], { template: ['{}'] } as never),
    ).rejects.toThrow('zeroShot: unknown option "template" (expected templates)');
    model.dispose();
  });

  test('an unknown weightDtype is refused before anything loads', async () => {
    await expect(loadClip(dir, { backend, weightDtype: 'int4' as never })).rejects.toThrow(
      'loadClip: options.weightDtype must be one of f32, f16, bf16, q8, q4, got the string "int4"',
    );
  });

  test('a checkpoint that does not match its config names the tensor and both shapes', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'vl-clipbad-'));
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    config.vision_config.intermediate_size = 96;
    writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
    copyFileSync(join(dir, 'model.safetensors'), join(folder, 'model.safetensors'));
    const before = backend.stats().liveTensors;
    await expect(loadClip(folder, { backend })).rejects.toThrow(
      'tensor vision_model.encoder.layers.0.mlp.fc1.weight has shape [128, 64] but the config implies [96, 64]',
    );
    expect(backend.stats().liveTensors).toBe(before);
  });

  test('half of an HF tokenizer (vocab.json without merges.txt) is a clear error, not a silent fallback', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'vl-cliptok-'));
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(dir, f), join(folder, f));
    writeFileSync(join(folder, 'vocab.json'), JSON.stringify({ a: 0 }));
    const before = backend.stats().liveTensors;
    await expect(loadClip(folder, { backend })).rejects.toThrow('has vocab.json but no merges.txt');
    expect(backend.stats().liveTensors).toBe(before);
  });

  test('a malformed optional file is an error naming it, not taken for absent', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'vl-clipbadpre-'));
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(dir, f), join(folder, f));
    writeFileSync(join(folder, 'preprocessor_config.json'), '{"image_mean": [0.5, ');
    const before = backend.stats().liveTensors;
    await expect(loadClip(folder, { backend })).rejects.toThrow(/preprocessor_config\.json: not valid JSON/);
    expect(backend.stats().liveTensors).toBe(before);
  });

  test('an hf:// address without an organization is refused before anything is fetched', async () => {
    await expect(loadClip('hf://gpt2', { backend })).rejects.toThrow(
      'loadClip: hf://gpt2: an hf:// address names a model as hf://org/name[@revision][/file]',
    );
  });

  test('a folder without a config says which files it looked for', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'vl-clipempty-'));
    await expect(loadClip(folder, { backend })).rejects.toThrow(
      /neither config.json \(HF\) nor open_clip_config.json/,
    );
  });

  test('zero-shot input errors', async () => {
    const model = await loadClip(dir, { backend });
    const one = tensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32], { backend });
    await expect(model.zeroShot(one, [])).rejects.toThrow('zeroShot: the label list is empty');
    one.dispose();
    const wrong = tensor(new Float32Array(3 * 16 * 16), [1, 3, 16, 16], { backend });
    await expect(model.embedImages(wrong)).rejects.toThrow(
      'pixelValues must be [B, 3, 32, 32], got f32[1, 3, 16, 16]',
    );
    wrong.dispose();
    model.dispose();
  });
});

describe('EmbeddingIndex', () => {
  test('top-k cosine equals a full sort, and 100,000 vectors stay searchable', () => {
    const dim = 64;
    let seed = 7;
    // mulberry32: no repeated vectors (a short-period LCG repeats rows and makes ties).
    const rand = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
    };
    const vectors = Array.from({ length: 100_000 }, () => Float32Array.from({ length: dim }, rand));
    const index = new EmbeddingIndex<number>(dim);
    index.add(vectors);
    const q = Float32Array.from({ length: dim }, rand);
    const hits = index.search(q, 5);
    const norm = (v: Float32Array) => Math.hypot(...v);
    const scores = vectors.map((v, i) => ({
      i,
      s: v.reduce((a, x, j) => a + x * q[j]!, 0) / norm(v) / norm(q),
    }));
    scores.sort((a, b) => b.s - a.s);
    expect(hits.map((h) => h.index)).toEqual(scores.slice(0, 5).map((s) => s.i));
    expect(() => index.search(new Float32Array(3))).toThrow('the query has length 3, the index holds 64');
  });
});

test('text through a checkpoint without tokenizer files whose vocabulary is smaller is a clear error', async () => {
  const model = await loadClip(dir, { backend });
  await expect(model.embedTexts(['a cat'])).rejects.toThrow(
    /the tokenizer has 49408 tokens but text_config.vocab_size is \d+; give the checkpoint its own tokenizer files/,
  );
  model.dispose();
});
