// Config parsing with HF names and defaults, every tensor-name spelling, tied embeddings, chat and
// text prompts end to end, and the bad inputs of the issue: image placeholders that do not match the
// images, prompts longer than the context, unknown chat roles, aborted generation (cache released,
// model still usable) and a checkpoint that does not match its config. CPU only: none of this
// depends on the backend (the fixture parity runs on every backend in llavaTiny.test.ts).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Tensor,
  cast,
  createBackend,
  dequantize,
  loadSafetensors,
  quantizeWeight,
  saveSafetensors,
  zeros,
} from '@vl/tensor';
import { maxAbs } from '@vl/vitest-config/fixture-backends';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type VlmModel,
  VlmTokenizer,
  canonicalLlavaName,
  imageTokenCount,
  loadVlm,
  parseLlamaConfig,
  parseLlavaConfig,
  ropeScaling,
  visionFeatureLayers,
} from '../src/index.js';

const dir = fileURLToPath(new URL('./fixtures/llava-tiny/', import.meta.url));
const rawConfig = JSON.parse(readFileSync(`${dir}config.json`, 'utf8'));
const backend = await createBackend('cpu');
afterAll(() => backend.dispose());

/** A stored weight (bf16, q8, q4) as the f32 values matmul reads from it. */
const dequantizeOrCast = (t: Tensor) => (t.dtype === 'bf16' ? cast(t, 'f32') : dequantize(t));

const weights = async () => (await loadSafetensors(`${dir}model.safetensors`, { backend })).tensors;
const ref = (await loadSafetensors(`${dir}reference.safetensors`, { backend })).tensors;
const px = ref.get('pixel_values')!; // [1, 3, 32, 32]
const inputIds = Array.from((await ref.get('input_ids')!.read()) as Int32Array);
const generated = Array.from((await ref.get('generated')!.read()) as Int32Array).slice(inputIds.length);
const refLogits = (await ref.get('logits')!.read()) as Float32Array;

async function logitsOf(vlm: VlmModel): Promise<Float32Array> {
  const logits = await vlm.forward([inputIds], px);
  try {
    return (await logits.read()) as Float32Array;
  } finally {
    logits.dispose();
  }
}

describe('config', () => {
  test('reads the fixture with HF names, and HF defaults for what is missing', () => {
    const c = parseLlavaConfig(rawConfig);
    expect(c.text_config.head_dim).toBe(16);
    expect(c.text_config.num_key_value_heads).toBe(2);
    expect(c.text_config.rope_parameters).toEqual({ rope_theta: 10000, rope_type: 'default' });
    expect(c.vision_feature_layer).toBe(-2);
    expect(visionFeatureLayers(c)).toEqual([1]);
    expect(imageTokenCount(c)).toBe(16);
    const d = parseLlavaConfig({});
    expect(d.vision_config.image_size).toBe(336);
    expect(d.image_token_index).toBe(32000);
    expect(d.projector_hidden_act).toBe('gelu');
    expect(d.multimodal_projector_bias).toBe(true);
    expect(imageTokenCount(d)).toBe(576);
    expect(d.text_config.num_key_value_heads).toBe(32);
    expect(d.text_config.head_dim).toBe(128);
    expect(imageTokenCount(parseLlavaConfig({ ...rawConfig, vision_feature_select_strategy: 'full' }))).toBe(
      17,
    );
    expect(visionFeatureLayers(parseLlavaConfig({ ...rawConfig, vision_feature_layer: [-1, 0] }))).toEqual([
      2, 0,
    ]);
    // A vision tower with a convolutional stem (vl's shapes CLIP): 64 px halved 3 times, 1 px patches.
    const stem = { image_size: 64, patch_size: 1, conv_stem_channels: [8, 16, 32] };
    const s = parseLlavaConfig({ ...rawConfig, vision_config: { ...rawConfig.vision_config, ...stem } });
    expect(imageTokenCount(s)).toBe(64);
  });

  test('rope: transformers 5 rope_parameters and legacy rope_theta + rope_scaling read the same', () => {
    const llama3 = {
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    };
    const v5 = parseLlamaConfig({ rope_parameters: { rope_theta: 500000, rope_type: 'llama3', ...llama3 } });
    const legacy = parseLlamaConfig({ rope_theta: 500000, rope_scaling: { rope_type: 'llama3', ...llama3 } });
    expect(v5.rope_parameters).toEqual(legacy.rope_parameters);
    expect(parseLlamaConfig({ rope_scaling: { type: 'linear', factor: 2 } }).rope_parameters).toEqual({
      rope_theta: 10000,
      rope_type: 'linear',
      factor: 2,
    });
    expect(() => parseLlamaConfig({ rope_scaling: { type: 'yarn', factor: 2 } })).toThrow(
      'text_config.rope_scaling: rope type "yarn" is not supported',
    );
    expect(() => parseLlamaConfig({ num_attention_heads: 6, num_key_value_heads: 4 })).toThrow(
      'not a multiple',
    );
    expect(() => parseLlavaConfig({ ...rawConfig, vision_feature_select_strategy: 'cls' })).toThrow(
      'vision_feature_select_strategy',
    );
    expect(() => parseLlavaConfig({ ...rawConfig, vision_feature_layer: -4 })).toThrow(
      'vision_feature_layer',
    );
    expect(() => parseLlavaConfig({ ...rawConfig, text_config: { model_type: 'gpt2' } })).toThrow(
      'text_config.model_type: "gpt2" is not supported',
    );
  });

  test('ropeScaling: a parsed llama3 rope maps over; a hand-built one missing a field is named', () => {
    const parsed = parseLlamaConfig({
      rope_scaling: { rope_type: 'llama3', factor: 8, original_max_position_embeddings: 8192 },
    });
    expect(ropeScaling(parsed.rope_parameters)).toEqual({
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    expect(ropeScaling({ rope_theta: 10000, rope_type: 'default' })).toBeUndefined();
    expect(() => ropeScaling({ rope_theta: 10000, rope_type: 'linear' })).toThrow(
      'ropeScaling(): a linear rope needs rope_parameters.factor (a number), got undefined',
    );
    expect(() => ropeScaling({ rope_theta: 10000, rope_type: 'llama3', factor: 8 })).toThrow(
      'rope_parameters.low_freq_factor',
    );
  });
});

describe('checkpoints', () => {
  test('every tensor-name spelling in use loads to the same model', async () => {
    expect(canonicalLlavaName('model.language_model.layers.0.mlp.up_proj.weight')).toBe(
      'language_model.model.layers.0.mlp.up_proj.weight',
    );
    expect(canonicalLlavaName('lm_head.weight')).toBe('language_model.lm_head.weight');
    expect(canonicalLlavaName('model.vision_tower.vision_model.pre_layrnorm.bias')).toBe(
      'vision_tower.pre_layrnorm.bias',
    );
    const spellings: [string, string][][] = [
      // transformers 5 modules
      [
        ['language_model.model.', 'model.language_model.'],
        ['language_model.lm_head.', 'lm_head.'],
        ['vision_tower.', 'model.vision_tower.vision_model.'],
        ['multi_modal_projector.', 'model.multi_modal_projector.'],
      ],
      // transformers 4 hub checkpoints (llava-hf)
      [['vision_tower.', 'vision_tower.vision_model.']],
    ];
    for (const renames of spellings) {
      const renamed = new Map<string, Tensor>();
      for (const [name, t] of await weights()) {
        const rule = renames.find(([from]) => name.startsWith(from));
        renamed.set(rule ? rule[1] + name.slice(rule[0].length) : name, t);
      }
      const vlm = await loadVlm({ config: rawConfig, weights: renamed }, { backend });
      expect(maxAbs(await logitsOf(vlm), refLogits)).toBeLessThan(1e-3);
      vlm.dispose();
    }
  });

  test('an F16 checkpoint folder loads (widened to f32) and gives the f32 logits to f16 precision', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'vl-llava-f16-'));
    writeFileSync(join(folder, 'config.json'), JSON.stringify(rawConfig));
    const halves = new Map<string, Tensor>();
    for (const [name, t] of await weights()) {
      halves.set(name, cast(t, 'f16'));
      t.dispose();
    }
    writeFileSync(join(folder, 'model.safetensors'), await saveSafetensors(halves));
    for (const t of halves.values()) t.dispose();
    const vlm = await loadVlm(folder, { backend });
    const widened = await logitsOf(vlm);
    expect(maxAbs(widened, refLogits)).toBeLessThan(2e-2);
    vlm.dispose();
    // Kept as f16 (the file's bits), the linear weights give the widened load's logits.
    const kept = await loadVlm(folder, { backend, weightDtype: 'f16' });
    const dtypes = new Map<string, number>();
    for (const t of kept.params.values()) dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + 1);
    // 2 decoder layers x 7 + lm_head + 2 projector + 2 tower layers x 6 (see the fixture's config).
    expect(dtypes.get('f16')).toBe(2 * 7 + 1 + 2 + 2 * 6);
    expect(maxAbs(await logitsOf(kept), widened)).toBeLessThan(1e-4);
    kept.dispose();
  });

  // Bounds on the logits' max abs error against transformers' f32 ones, per stored dtype (the
  // fixture's logits reach 2.8; its random 64-wide weights are harder on q4 than trained ones).
  test.each([
    ['bf16', 3e-2],
    ['q8', 1e-1],
    ['q4', 1.2],
  ] as const)(
    'weightDtype %s: linear weights stored smaller, read exactly as stored, near transformers',
    async (dtype, tolerance) => {
      const vlm = await loadVlm(dir, { backend, weightDtype: dtype });
      expect(vlm.params.get('language_model.model.layers.0.mlp.down_proj.weight')!.dtype).toBe(dtype);
      expect(vlm.params.get('multi_modal_projector.linear_2.weight')!.dtype).toBe(dtype);
      expect(vlm.params.get('language_model.model.embed_tokens.weight')!.dtype).toBe('f32');
      const logits = await logitsOf(vlm);
      const err = maxAbs(logits, refLogits);
      console.log(`llava-tiny with ${dtype} linear weights: logits max abs error ${err.toExponential(2)}`);
      expect(err).toBeLessThan(tolerance);
      // The same model with each linear weight replaced by its stored value, widened to f32.
      const widened = new Map<string, Tensor>();
      for (const [name, t] of await weights()) {
        const linear = /_proj\.weight$|fc[12]\.weight$|linear_[12]\.weight$|lm_head\.weight$/.test(name);
        const stored = linear ? (dtype === 'bf16' ? cast(t, 'bf16') : quantizeWeight(t, { dtype })) : t;
        widened.set(name, stored === t ? t : dequantizeOrCast(stored));
        if (stored !== t) {
          stored.dispose();
          t.dispose();
        }
      }
      const reference = await loadVlm({ config: rawConfig, weights: widened }, { backend });
      expect(maxAbs(logits, await logitsOf(reference))).toBeLessThan(1e-4);
      reference.dispose();
      if (dtype !== 'q4') {
        // Greedy decoding still picks transformers' tokens.
        const tokens: number[] = [];
        for await (const { token } of vlm.generate({ inputIds, images: [px] }, { maxNewTokens: 6 }))
          tokens.push(token);
        expect(tokens).toEqual(generated.slice(0, 6));
      }
      vlm.dispose();
    },
  );

  test('a saved rotary cache (rotary_emb.inv_freq) is dropped and freed, not kept alive', async () => {
    const before = backend.stats().liveTensors;
    const tensors = await weights();
    // A spelling the name map drops (old LLaVA exports saved it; it is recomputed, never read).
    tensors.set('model.layers.0.self_attn.rotary_emb.inv_freq', zeros([8], { backend }));
    const vlm = await loadVlm({ config: rawConfig, weights: tensors }, { backend });
    vlm.dispose();
    expect(backend.stats().liveTensors).toBe(before);
  });

  test('tied output embeddings read embed_tokens (an lm_head next to them is ignored)', async () => {
    const tensors = await weights();
    const table = tensors.get('language_model.model.embed_tokens.weight')!;
    // Untied with lm_head = embed_tokens must equal tied without an lm_head.
    const untied = new Map(tensors);
    untied.set('language_model.lm_head.weight', table);
    const a = await loadVlm({ config: rawConfig, weights: untied }, { backend });
    const expected = await logitsOf(a);
    const tiedConfig = { ...rawConfig, text_config: { ...rawConfig.text_config, tie_word_embeddings: true } };
    const tiedWeights = new Map((await weights()).entries());
    const b = await loadVlm({ config: tiedConfig, weights: tiedWeights }, { backend });
    expect(b.params.has('language_model.lm_head.weight')).toBe(false);
    expect(maxAbs(await logitsOf(b), expected)).toBeLessThan(1e-6);
    expect(maxAbs(expected, refLogits)).toBeGreaterThan(1e-2);
    a.dispose();
    b.dispose();
    tensors.get('language_model.lm_head.weight')!.dispose();
  });

  test('a tensor that does not match the config is named with both shapes', async () => {
    const tensors = await weights();
    const bad = new Map(tensors);
    bad.set('language_model.model.layers.0.self_attn.k_proj.weight', zeros([64, 64], { backend }));
    bad.delete('multi_modal_projector.linear_2.bias');
    const error = await loadVlm({ config: rawConfig, weights: bad }, { backend }).catch((e: Error) => e);
    expect(String(error)).toContain(
      'tensor language_model.model.layers.0.self_attn.k_proj.weight has shape [64, 64] but the config implies [32, 64]',
    );
    expect(String(error)).toContain(
      'missing tensor multi_modal_projector.linear_2.bias (expected shape [64])',
    );
    const extra = new Map(await weights());
    extra.set('image_newline', zeros([64], { backend }));
    await expect(loadVlm({ config: rawConfig, weights: extra }, { backend })).rejects.toThrow(
      'belong to no part of the model: image_newline',
    );
    const both = new Map(await weights());
    both.set('lm_head.weight', both.get('language_model.lm_head.weight')!);
    await expect(loadVlm({ config: rawConfig, weights: both }, { backend })).rejects.toThrow(
      'are both language_model.lm_head.weight',
    );
    for (const t of tensors.values()) if (!t.isDisposed) t.dispose();
    await expect(loadVlm(`${dir}missing/`, { backend })).rejects.toThrow('has no config.json');
    // A config that is there but malformed is reported as such, not as missing.
    const malformed = mkdtempSync(join(tmpdir(), 'vl-vlmbadconfig-'));
    writeFileSync(join(malformed, 'config.json'), '{"model_type": "llava",');
    await expect(loadVlm(malformed, { backend })).rejects.toThrow(/config\.json: not valid JSON/);
  });
});

describe('generation', () => {
  let vlm: VlmModel;
  beforeAll(async () => {
    vlm = await loadVlm(dir, { backend });
  });
  afterAll(() => vlm.dispose());

  test('chat messages and text prompts go through the tokenizer and template; text pieces add up', async () => {
    expect(vlm.tokenizer).toBeInstanceOf(VlmTokenizer);
    const messages = [
      {
        role: 'user' as const,
        content: [
          { type: 'image' as const, image: px },
          { type: 'text' as const, text: 'What is shown?' },
        ],
      },
    ];
    const ids = vlm.encodePrompt(messages);
    expect(ids.filter((t) => t === 299)).toHaveLength(16);
    expect(ids.filter((t) => t === 1)).toHaveLength(1);
    const tokens: number[] = [];
    let text = '';
    for await (const piece of vlm.generate(messages, { maxNewTokens: 8 })) {
      tokens.push(piece.token);
      text += piece.text;
    }
    expect(text).toBe(vlm.tokenizer!.decode(tokens));
    // The same prompt as ids gives the same greedy answer.
    const again: number[] = [];
    for await (const { token } of vlm.generate({ inputIds: ids, images: [px] }, { maxNewTokens: 8 }))
      again.push(token);
    expect(again).toEqual(tokens);
    const [answer] = await vlm.generateText(
      { prompt: 'USER: <image>\nWhat is shown? ASSISTANT:', images: [px] },
      { maxNewTokens: 8 },
    );
    expect(answer).toBe(text);
  });

  test('stop tokens end an answer and are not emitted; maxNewTokens is a cap', async () => {
    const stop = generated[3]!;
    const tokens: number[] = [];
    for await (const { token } of vlm.generate(
      { inputIds, images: [px] },
      { maxNewTokens: 12, stopTokens: [stop] },
    )) {
      tokens.push(token);
    }
    expect(tokens).toEqual(generated.slice(0, generated.indexOf(stop)));
    const none: number[] = [];
    for await (const { token } of vlm.generate({ inputIds, images: [px] }, { maxNewTokens: 0 }))
      none.push(token);
    expect(none).toEqual([]);
  });

  test('stop tokens of generation_config.json outside the vocabulary are ignored, as transformers ignores them', async () => {
    // An id past vocab_size can never be generated: it must not make every generate() fail with an
    // error about a stopTokens option that was never passed.
    const folder = mkdtempSync(join(tmpdir(), 'vl-vlmeos-'));
    for (const name of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
      copyFileSync(`${dir}${name}`, join(folder, name));
    const stop = generated[3]!;
    writeFileSync(join(folder, 'generation_config.json'), JSON.stringify({ eos_token_id: [stop, 300, -1] }));
    const model = await loadVlm(folder, { backend });
    try {
      const tokens: number[] = [];
      for await (const { token } of model.generate({ inputIds, images: [px] }, { maxNewTokens: 12 }))
        tokens.push(token);
      expect(tokens).toEqual(generated.slice(0, generated.indexOf(stop)));
      // None left: the config's eos_token_id stops generation, as with no generation_config at all
      // (an empty list stopped on nothing).
      const answer = async (m: VlmModel) => {
        const out: number[] = [];
        for await (const { token } of m.generate({ inputIds, images: [px] }, { maxNewTokens: 40 }))
          out.push(token);
        return out;
      };
      rmSync(join(folder, 'generation_config.json'));
      const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
      config.text_config.eos_token_id = stop; // a token this model does generate
      writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
      const plain = await loadVlm(folder, { backend }); // the config's eos_token_id
      writeFileSync(join(folder, 'generation_config.json'), JSON.stringify({ eos_token_id: [300, -1] }));
      const bad = await loadVlm(folder, { backend });
      expect(await answer(plain)).toEqual(generated.slice(0, generated.indexOf(stop)));
      expect(await answer(bad)).toEqual(await answer(plain));
      for (const m of [plain, bad]) m.dispose();
    } finally {
      model.dispose();
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a timer (a Stop button, a timeout) can abort generation between tokens', async () => {
    // Each token gives the event loop a turn: the abort below runs after the first one, not after
    // the whole answer (on the CPU backend every read resolves as a microtask).
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 0);
    const tokens: number[] = [];
    const run = async () => {
      for await (const { token } of vlm.generate(
        { inputIds, images: [px] },
        { maxNewTokens: 50, stopTokens: [], signal: controller.signal },
      ))
        tokens.push(token);
    };
    await expect(run()).rejects.toMatchObject({ name: 'AbortError' });
    expect(tokens.length).toBeLessThan(5);
  });

  test('a stop token right after a split character still hands out its text', async () => {
    // The greedy answer splits a character across byte tokens: a stop token after its first byte
    // ends the answer while that piece's text is held back; the text must still come out.
    const tokenizer = vlm.tokenizer!;
    const k = generated.findIndex(
      (t, i) =>
        i > 0 &&
        tokenizer.decode(generated.slice(0, i)).endsWith('\ufffd') &&
        !generated.slice(0, i).includes(t),
    );
    expect(k).toBeGreaterThan(0);
    const tokens: number[] = [];
    let text = '';
    for await (const piece of vlm.generate({ inputIds, images: [px] }, { stopTokens: [generated[k]!] })) {
      tokens.push(piece.token);
      text += piece.text;
    }
    expect(tokens).toEqual(generated.slice(0, k));
    expect(text).toBe(tokenizer.decode(tokens));
  });

  test('image placeholders that do not match the images are an error', async () => {
    const before = backend.stats().liveTensors;
    const run = async (prompt: Parameters<VlmModel['generate']>[0]) => {
      for await (const _ of vlm.generate(prompt, { maxNewTokens: 1 })) {
        // drain
      }
    };
    await expect(run({ inputIds: [1, 299, 5, 299, 299], images: [px] })).rejects.toThrow(
      'the prompt has 3 image placeholder tokens (id 299) for 1 image(s); expected one per image, or 16 per image',
    );
    await expect(run({ inputIds: [1, 5, 6], images: [px] })).rejects.toThrow(
      'has 0 image placeholder tokens',
    );
    await expect(run({ inputIds: [1, 299, 6] })).rejects.toThrow(
      'has 1 image placeholder tokens (id 299) for 0 image(s)',
    );
    await expect(
      run([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'hi' }] }]),
    ).rejects.toThrow('message 0 part 0 is an image part without an image');
    await expect(vlm.forward([inputIds.slice(0, 10)], px)).rejects.toThrow(
      'the prompt has 6 image placeholder tokens (id 299) but 1 image(s) need 16 (16 per image)',
    );
    expect(backend.stats().liveTensors).toBe(before);
  });

  test('a prompt longer than the context is an error; a full context stops generation', async () => {
    const long = [1, ...new Array<number>(128).fill(5)];
    const drain = async (ids: number[]) => {
      const out: number[] = [];
      for await (const { token } of vlm.generate({ inputIds: ids }, { maxNewTokens: 50 })) out.push(token);
      return out;
    };
    await expect(drain(long)).rejects.toThrow(
      'prompt 0 has 129 tokens (image tokens included) but the context is 128 (max_position_embeddings)',
    );
    // 120 prompt tokens leave room for 9 new ones (the last one needs no cache slot).
    expect(await drain(long.slice(0, 120))).toHaveLength(9);
  });

  test('unknown chat roles are an error', async () => {
    const gen = vlm.generate([{ role: 'narrator' as 'user', content: 'hi' }]);
    await expect(gen.next()).rejects.toThrow('unknown chat role "narrator" in message 0');
  });

  test('aborting releases the cache and the model stays usable', async () => {
    const before = backend.stats().liveTensors;
    const controller = new AbortController();
    const tokens: number[] = [];
    const run = async () => {
      for await (const { token } of vlm.generate(
        { inputIds, images: [px] },
        { maxNewTokens: 12, signal: controller.signal },
      )) {
        tokens.push(token);
        if (tokens.length === 3) controller.abort();
      }
    };
    await expect(run()).rejects.toMatchObject({ name: 'AbortError' });
    expect(tokens).toEqual(generated.slice(0, 3));
    expect(backend.stats().liveTensors).toBe(before);
    // An already aborted signal stops before any work.
    const gen = vlm.generate({ inputIds, images: [px] }, { signal: AbortSignal.abort() });
    await expect(gen.next()).rejects.toMatchObject({ name: 'AbortError' });
    // Breaking out of the loop releases everything too.
    for await (const _ of vlm.generate({ inputIds, images: [px] }, { maxNewTokens: 12 })) break;
    expect(backend.stats().liveTensors).toBe(before);
    const after: number[] = [];
    for await (const { token } of vlm.generate({ inputIds, images: [px] }, { maxNewTokens: 12 }))
      after.push(token);
    expect(after).toEqual(generated);
  });
});
