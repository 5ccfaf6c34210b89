// HF transformers' LlavaForConditionalGeneration on the llava-tiny fixture (random weights, the real
// architecture and tensor names: CLIP vision tower, projector, Llama decoder with GQA, RoPE,
// RMSNorm, SwiGLU), on the CPU and through WebGPU (Dawn): logits within 1e-3 of the reference and
// the 12 greedy tokens of generate() identical, through forward() and through the KV-cache loop.
import { fileURLToPath } from 'node:url';
import { type Tensor, createBackend, loadSafetensors } from '@vl/tensor';
import { fixtureBackends, maxAbs } from '@vl/vitest-config/fixture-backends';
import { describe, expect, test } from 'vitest';
import { type VlmModel, loadVlm } from '../src/index.js';

const dir = fileURLToPath(new URL('./fixtures/llava-tiny/', import.meta.url));

const all = await fixtureBackends(createBackend, 'llava-tiny'); // disposed after this file's tests

describe.each(all.map((b) => [b.kind, b] as const))('llava-tiny on %s', (_, backend) => {
  let vlm: VlmModel;
  let ref: Map<string, Tensor>;
  let inputIds: number[];
  let generated: number[];

  test('loads', async () => {
    vlm = await loadVlm(dir, { backend });
    ref = (await loadSafetensors(`${dir}reference.safetensors`, { backend })).tensors;
    inputIds = Array.from((await ref.get('input_ids')!.read()) as Int32Array);
    generated = Array.from((await ref.get('generated')!.read()) as Int32Array);
    expect(vlm.imageTokens).toBe(16);
    expect(generated.slice(0, inputIds.length)).toEqual(inputIds);
  });

  test('logits match the reference within 1e-3', async () => {
    const logits = await vlm.forward(ref.get('input_ids')!, ref.get('pixel_values')!);
    expect(logits.shape).toEqual([1, 24, 300]);
    const err = maxAbs(await logits.read(), await ref.get('logits')!.read());
    logits.dispose();
    expect(err).toBeLessThan(1e-3);
  });

  test('the vision tower with q, k and v as three products (the default fuses them) gives the same logits', async () => {
    const before = backend.stats().liveTensors;
    const other = await loadVlm(dir, { backend, fuseQkv: false });
    const logits = await other.forward(ref.get('input_ids')!, ref.get('pixel_values')!);
    const err = maxAbs(await logits.read(), await ref.get('logits')!.read());
    logits.dispose();
    other.dispose();
    expect(err).toBeLessThan(1e-3);
    expect(backend.stats().liveTensors).toBe(before);
  });

  test('greedy generation gives the reference tokens (KV cache, one prefill pass)', async () => {
    const before = backend.stats().liveTensors;
    const tokens: number[] = [];
    for await (const { index, token } of vlm.generate(
      { inputIds, images: [ref.get('pixel_values')!] },
      { maxNewTokens: 12 },
    )) {
      expect(index).toBe(0);
      tokens.push(token);
    }
    expect(tokens).toEqual(generated.slice(inputIds.length));
    // The cache and every intermediate are released.
    expect(backend.stats().liveTensors).toBe(before);
  });

  test('one placeholder per image expands to the image tokens', async () => {
    const collapsed = inputIds.filter((t, i) => t !== 299 || inputIds[i - 1] !== 299);
    expect(vlm.encodePrompt({ inputIds: collapsed, images: [ref.get('pixel_values')!] })).toEqual(inputIds);
    const tokens: number[] = [];
    for await (const { token } of vlm.generate(
      { inputIds: collapsed, images: [ref.get('pixel_values')!] },
      { maxNewTokens: 4 },
    )) {
      tokens.push(token);
    }
    expect(tokens).toEqual(generated.slice(inputIds.length, inputIds.length + 4));
  });

  test('a batch of prompts of different lengths gives each prompt its own greedy tokens', async () => {
    const px = ref.get('pixel_values')!;
    const text = [1, 10, 11, 12, 20, 21];
    // Each prompt alone, then both together (left padding, per-row positions and mask).
    const alone: number[] = [];
    for await (const { token } of vlm.generate({ inputIds: text }, { maxNewTokens: 6 })) alone.push(token);
    const rows: number[][] = [[], []];
    for await (const { index, token } of vlm.generate([{ inputIds: text }, { inputIds, images: [px] }], {
      maxNewTokens: 6,
    })) {
      rows[index]!.push(token);
    }
    expect(rows[1]).toEqual(generated.slice(inputIds.length, inputIds.length + 6));
    expect(rows[0]).toEqual(alone);
  });

  test('two images in one prompt, interleaved with text', async () => {
    const px = ref.get('pixel_values')!;
    const ids = [1, 10, 299, 11, 12, 299, 20];
    const expanded = vlm.encodePrompt({ inputIds: ids, images: [px, px] });
    expect(expanded.length).toBe(ids.length - 2 + 32);
    const logits = await vlm.forward([expanded], (await import('@vl/tensor')).concat([px, px], 0));
    expect(logits.shape).toEqual([1, expanded.length, 300]);
    // The first image's part of the sequence equals a one-image prompt cut there (causal decoder).
    const cut = expanded.slice(0, 2 + 16);
    const first = await vlm.forward([cut], px);
    const a = (await logits.read()) as Float32Array;
    const b = (await first.read()) as Float32Array;
    expect(maxAbs(a.subarray(0, b.length), b)).toBeLessThan(1e-4);
    logits.dispose();
    first.dispose();
  });

  test('sampling is seeded: the same seed gives the same tokens', async () => {
    const run = async (seed: number) => {
      const out: number[] = [];
      for await (const { token } of vlm.generate(
        { inputIds, images: [ref.get('pixel_values')!] },
        { maxNewTokens: 8, temperature: 1.5, topK: 50, topP: 0.95, repetitionPenalty: 1.3, seed },
      )) {
        out.push(token);
      }
      return out;
    };
    const a = await run(7);
    expect(a).toHaveLength(8);
    expect(await run(7)).toEqual(a);
    const others = await Promise.all([run(8), run(9)]);
    expect(others.some((o) => o.join() !== a.join())).toBe(true);
  });

  test('disposes', () => {
    vlm.dispose();
    for (const t of ref.values()) t.dispose();
  });
});
