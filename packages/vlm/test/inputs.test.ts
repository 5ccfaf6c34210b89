// Bad input to the task API, each refused before any work with an error naming it: generation
// options (checked before the prefill, nothing left allocated; an undefined one is not given), token ids that are not integers,
// generateText without a tokenizer, a model disposed while it generates, a missing or malformed
// loadVlm source, an image_token_index outside the vocabulary or on an ordinary word, and weights
// of the wrong dtype. CPU only: none of this depends on the backend.
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend, loadSafetensors, zeros } from '@vl/tensor';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type GenerateOptions, type VlmModel, VlmTokenizer, loadVlm } from '../src/index.js';

const dir = fileURLToPath(new URL('./fixtures/llava-tiny/', import.meta.url));
const rawConfig = JSON.parse(readFileSync(`${dir}config.json`, 'utf8'));
const tokenizer = VlmTokenizer.fromJson(
  readFileSync(`${dir}tokenizer.json`, 'utf8'),
  readFileSync(`${dir}tokenizer_config.json`, 'utf8'),
);
const backend = await createBackend('cpu');
const live = () => backend.stats().liveTensors;
let vlm: VlmModel;
beforeAll(async () => {
  vlm = await loadVlm(dir, { backend });
});
afterAll(() => {
  vlm.dispose();
  backend.dispose();
});

const prompt = { inputIds: [1, 51, 52] };

describe('generation options', () => {
  const bad: [GenerateOptions, string][] = [
    [{ temperature: -1 }, 'generate: temperature must be a number in [0, 3.4e+38], got -1'],
    [{ temperature: Number.NaN }, 'generate: temperature must be a number in [0, 3.4e+38], got NaN'],
    [{ topP: 0 }, 'generate: topP must be a number in (0, 1], got 0'],
    [{ topK: -1 }, 'generate: topK must be a non-negative integer (0: all tokens), got -1'],
    [{ topK: 1.5 }, 'generate: topK must be a non-negative integer (0: all tokens), got 1.5'],
    [{ repetitionPenalty: 0 }, 'generate: repetitionPenalty must be a positive number, got 0'],
    [{ seed: 0.5 }, 'generate: seed must be a safe integer, got 0.5'],
    [{ maxNewTokens: -1 }, 'generate: maxNewTokens must be a non-negative integer, got -1'],
    [{ stopTokens: 2 as never }, 'generate: stopTokens must be an array of token ids, got 2'],
    [
      { stopTokens: [2, 999] },
      'generate: stopTokens[1] must be a token id in [0, 300) (vocab_size), got 999',
    ],
    [
      { stopTokens: ['2'] as never },
      'generate: stopTokens[0] must be a token id in [0, 300) (vocab_size), got "2"',
    ],
    [{ signal: {} as never }, 'generate: signal must be an AbortSignal'],
    [{ stop: 'USER:' as never }, 'generate: stop must be an array of strings, got "USER:"'],
    [{ stop: ['ok', ''] }, 'generate: stop[1] must be a non-empty string, got ""'],
  ];
  test.each(bad)(
    '%o is refused before the prefill, and nothing is left allocated',
    async (options, message) => {
      const before = live();
      // generateText checks the options itself, under its own name.
      await expect(
        vlm.generateText(prompt, { ...options, temperature: options.temperature ?? 0.7 }),
      ).rejects.toThrow(message.replace(/^generate:/, 'VlmModel.generateText:'));
      await expect(vlm.generate(prompt, options).next()).rejects.toThrow(message);
      expect(live()).toBe(before);
    },
  );

  test('stopTokens: undefined keeps the stop tokens of generation_config.json', async () => {
    // Greedy on this prompt: 259, 48, 48, 259, ... A checkpoint whose generation_config.json lists
    // [2, 48] (as chat checkpoints list several) ends after 259; an option object built as
    // { ..., stopTokens: userStops } with userStops unset must not drop that list.
    const folder = mkdtempSync(join(tmpdir(), 'vl-stops-'));
    for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(folder, f));
    writeFileSync(join(folder, 'generation_config.json'), JSON.stringify({ eos_token_id: [2, 48] }));
    const chat = await loadVlm(folder, { backend });
    const tokens = async (options: GenerateOptions) => {
      const out: number[] = [];
      for await (const { token } of chat.generate(prompt, options)) out.push(token);
      return out;
    };
    try {
      expect(await tokens({ maxNewTokens: 8 })).toEqual([259]);
      expect(await tokens({ maxNewTokens: 8, stopTokens: undefined })).toEqual([259]);
      expect(await tokens({ maxNewTokens: 4, stopTokens: [] })).toEqual([259, 48, 48, 259]);
    } finally {
      chat.dispose();
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('good options still generate', async () => {
    const [text] = await vlm.generateText(prompt, {
      maxNewTokens: 2,
      temperature: 0.7,
      topK: 5,
      topP: 0.9,
      seed: 3,
    });
    expect(typeof text).toBe('string');
  });
});

describe('stop strings', () => {
  test('an answer ends before its first stop string, in its text and its tokens, batched too', async () => {
    const options = { maxNewTokens: 24, stopTokens: [] };
    const [full] = await vlm.generateText(prompt, options);
    expect(full!.length).toBeGreaterThan(8);
    // A stop string from the middle of the answer the model gives without one.
    const at = Math.floor(full!.length / 2);
    const stop = full!.slice(at, at + 2);
    const expected = full!.slice(0, full!.indexOf(stop));
    const pieces: { index: number; text: string }[] = [];
    for await (const piece of vlm.generate([prompt, prompt], { ...options, stop: [stop] }))
      pieces.push(piece);
    for (const index of [0, 1]) {
      const mine = pieces.filter((p) => p.index === index);
      expect(mine.map((p) => p.text).join('')).toBe(expected);
      expect(mine.length).toBeLessThan(24); // no token after the one that completed the stop string
    }
    expect(await vlm.generateText(prompt, { ...options, stop: [stop] })).toEqual([expected]);
  });
});

describe('prompts', () => {
  test('inputIds must be integer token ids in the vocabulary, named by index', async () => {
    await expect(vlm.generate({ inputIds: ['1', '5'] as never }).next()).rejects.toThrow(
      'VlmModel: inputIds[0] must be an integer token id in [0, 300) (vocab_size), got "1"',
    );
    await expect(vlm.generate([prompt, { inputIds: [1, 2.5] }]).next()).rejects.toThrow(
      'VlmModel: prompt 1: inputIds[1] must be an integer token id in [0, 300) (vocab_size), got 2.5',
    );
    expect(() => vlm.encodePrompt({ inputIds: 5 as never })).toThrow(
      'VlmModel: inputIds must be an array or Int32Array of token ids, got 5',
    );
    expect(() => vlm.encodePrompt({ inputIds: [1], images: 'cat.png' as never })).toThrow(
      'VlmModel: images must be an array of images, got "cat.png"',
    );
  });

  test('generateText without a tokenizer says so; generate still gives the ids', async () => {
    const bare = await loadVlm({ config: rawConfig, weights: `${dir}model.safetensors` }, { backend });
    try {
      await expect(bare.generateText(prompt, { maxNewTokens: 2 })).rejects.toThrow(
        'VlmModel.generateText: turning the answer into text needs a tokenizer (tokenizer.json); without one, use generate() for the token ids',
      );
      const tokens: number[] = [];
      for await (const { token } of bare.generate(prompt, { maxNewTokens: 2 })) tokens.push(token);
      expect(tokens.length).toBeGreaterThan(0);
    } finally {
      bare.dispose();
    }
  });

  test('disposing the model while it generates stops the loop with a clear error and frees everything', async () => {
    const before = live();
    const doomed = await loadVlm(dir, { backend });
    const run = async () => {
      for await (const _ of doomed.generate(prompt, { maxNewTokens: 8, stopTokens: [] })) doomed.dispose();
    };
    await expect(run()).rejects.toThrow('VlmModel: the model was disposed during generation');
    expect(live()).toBe(before);
  });
});

describe('loadVlm', () => {
  test('a source that is neither a folder nor { config, weights } is named', async () => {
    await expect(loadVlm(null as never, { backend })).rejects.toThrow(
      'loadVlm: source must be a checkpoint folder (a path or URL) or { config, weights }, got null',
    );
    await expect(loadVlm({ config: rawConfig } as never, { backend })).rejects.toThrow(
      'loadVlm: a checkpoint given as parts needs weights (got { config })',
    );
    await expect(loadVlm(dir, null as never)).rejects.toThrow('loadVlm: options must be an object, got null');
  });

  test('image_token_index must be in the vocabulary and not an ordinary word, checked before the weights load', async () => {
    const before = live();
    const weights = `${dir}model.safetensors`;
    await expect(
      loadVlm({ config: { ...rawConfig, image_token_index: 999 }, weights }, { backend }),
    ).rejects.toThrow(
      'loadVlm: config.image_token_index 999 is not a token of the vocabulary [0, 300) (text_config.vocab_size)',
    );
    const word = tokenizer.tokenToId('0')!;
    await expect(
      loadVlm({ config: { ...rawConfig, image_token_index: word }, weights, tokenizer }, { backend }),
    ).rejects.toThrow(`loadVlm: config.image_token_index ${word} is the tokenizer's ordinary token "0"`);
    expect(live()).toBe(before);
  });

  test('a weight of the wrong dtype is named at load', async () => {
    const before = live();
    const { tensors } = await loadSafetensors(`${dir}model.safetensors`, { backend });
    const name = [...tensors.keys()].find((k) => k.endsWith('model.norm.weight') && !k.includes('vision'))!;
    const f32 = tensors.get(name)!;
    tensors.set(name, zeros(f32.shape, { backend, dtype: 'i32' }));
    f32.dispose();
    await expect(loadVlm({ config: rawConfig, weights: tensors }, { backend })).rejects.toThrow(
      `tensor language_model.model.norm.weight is i32[${f32.shape[0]}] but the model computes in f32`,
    );
    expect(live()).toBe(before);
  });
});
