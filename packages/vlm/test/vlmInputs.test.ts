// Inputs of the task API that used to fail in misleading ways: an abort whose thrown value depended
// on when it landed, a ragged batch whose padding id was the image token or outside the vocabulary,
// batch errors that did not say which prompt, an i32 image, a chat message without a role, and
// forward() rows that are not integer ids. Every error path leaves no tensor behind. CPU only: none
// of this depends on the backend; nothing here depends on timing.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tensor, createBackend, loadSafetensors, tensor } from '@vl/tensor';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type VlmModel, type VlmPrompt, loadVlm } from '../src/index.js';

const dir = fileURLToPath(new URL('./fixtures/llava-tiny/', import.meta.url));
const rawConfig = JSON.parse(readFileSync(`${dir}config.json`, 'utf8'));
const backend = await createBackend('cpu');
const live = () => backend.stats().liveTensors;
let vlm: VlmModel;
let ref: Map<string, Tensor>;
let px: Tensor; // [1, 3, 32, 32]
let inputIds: number[];

/** Each prompt's tokens (greedy, no stop tokens). */
async function tokensOf(
  model: VlmModel,
  prompt: VlmPrompt | readonly VlmPrompt[],
  maxNewTokens = 4,
): Promise<number[][]> {
  const out: number[][] = [];
  for await (const { index, token } of model.generate(prompt, { maxNewTokens, stopTokens: [] }))
    (out[index] ??= []).push(token);
  return out;
}

beforeAll(async () => {
  vlm = await loadVlm(dir, { backend });
  ref = (await loadSafetensors(`${dir}reference.safetensors`, { backend })).tensors;
  px = ref.get('pixel_values')!;
  inputIds = Array.from((await ref.get('input_ids')!.read()) as Int32Array);
  // The first pass fuses the vision tower's q, k and v once; counts below start after it.
  await tokensOf(vlm, { inputIds, images: [px] }, 1);
});
afterAll(() => {
  vlm.dispose();
  for (const t of ref.values()) t.dispose();
  backend.dispose();
});

describe('abort', () => {
  /** Aborts with `reason` after the third token, as `how` says; returns what the loop threw. */
  async function abortAfterThree(reason: unknown, how: 'in the loop body' | 'in a resolved promise') {
    const controller = new AbortController();
    const tokens: number[] = [];
    let thrown: unknown = 'nothing was thrown';
    try {
      for await (const { token } of vlm.generate(
        { inputIds, images: [px] },
        { maxNewTokens: 12, stopTokens: [], signal: controller.signal },
      )) {
        tokens.push(token);
        if (tokens.length !== 3) continue;
        if (how === 'in the loop body') controller.abort(reason);
        // Lands while the generator runs its next step (between its awaits), not in the body.
        else void Promise.resolve().then(() => controller.abort(reason));
      }
    } catch (e) {
      thrown = e;
    }
    return { thrown, tokens, signal: controller.signal };
  }

  test.each(['in the loop body', 'in a resolved promise'] as const)(
    'the iterator throws exactly the signal reason, aborted %s, and frees everything',
    async (how) => {
      const before = live();
      const error = new Error('closed the tab');
      for (const reason of ['user stop', error, 42]) {
        const { thrown, tokens } = await abortAfterThree(reason, how);
        expect(thrown).toBe(reason);
        // No token comes after the abort once the generator has seen it.
        expect(tokens.length).toBeLessThanOrEqual(4);
        expect(tokens.length).toBeGreaterThanOrEqual(3);
      }
      // abort() without a reason: the signal's own AbortError (a DOMException), not a copy.
      const { thrown, signal } = await abortAfterThree(undefined, how);
      expect(thrown).toBe(signal.reason);
      expect(thrown).toMatchObject({ name: 'AbortError' });
      expect(live()).toBe(before);
    },
  );
});

describe('left padding of a ragged batch', () => {
  test.each([
    [299, 'the image token'],
    [1000, 'outside the vocabulary'],
    [-1, 'negative'],
  ])('pad_token_id %i (%s) does not change the answers', async (pad) => {
    const before = live();
    const weights = `${dir}model.safetensors`;
    const padded = await loadVlm(
      { config: { ...rawConfig, text_config: { ...rawConfig.text_config, pad_token_id: pad } }, weights },
      { backend },
    );
    try {
      const image = { inputIds, images: [px] };
      const text = { inputIds: [1, 50, 60, 70] };
      const [alone0] = await tokensOf(vlm, image, 5);
      const [alone1] = await tokensOf(vlm, text, 5);
      expect(await tokensOf(padded, [image, text], 5)).toEqual([alone0, alone1]);
    } finally {
      padded.dispose();
    }
    expect(live()).toBe(before);
  });
});

describe('errors in a batch say which prompt', () => {
  const good = () => ({ inputIds: [1, 299, 5], images: [px] });
  const cases: [string, () => VlmPrompt, string][] = [
    [
      'an image of the wrong size',
      () => ({
        inputIds: [1, 299, 5],
        images: [tensor(new Float32Array(3 * 16 * 16), [3, 16, 16], { backend })],
      }),
      'VlmModel: prompt 1: image 0 must be pixels [3, 32, 32] or [n, 3, 32, 32], got f32[3, 16, 16]',
    ],
    [
      'placeholders that do not match the images',
      () => ({ inputIds: [1, 299, 299, 5], images: [px] }),
      'VlmModel: prompt 1: the prompt has 2 image placeholder tokens (id 299) for 1 image(s); expected one per image, or 16 per image',
    ],
    [
      'an unknown chat role',
      () => [{ role: 'robot' as 'user', content: 'hi' }],
      'VlmModel: prompt 1: chat: unknown chat role "robot" in message 0 (expected one of system, user, assistant)',
    ],
    [
      'an image part without an image',
      () => [{ role: 'user', content: [{ type: 'image' }] }],
      'VlmModel: prompt 1: chat: message 0 part 0 is an image part without an image',
    ],
    [
      'a picture that is not an image',
      () => ({ inputIds: [1, 299, 5], images: [null as never] }),
      'VlmModel: prompt 1: preprocessToTensor(): image 0: expected an image, got null',
    ],
  ];
  test.each(cases)('%s in prompt 1, nothing left allocated', async (_, second, message) => {
    const prompt = second();
    const made =
      'images' in prompt ? (prompt.images ?? []).filter((t) => t instanceof Tensor && t !== px) : [];
    const before = live();
    await expect(tokensOf(vlm, [good(), prompt])).rejects.toThrow(message);
    expect(live()).toBe(before);
    for (const t of made) (t as Tensor).dispose();
  });

  test('a single prompt keeps its message without the prefix', async () => {
    await expect(tokensOf(vlm, { inputIds: [1, 299, 299, 5], images: [px] })).rejects.toThrow(
      /^VlmModel: the prompt has 2 image placeholder tokens/,
    );
  });

  test('an i32 image tensor is named, alone and in a batch', async () => {
    const i32 = tensor(new Int32Array(3 * 32 * 32), [3, 32, 32], { backend, dtype: 'i32' });
    const before = live();
    await expect(tokensOf(vlm, { inputIds: [1, 299, 5], images: [i32] })).rejects.toThrow(
      'VlmModel: image 0 must be f32 pixels, got i32[3, 32, 32]',
    );
    await expect(tokensOf(vlm, [good(), { inputIds: [1, 299, 5, 299], images: [px, i32] }])).rejects.toThrow(
      'VlmModel: prompt 1: image 1 must be f32 pixels, got i32[3, 32, 32]',
    );
    expect(live()).toBe(before);
    i32.dispose();
  });

  test('a chat message without a role says so', async () => {
    const message = 'chat: message 0 has no role (expected one of system, user, assistant)';
    await expect(tokensOf(vlm, [{ content: 'hi' } as never])).rejects.toThrow(message);
    await expect(tokensOf(vlm, [{ rol: 'user', content: 'hi' } as never])).rejects.toThrow(message);
    await expect(
      tokensOf(vlm, [{ role: 'system', content: 'be brief' }, { content: 'hi' } as never]),
    ).rejects.toThrow('chat: message 1 has no role (expected one of system, user, assistant)');
    await expect(tokensOf(vlm, [good(), [{ content: 'hi' } as never]])).rejects.toThrow(
      `VlmModel: prompt 1: ${message}`,
    );
  });
});

describe('forward with token id rows', () => {
  const where = 'VlmModel.forward: inputIds';
  test.each([
    [[[1, '2']], `${where}[0][1] must be an integer token id in [0, 300) (vocab_size), got "2"`],
    [[[1, 1.5]], `${where}[0][1] must be an integer token id in [0, 300) (vocab_size), got 1.5`],
    [[[1, Number.NaN]], `${where}[0][1] must be an integer token id in [0, 300) (vocab_size), got NaN`],
    [
      [
        [1, 2],
        [3, 300],
      ],
      `${where}[1][1] must be an integer token id in [0, 300) (vocab_size), got 300`,
    ],
    [[[1, 2], 5], `${where}[1] must be an array or Int32Array of token ids, got 5`],
    [5, `${where} must be an i32 tensor [B, T] or an array of token id rows, got 5`],
    ['12', `${where} must be an i32 tensor [B, T] or an array of token id rows, got "12"`],
  ])('%j is refused with a message naming the id', async (rows, message) => {
    const before = live();
    await expect(vlm.forward(rows as never)).rejects.toThrow(message);
    expect(live()).toBe(before);
  });

  test('a non-array input is a TypeError naming inputIds, a bad id a RangeError', async () => {
    const thrown = async (rows: unknown) => vlm.forward(rows as never).catch((e: unknown) => e);
    const notRows = await thrown({ 0: [1, 2] });
    expect(notRows).toBeInstanceOf(TypeError);
    expect((notRows as Error).message).toBe(
      `${where} must be an i32 tensor [B, T] or an array of token id rows, got an object`,
    );
    expect(await thrown([[1, -1]])).toBeInstanceOf(RangeError);
  });

  test('good rows, the image token among them, still give logits', async () => {
    const logits = await vlm.forward([Int32Array.from(inputIds)], px);
    expect(logits.shape).toEqual([1, inputIds.length, 300]);
    logits.dispose();
  });
});
