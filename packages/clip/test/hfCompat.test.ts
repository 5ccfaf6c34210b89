// HF checkpoints loadClip must refuse by name (other model types, towers without a projection,
// configs that do not match the weights), pooling chosen explicitly, and torchvision's crop.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor } from '@vl/tensor';
import { describe, expect, test } from 'vitest';
import { centerCrop, clipTextForward, loadClip, parseClipConfig } from '../src/index.js';
import { clipTinyReference, clipTinyDir as dir } from './clipTinyReference.js';

const { backend } = await clipTinyReference();
const tinyConfig = () => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));

function folderWith(config: unknown, weights = true): string {
  const folder = mkdtempSync(join(tmpdir(), 'vl-clip-hf-'));
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
  if (weights) copyFileSync(join(dir, 'model.safetensors'), join(folder, 'model.safetensors'));
  return folder;
}

async function expectRejectsCleanly(folder: string, message: string | RegExp): Promise<void> {
  const before = backend.stats().liveTensors;
  await expect(loadClip(folder, { backend })).rejects.toThrow(message);
  expect(backend.stats().liveTensors).toBe(before);
}

describe('configs loadClip refuses by name', () => {
  test('a CLIP-like model_type that is not CLIP (siglip, chinese_clip, metaclip_2)', async () => {
    for (const type of ['siglip', 'chinese_clip', 'metaclip_2']) {
      await expectRejectsCleanly(
        folderWith({ ...tinyConfig(), model_type: type }),
        `not a transformers CLIP config (its model_type is the string "${type}", not one of clip, clip_text_model, clip_vision_model`,
      );
    }
  });

  test("timm's config.json without open_clip files is refused, not read as ViT-B/32 defaults", async () => {
    const timm = { architecture: 'vit_base_patch16_clip_224', num_classes: 512 };
    await expectRejectsCleanly(
      folderWith(timm),
      /config\.json: not a transformers CLIP config \(it has no model_type and no text_config or vision_config\), and there is no open_clip_config\.json/,
    );
  });

  test('CLIPTextModel and CLIPVisionModel (no projection) are refused, saying why', async () => {
    await expectRejectsCleanly(
      folderWith({ ...tinyConfig(), architectures: ['CLIPTextModel'] }),
      'architectures CLIPTextModel has no text_projection, so its pooled output is not in the joint image-text embedding space',
    );
    await expectRejectsCleanly(
      folderWith({ ...tinyConfig(), architectures: ['CLIPVisionModel'] }),
      'load a CLIPVisionModelWithProjection or CLIPModel checkpoint',
    );
  });

  test('layers beyond num_hidden_layers are an error naming them', async () => {
    const config = tinyConfig();
    config.text_config.num_hidden_layers = 1;
    await expectRejectsCleanly(
      folderWith(config),
      /tensors its config does not use, so it describes another model: text_model\.encoder\.layers\.1\..*beyond the layer count/,
    );
  });

  test('a folder with no safetensors says to convert the PyTorch file', async () => {
    await expectRejectsCleanly(
      folderWith(tinyConfig(), false),
      'a folder with pytorch_model.bin alone needs it converted to model.safetensors first',
    );
  });
});

test("an explicit pool_type 'eos' pools at the first eos_token_id even when it is 2 (MetaCLIP 2)", async () => {
  const model = await loadClip(dir, { backend });
  const ids = tensor(new Int32Array([5, 2, 9, 300, 2, 0, 0, 0]), [1, 8], { backend, dtype: 'i32' });
  const eos = { ...model.config.text_config, eos_token_id: 2, pool_type: 'eos' as const };
  const { lastHiddenState, pooled } = clipTextForward(model.params, ids, undefined, eos);
  const [h, p] = [await lastHiddenState.read(), await pooled.read()];
  const C = eos.hidden_size;
  expect([...p]).toEqual([...h.subarray(1 * C, 2 * C)]); // the first 2, not the argmax (300)
  const legacy = clipTextForward(model.params, ids, undefined, { ...eos, pool_type: undefined });
  expect([...(await legacy.pooled.read())]).toEqual([...h.subarray(3 * C, 4 * C)]); // HF's eos 2: argmax
  for (const t of [ids, lastHiddenState, pooled, legacy.lastHiddenState, legacy.pooled]) t.dispose();
  model.dispose();
  expect(() =>
    parseClipConfig({
      ...tinyConfig(),
      model_type: undefined,
      text_config: undefined,
      vision_config: undefined,
    }),
  ).toThrow('no model_type and no text_config or vision_config');
});

test('text_config_dict and vision_config_dict win over text_config and vision_config, as in transformers', () => {
  // transformers rebuilds a tower from its *_dict and its own defaults alone: every field of the
  // plain section is overridden, the ones the dict does not name by their defaults.
  const config = parseClipConfig({
    model_type: 'clip',
    projection_dim: 768,
    text_config: { hidden_size: 512, num_hidden_layers: 3, max_position_embeddings: 32 },
    text_config_dict: { hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12 },
    vision_config: { hidden_size: 1024, patch_size: 14, image_size: 336 },
    vision_config_dict: {
      hidden_size: 1024,
      patch_size: 14,
      intermediate_size: 4096,
      num_attention_heads: 16,
    },
  });
  expect(config.text_config).toMatchObject({
    hidden_size: 768,
    intermediate_size: 3072,
    num_attention_heads: 12,
    num_hidden_layers: 12, // the default, not text_config's 3
    max_position_embeddings: 77,
  });
  expect(config.vision_config).toMatchObject({ hidden_size: 1024, patch_size: 14, image_size: 224 });
  // null is no dict; a dict of the wrong type, or a field of one, is named as such.
  expect(
    parseClipConfig({
      model_type: 'clip',
      text_config: { hidden_size: 256, num_attention_heads: 4 },
      text_config_dict: null,
    }).text_config.hidden_size,
  ).toBe(256);
  expect(() => parseClipConfig({ model_type: 'clip', vision_config_dict: [] })).toThrow(
    'CLIP config: vision_config_dict must be an object, got an array',
  );
  expect(() => parseClipConfig({ model_type: 'clip', text_config_dict: { hidden_size: '768' } })).toThrow(
    'CLIP config: text_config_dict.hidden_size: expected a number, got the string "768"',
  );
});

test("torchvision's center crop rounds the corner half to even and pads floor(margin / 2) before", () => {
  const image = {
    data: Uint8Array.from({ length: 7 * 3 }, (_, i) => Math.floor(i / 3)),
    width: 7,
    height: 1,
  };
  const red = (img: { data: Uint8Array }) => [...img.data.filter((_, i) => i % 3 === 0)];
  expect(red(centerCrop(image, 4, 1))).toEqual([1, 2, 3, 4]); // HF: floor(1.5) = 1
  expect(red(centerCrop(image, 4, 1, 'torchvision'))).toEqual([2, 3, 4, 5]); // round(1.5) = 2
  expect(red(centerCrop(image, 10, 1))).toEqual([0, 0, 0, 1, 2, 3, 4, 5, 6, 0]); // HF: ceil(3 / 2) before
  expect(red(centerCrop(image, 10, 1, 'torchvision'))).toEqual([0, 0, 1, 2, 3, 4, 5, 6, 0, 0]);
});
