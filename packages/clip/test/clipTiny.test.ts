// Every output of HF transformers' CLIPModel on the clip-tiny fixture (random weights, real
// architecture and tensor names), on the CPU and through WebGPU (Dawn), within the fixture's
// tolerances: 1e-4 on hidden states and embeddings, 1e-3 on logits and the loss.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Tensor, createBackend, loadSafetensors, tidy } from '@vl/tensor';
import { fixtureBackends, maxAbs } from '@vl/vitest-config/fixture-backends';
import { describe, expect, test } from 'vitest';
import {
  clipLogits,
  clipLoss,
  clipTextForward,
  clipVisionForward,
  getImageFeatures,
  fuseQkvProjections,
  getTextFeatures,
  l2Normalize,
  parseClipConfig,
  storeLinearWeights,
} from '../src/index.js';

const dir = fileURLToPath(new URL('./fixtures/clip-tiny/', import.meta.url));
const config = parseClipConfig(JSON.parse(readFileSync(`${dir}config.json`, 'utf8')));

const all = await fixtureBackends(createBackend, 'clip-tiny'); // disposed after this file's tests

describe.each(all.map((b) => [b.kind, b] as const))('clip-tiny on %s', (_, backend) => {
  // Fused: each block's q, k and v as one qkv product read by attentionQkv (what ClipModel runs on WebGPU).
  test.each([false, true])(
    'every output matches transformers within the fixture tolerances (fused qkv: %s)',
    async (fused) => {
      const { tensors: loaded } = await loadSafetensors(`${dir}model.safetensors`, { backend });
      const qkv = fused ? fuseQkvProjections(loaded) : new Map<string, Tensor>();
      if (fused)
        expect(qkv.size).toBe(
          2 * (config.vision_config.num_hidden_layers + config.text_config.num_hidden_layers),
        );
      const params = new Map([...loaded, ...qkv]);
      const { tensors: ref } = await loadSafetensors(`${dir}reference.safetensors`, { backend });
      const r = (name: string) => ref.get(name)!;
      const out = tidy(() => {
        const vision = clipVisionForward(params, r('pixel_values'), config.vision_config);
        const text = clipTextForward(params, r('input_ids'), r('attention_mask'), config.text_config);
        const imageFeatures = getImageFeatures(params, r('pixel_values'), config);
        const textFeatures = getTextFeatures(params, r('input_ids'), r('attention_mask'), config);
        const imageEmbeds = l2Normalize(imageFeatures);
        const textEmbeds = l2Normalize(textFeatures);
        const { logitsPerImage, logitsPerText } = clipLogits(
          imageEmbeds,
          textEmbeds,
          params.get('logit_scale')!,
        );
        return {
          vision_last_hidden_state: vision.lastHiddenState,
          text_last_hidden_state: text.lastHiddenState,
          vision_pooled: imageFeatures,
          text_pooled: textFeatures,
          image_embeds: imageEmbeds,
          text_embeds: textEmbeds,
          logits_per_image: logitsPerImage,
          loss: clipLoss(logitsPerText),
        } satisfies Record<string, Tensor>;
      });
      const report: string[] = [];
      for (const [name, t] of Object.entries(out)) {
        const tol = name.startsWith('logits') || name === 'loss' ? 1e-3 : 1e-4;
        const err = maxAbs(await t.read(), await r(name).read());
        report.push(`${name}: ${err.toExponential(2)}`);
        expect(err, `${name} on ${backend.kind}`).toBeLessThanOrEqual(tol);
      }
      console.log(
        `clip-tiny on ${backend.name}${fused ? ', fused qkv' : ''}: max abs error ${report.join(', ')}`,
      );
      for (const t of [...Object.values(out), ...params.values(), ...ref.values()]) t.dispose();
      expect(backend.stats().liveTensors).toBe(0);
    },
  );

  // Linear weights stored smaller (cast / quantizeWeight on this backend), read by matmul's kernels;
  // f16 blocks fuse into one qkv product, q8 ones keep three. Bounds: 1 - cosine with the f32 embeddings.
  test.each([
    ['f16', 1e-6],
    ['q8', 5e-4],
  ] as const)('linear weights stored as %s stay near transformers', async (dtype, tolerance) => {
    const { tensors: loaded } = await loadSafetensors(`${dir}model.safetensors`, { backend });
    const stored = storeLinearWeights(loaded, dtype);
    expect(stored.get('vision_model.encoder.layers.1.mlp.fc2.weight')!.dtype).toBe(dtype);
    const qkv = fuseQkvProjections(stored);
    expect(qkv.size).toBe(dtype === 'f16' ? 8 : 0);
    const params = new Map([...stored, ...qkv]);
    const { tensors: ref } = await loadSafetensors(`${dir}reference.safetensors`, { backend });
    const r = (name: string) => ref.get(name)!;
    const [image, text] = tidy(() => [
      l2Normalize(getImageFeatures(params, r('pixel_values'), config)),
      l2Normalize(getTextFeatures(params, r('input_ids'), r('attention_mask'), config)),
    ]);
    for (const [got, name] of [
      [image!, 'image_embeds'],
      [text!, 'text_embeds'],
    ] as const) {
      const [g, w] = [await got.read(), await r(name).read()];
      const width = got.shape[1]!;
      for (let i = 0; i < got.shape[0]!; i++) {
        let dot = 0;
        for (let j = 0; j < width; j++) dot += g[i * width + j]! * w[i * width + j]!;
        expect(1 - dot, `${name} row ${i} on ${backend.kind}`).toBeLessThan(tolerance);
      }
    }
    for (const t of new Set([image!, text!, ...params.values(), ...ref.values()])) t.dispose();
    expect(backend.stats().liveTensors).toBe(0);
  });
});

test('fuseQkvProjections fuses only the first `layers` blocks of each encoder when asked', async () => {
  const { tensors: loaded } = await loadSafetensors(`${dir}model.safetensors`, { backend: all[0]! });
  const fused = fuseQkvProjections(loaded, { layers: 1 });
  try {
    expect([...fused.keys()].sort()).toEqual([
      'text_model.encoder.layers.0.self_attn.qkv_proj.bias',
      'text_model.encoder.layers.0.self_attn.qkv_proj.weight',
      'vision_model.encoder.layers.0.self_attn.qkv_proj.bias',
      'vision_model.encoder.layers.0.self_attn.qkv_proj.weight',
    ]);
    const C = config.vision_config.hidden_size;
    expect(fused.get('vision_model.encoder.layers.0.self_attn.qkv_proj.weight')!.shape).toEqual([3 * C, C]);
    expect(fuseQkvProjections(loaded, { layers: 0 }).size).toBe(0);
    for (const layers of [-1, 1.5, Number.NaN])
      expect(() => fuseQkvProjections(loaded, { layers })).toThrow(
        `fuseQkvProjections: options.layers must be an integer >= 0, got ${layers}`,
      );
  } finally {
    for (const t of [...fused.values(), ...loaded.values()]) t.dispose();
  }
});
