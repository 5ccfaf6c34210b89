// ClipModel.tuneWebGpu on the clip-tiny fixture: on WebGPU it tunes the products of both towers at
// the batch sizes asked for and both towers still match transformers afterwards; elsewhere it is a
// no-op; bad options and a disposed model are named. Small tiles, short timings: a software adapter compiles slowly.
import { type Backend, type Tensor, createBackend, tensor } from '@vl/tensor';
import { fixtureBackends, maxAbs } from '@vl/vitest-config/fixture-backends';
import { describe, expect, test } from 'vitest';
import { loadClip } from '../src/index.js';
import { clipTinyDir, clipTinyReference } from './clipTinyReference.js';

const { ref } = await clipTinyReference();
const all = await fixtureBackends(createBackend, 'clip-tiny'); // disposed after this file's tests

/** A reference tensor copied onto `backend`. */
async function on(backend: Backend, name: string): Promise<Tensor> {
  const t = ref.get(name)!;
  return tensor(await t.read(), t.shape, { backend, dtype: t.dtype });
}

describe.each(all.map((b) => [b.kind, b] as const))('ClipModel.tuneWebGpu on %s', (kind, backend) => {
  test('tunes both towers at the batch sizes given (WebGPU only); the outputs stay right', async () => {
    const clip = await loadClip(clipTinyDir, { backend });
    try {
      const pixels = await on(backend, 'pixel_values'); // [2, 3, 32, 32]
      const [batch] = pixels.shape as [number];
      const results = await clip.tuneWebGpu({
        imageBatch: batch,
        textBatch: 3,
        tiles: [{}],
        kSplits: [1, 2],
        targetMs: 2,
        minGain: 0,
      });
      if (kind !== 'webgpu') {
        expect(results).toEqual([]);
      } else {
        const keys = results.map((r) => r.key);
        // The vision MLP's first product at this batch (17 tokens of 64 channels, 128 out), and the
        // text tower's at 3 x 16 tokens.
        expect(keys).toContain(`1x${batch * 17}x128x64:nt:f32`);
        expect(keys).toContain('1x48x128x64:nt:f32');
        for (const r of results) expect(r.defaultMs > 0 && r.candidates.length > 0).toBe(true);
      }
      const features = clip.encodeImage(pixels);
      expect(maxAbs(await features.read(), await ref.get('vision_pooled')!.read())).toBeLessThan(1e-4);
      const [ids, mask] = [await on(backend, 'input_ids'), await on(backend, 'attention_mask')];
      const text = clip.encodeText(ids, mask);
      expect(maxAbs(await text.read(), await ref.get('text_pooled')!.read())).toBeLessThan(1e-4);
      for (const t of [features, pixels, text, ids, mask]) t.dispose();
    } finally {
      clip.dispose();
    }
  });

  test('bad batch sizes and a disposed model are named', async () => {
    const clip = await loadClip(clipTinyDir, { backend });
    try {
      await expect(clip.tuneWebGpu(null as never)).rejects.toThrow(
        'ClipModel.tuneWebGpu: options must be an object, got null',
      );
      await expect(clip.tuneWebGpu({ imageBatch: -1 })).rejects.toThrow(
        'ClipModel.tuneWebGpu: imageBatch must be an integer >= 0, got -1',
      );
      await expect(clip.tuneWebGpu({ textBatch: 1.5 })).rejects.toThrow(
        'ClipModel.tuneWebGpu: textBatch must be an integer >= 0, got 1.5',
      );
    } finally {
      clip.dispose();
    }
    await expect(clip.tuneWebGpu()).rejects.toThrow('ClipModel: used after dispose()');
  });
});
