// The VLM in a browser page (Chromium), on the CPU backend and on WebGPU where the page has an
// adapter: the llava-tiny fixture loaded over HTTP (config, weights, tokenizer), logits within 1e-3
// of transformers' and the greedy answer token for token, streamed as in Node.
import { createBackend, loadSafetensors } from '@vl/tensor';
import { fixtureBackends, maxAbs } from '@vl/vitest-config/fixture-backends';
import { expect, test } from 'vitest';
import { loadVlm } from '../src/index.js';

const all = await fixtureBackends(createBackend, 'llava-tiny in the page');

// Served from the package root (Vite's root in the browser project).
const dir = new URL('/test/fixtures/llava-tiny/', location.origin);

test.each(all.map((b) => [b.kind, b] as const))(
  'llava-tiny on %s in the page gives the reference logits and answer',
  async (_, backend) => {
    const vlm = await loadVlm(dir, { backend });
    const { tensors: ref } = await loadSafetensors(new URL('reference.safetensors', dir), {
      backend,
      cache: false,
    });
    const px = ref.get('pixel_values')!;
    const inputIds = Array.from((await ref.get('input_ids')!.read()) as Int32Array);
    const generated = Array.from((await ref.get('generated')!.read()) as Int32Array).slice(inputIds.length);
    const logits = await vlm.forward([inputIds], px);
    expect(maxAbs(await logits.read(), await ref.get('logits')!.read())).toBeLessThan(1e-3);
    logits.dispose();
    const tokens: number[] = [];
    let text = '';
    for await (const piece of vlm.generate({ inputIds, images: [px] }, { maxNewTokens: 12 })) {
      tokens.push(piece.token);
      text += piece.text;
    }
    expect(tokens).toEqual(generated);
    expect(text).toBe(vlm.tokenizer!.decode(tokens));
    for (const t of ref.values()) t.dispose();
    vlm.dispose();
  },
  120_000,
);
