// The text side of @vl/vlm against transformers / tokenizers: decoding (an empty list, spaces
// before punctuation as transformers leaves them), generate()'s options, and a ragged batch with a
// repetition penalty giving each prompt the tokens it gets alone.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createBackend, loadSafetensors } from '@vl/tensor';
import { afterAll, describe, expect, test } from 'vitest';
import { type GenerateOptions, type VlmPrompt, VlmTokenizer, loadVlm } from '../src/index.js';

const dir = fileURLToPath(new URL('./fixtures/llava-tiny/', import.meta.url));
const backend = await createBackend('cpu');
const tokenizerJson = JSON.parse(readFileSync(`${dir}tokenizer.json`, 'utf8'));
const tokenizerConfig = JSON.parse(readFileSync(`${dir}tokenizer_config.json`, 'utf8'));
const ref = (await loadSafetensors(`${dir}reference.safetensors`, { backend })).tensors;
const px = ref.get('pixel_values')!; // [1, 3, 32, 32]
const inputIds = Array.from((await ref.get('input_ids')!.read()) as Int32Array);
const vlm = await loadVlm(dir, { backend });
afterAll(() => {
  vlm.dispose();
  for (const t of ref.values()) t.dispose();
  backend.dispose();
});

async function collect(
  model: typeof vlm,
  prompt: VlmPrompt | readonly VlmPrompt[],
  options: GenerateOptions,
): Promise<{ tokens: number[][]; texts: string[] }> {
  const tokens: number[][] = [];
  const texts: string[] = [];
  for await (const { index, token, text } of model.generate(prompt, options)) {
    (tokens[index] ??= []).push(token);
    texts[index] = (texts[index] ?? '') + text;
  }
  return { tokens, texts };
}

describe('VlmTokenizer', () => {
  test('decode([]) is the empty string, as tokenizer.decode([]) in transformers', () => {
    const tokenizer = VlmTokenizer.fromJson(tokenizerJson, tokenizerConfig);
    // @huggingface/tokenizers itself throws "token_ids must be a non-empty array of integers."
    expect(tokenizer.decode([])).toBe('');
    expect(tokenizer.decode(new Int32Array(0), { skipSpecialTokens: false })).toBe('');
  });

  test('without clean_up_tokenization_spaces in tokenizer_config.json, decode keeps spaces before punctuation (transformers default False)', () => {
    // transformers (4.45+): clean_up_tokenization_spaces defaults to False, so
    // tokenizer.decode(tokenizer.encode("What is shown ?")) is "What is shown ?";
    // @huggingface/tokenizers defaults the flag to true and gives "What is shown?".
    const { clean_up_tokenization_spaces: _, ...config } = tokenizerConfig;
    for (const tokenizer of [
      VlmTokenizer.fromJson(tokenizerJson, config),
      VlmTokenizer.fromJson(tokenizerJson),
    ]) {
      const ids = tokenizer.encode('What is shown ?', { addSpecialTokens: false });
      expect(ids).toEqual([296, 281, 294, 113, 35, 66]); // ..., 'n', 'Ġ', '?'
      expect(tokenizer.decode(ids)).toBe('What is shown ?');
    }
  });
});

describe('generate options', () => {
  test('an unknown option (HF spelling max_new_tokens) is an error naming it, not silently ignored', async () => {
    // Ignored, it ran the default 128 new tokens (126 here, all the context left) for a caller who
    // asked for 2.
    const options = { max_new_tokens: 2 } as unknown as GenerateOptions;
    await expect(collect(vlm, { inputIds: [1, 10, 11] }, options)).rejects.toThrow(
      'generate: unknown option "max_new_tokens" (expected maxNewTokens, temperature, topK, topP, repetitionPenalty, seed, stopTokens, stop, signal)',
    );
  });

  test('a ragged batch with a repetition penalty gives each prompt its own tokens; breaking early frees everything', async () => {
    const prompts: VlmPrompt[] = [
      { inputIds: [1, 10, 11] },
      { inputIds: [1, 10, 11, 12, 20, 21, 22, 40, 50, 60, 70] },
      { inputIds, images: [px] },
    ];
    const options = { maxNewTokens: 20, repetitionPenalty: 1.3 };
    const alone = [];
    for (const p of prompts) alone.push((await collect(vlm, p, options)).tokens[0]);
    // After a first call, which makes the tower's fused qkv weights (kept until dispose).
    const before = backend.stats().liveTensors;
    const batched = await collect(vlm, prompts, options);
    expect(batched.tokens).toEqual(alone);
    let n = 0;
    for await (const _ of vlm.generate(prompts, options)) if (++n === 4) break;
    expect(backend.stats().liveTensors).toBe(before);
  });
});
