// The VLM in a browser page (Chromium), on the CPU backend and on WebGPU where the page has an
// adapter: the llava-tiny fixture loaded over HTTP (config, weights, tokenizer), logits within 1e-3
// of transformers' and the greedy answer token for token, streamed as in Node.
import { type Backend, createBackend, loadSafetensors } from '@vl/tensor';
import { expect, test } from 'vitest';
import { loadVlm } from '../src/index.js';

declare const __VL_REQUIRE_WEBGPU__: string;
const required = __VL_REQUIRE_WEBGPU__ !== '' && __VL_REQUIRE_WEBGPU__ !== '0';

// Served from the package root (Vite's root in the browser project).
const dir = new URL('/test/fixtures/llava-tiny/', location.origin);

test.each(['cpu', 'webgpu'] as const)(
  'llava-tiny on %s in the page gives the reference logits and answer',
  async (kind) => {
    let backend: Backend;
    try {
      backend = await createBackend(kind);
    } catch (e) {
      if (kind === 'webgpu' && (e as Error).name === 'WebGpuUnavailableError' && !required) {
        console.warn(
          `*** WebGPU UNAVAILABLE in the browser: llava-tiny on webgpu is NOT running (${(e as Error).message}) ***`,
        );
        return;
      }
      throw e;
    }
    try {
      const vlm = await loadVlm(dir, { backend });
      const { tensors: ref } = await loadSafetensors(new URL('reference.safetensors', dir), {
        backend,
        cache: false,
      });
      const px = ref.get('pixel_values')!;
      const inputIds = Array.from((await ref.get('input_ids')!.read()) as Int32Array);
      const generated = Array.from((await ref.get('generated')!.read()) as Int32Array).slice(inputIds.length);
      const logits = await vlm.forward([inputIds], px);
      const got = (await logits.read()) as Float32Array;
      const want = (await ref.get('logits')!.read()) as Float32Array;
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
      expect(err).toBeLessThan(1e-3);
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
    } finally {
      backend.dispose();
    }
  },
  120_000,
);
