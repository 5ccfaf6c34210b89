// Bad inputs to loadClip, the config parser, the image helpers and loadImage: each is an error that
// names the argument, field, file or tensor and its value, never an internal error or a silent
// fallback that fails later with a misleading message.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Tensor, cast, loadSafetensors, saveSafetensors } from '@vl/tensor';
import { describe, expect, test } from 'vitest';
import { type ClipCheckpoint, loadClip, loadImage, parseClipConfig, toRgbImage } from '../src/index.js';
import { clipTinyReference, clipTinyDir as dir } from './clipTinyReference.js';

const tinyConfig = () => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
const { backend, ref } = await clipTinyReference();

/** A folder with the clip-tiny weights and `config` (edited from the fixture's) as config.json. */
function folderWith(config: unknown, weights: Uint8Array | 'fixture' | 'none' = 'fixture'): string {
  const folder = mkdtempSync(join(tmpdir(), 'vl-clip-inputs-'));
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
  if (weights === 'fixture') copyFileSync(join(dir, 'model.safetensors'), join(folder, 'model.safetensors'));
  else if (weights !== 'none') writeFileSync(join(folder, 'model.safetensors'), weights);
  return folder;
}

/** The clip-tiny weights with `change` applied to each tensor, saved as safetensors bytes. */
async function tinyWeights(change: (name: string, t: Tensor) => Tensor): Promise<Uint8Array> {
  const { tensors } = await loadSafetensors(join(dir, 'model.safetensors'), { backend });
  const changed = new Map([...tensors].map(([name, t]) => [name, change(name, t)]));
  const bytes = await saveSafetensors(changed);
  for (const t of new Set([...tensors.values(), ...changed.values()])) t.dispose();
  return bytes;
}

async function expectRejectsCleanly(load: Promise<unknown>, message: string | RegExp): Promise<void> {
  const before = backend.stats().liveTensors;
  await expect(load).rejects.toThrow(message);
  expect(backend.stats().liveTensors).toBe(before);
}

describe('config sanity is checked at parse, naming the fields and values', () => {
  test('hidden_size that does not split into the heads (vision and text)', async () => {
    const vision = tinyConfig();
    vision.vision_config.num_attention_heads = 5;
    await expectRejectsCleanly(
      loadClip(folderWith(vision), { backend }),
      /config\.json: CLIP config: vision_config\.hidden_size 64 is not a multiple of vision_config\.num_attention_heads 5/,
    );
    const text = tinyConfig();
    text.text_config.num_attention_heads = 3;
    expect(() => parseClipConfig(text)).toThrow(
      'text_config.hidden_size 64 is not a multiple of text_config.num_attention_heads 3',
    );
  });

  test('sizes must be positive integers and the image must split into patches', () => {
    const edit = (f: (c: Record<string, Record<string, unknown>>) => void) => {
      const c = tinyConfig();
      f(c);
      return () => parseClipConfig(c);
    };
    expect(
      edit((c) => {
        c.vision_config!.image_size = 0;
      }),
    ).toThrow('vision_config.image_size must be a positive integer, got 0');
    expect(
      edit((c) => {
        c.vision_config!.image_size = 36;
      }),
    ).toThrow('vision_config.image_size 36 is not a multiple of vision_config.patch_size 8');
    expect(
      edit((c) => {
        c.text_config!.intermediate_size = 12.5;
      }),
    ).toThrow('text_config.intermediate_size must be a positive integer, got 12.5');
    expect(
      edit((c) => {
        c.text_config!.num_attention_heads = -4;
      }),
    ).toThrow('text_config.num_attention_heads must be a positive integer, got -4');
    expect(
      edit((c) => {
        c.vision_config!.conv_stem_channels = [8, 16, 32, 64];
      }),
    ).toThrow(
      'vision_config.image_size 32 halved by the 4 conv_stem_channels stages (2) is not a multiple of vision_config.patch_size 8',
    );
  });

  test('a present field of the wrong type is an error naming it, not a fallback to the default', async () => {
    const config = tinyConfig();
    config.projection_dim = '32';
    await expectRejectsCleanly(
      loadClip(folderWith(config), { backend }),
      'projection_dim: expected a number, got the string "32"',
    );
    const nulled = tinyConfig();
    nulled.vision_config.hidden_size = null;
    expect(() => parseClipConfig(nulled)).toThrow('vision_config.hidden_size: expected a number, got null');
    // Token ids HF leaves unset are written as null: the default applies.
    const unsetPad = tinyConfig();
    unsetPad.text_config.pad_token_id = null;
    expect(parseClipConfig(unsetPad).text_config.pad_token_id).toBe(1);
  });

  test('a tower config that is not an object, or a config that is not an object, is rejected', async () => {
    const config = tinyConfig();
    config.text_config = null;
    await expectRejectsCleanly(
      loadClip(folderWith(config), { backend }),
      'CLIP config: text_config must be an object, got null',
    );
    expect(() => parseClipConfig({ ...tinyConfig(), vision_config: [] })).toThrow(
      'vision_config must be an object, got an array',
    );
    expect(() => parseClipConfig([])).toThrow('CLIP config: expected a JSON object, got an array');
    await expectRejectsCleanly(
      loadClip(folderWith([]), { backend }),
      /config\.json: CLIP config: expected a JSON object, got an array/,
    );
  });

  test('architectures that is not a list of class names is named', async () => {
    await expectRejectsCleanly(
      loadClip(folderWith({ ...tinyConfig(), architectures: [42] }), { backend }),
      'architectures must be an array of class names, got an array ([42])',
    );
  });

  test('an open_clip model_cfg that is missing or does not divide is named', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'vl-clip-oc-'));
    writeFileSync(join(folder, 'open_clip_config.json'), JSON.stringify({ preprocess_cfg: {} }));
    await expectRejectsCleanly(
      loadClip(folder, { backend }),
      /open_clip_config\.json: open_clip config: model_cfg must be an object, got undefined/,
    );
    const modelCfg = {
      embed_dim: 32,
      vision_cfg: { image_size: 32, layers: 2, width: 64, patch_size: 8, head_width: 24 },
      text_cfg: { context_length: 16, vocab_size: 512, width: 64, heads: 4, layers: 2 },
    };
    writeFileSync(join(folder, 'open_clip_config.json'), JSON.stringify({ model_cfg: modelCfg }));
    await expectRejectsCleanly(
      loadClip(folder, { backend }),
      'model_cfg.vision_cfg.width 64 is not a multiple of model_cfg.vision_cfg.head_width 24',
    );
  });
});

describe('weight dtypes', () => {
  test('a weight stored as I32 is named at load, logit_scale included', async () => {
    const intWeights = await tinyWeights((name, t) =>
      name === 'text_model.final_layer_norm.weight' || name === 'logit_scale' ? cast(t, 'i32') : t,
    );
    const folder = folderWith(tinyConfig(), intWeights);
    const load = loadClip(folder, { backend });
    await expectRejectsCleanly(load, 'tensor text_model.final_layer_norm.weight is i32[64]');
    await expect(loadClip(folder, { backend })).rejects.toThrow('tensor logit_scale is i32[]');
  });

  test('an F16 checkpoint is widened to f32 on load and gives embeddings close to the f32 ones', async () => {
    const folder = folderWith(tinyConfig(), await tinyWeights((_, t) => cast(t, 'f16')));
    const half = await loadClip(folder, { backend });
    const full = await loadClip(dir, { backend });
    expect([...half.params.values()].every((t) => t.dtype === 'f32')).toBe(true);
    const pixels = ref.get('pixel_values')!;
    const [a, b] = [await half.embedImages(pixels), await full.embedImages(pixels)];
    const diff = a.flatMap((row, i) => [...row].map((v, j) => Math.abs(v - b[i]![j]!)));
    expect(Math.max(...diff)).toBeLessThan(5e-3);
    const ids = ref.get('input_ids')!;
    const mask = ref.get('attention_mask')!;
    const [ta, tb] = [half.encodeText(ids, mask), full.encodeText(ids, mask)];
    const [x, y] = [await ta.read(), await tb.read()];
    const scale = Math.max(...[...y].map(Math.abs));
    expect(Math.max(...[...x].map((v, i) => Math.abs(v - y[i]!))) / scale).toBeLessThan(5e-3);
    ta.dispose();
    tb.dispose();
    half.dispose();
    full.dispose();
  });
});

describe('the source argument', () => {
  test('is checked before anything loads', async () => {
    const load = (source: unknown) => loadClip(source as string, { backend });
    await expect(load(null)).rejects.toThrow(
      'loadClip: source must be a checkpoint folder (a path or URL) or { config, weights }, got null',
    );
    await expect(load(42)).rejects.toThrow(
      'loadClip: source must be a checkpoint folder (a path or URL) or { config, weights }, got 42',
    );
    await expect(load('')).rejects.toThrow('loadClip: the checkpoint folder path is empty');
    await expect(load({ config: tinyConfig() })).rejects.toThrow(
      'loadClip: a checkpoint given as parts needs weights (got { config })',
    );
    await expect(load({ config: tinyConfig(), weights: 42 })).rejects.toThrow(
      'loadClip: checkpoint.weights must be a safetensors source (a path, URL, Blob or bytes) or a Map of tensors, got 42',
    );
    await expect(
      load({ config: tinyConfig(), weights: join(dir, 'model.safetensors'), format: 'openclip' }),
    ).rejects.toThrow(`loadClip: checkpoint.format must be 'hf' or 'open_clip', got the string "openclip"`);
    await expect(loadClip(dir, null as unknown as undefined)).rejects.toThrow(
      'loadClip: options must be an object, got null',
    );
    // These failed mid-load, or (a truthy string) fused anyway.
    await expect(loadClip(dir, { backend, onProgress: 'log' as never })).rejects.toThrow(
      'loadClip: options.onProgress must be a function, got the string "log"',
    );
    await expect(loadClip(dir, { backend, signal: true as never })).rejects.toThrow(
      'loadClip: options.signal must be an AbortSignal, got true',
    );
    await expect(loadClip(dir, { backend, fuseQkv: 'no' as never })).rejects.toThrow(
      'loadClip: options.fuseQkv must be true or false, got the string "no"',
    );
  });

  test('parts with a bad config name the problem before the weights load', async () => {
    const checkpoint: ClipCheckpoint = {
      config: { ...tinyConfig(), projection_dim: '32' },
      weights: join(dir, 'model.safetensors'),
    };
    await expectRejectsCleanly(
      loadClip(checkpoint, { backend }),
      'loadClip: checkpoint.config: CLIP config: projection_dim: expected a number, got the string "32"',
    );
  });
});

describe('missing and unreachable files', () => {
  test('a folder with config.json but no weights names the folder and the files looked for', async () => {
    const folder = folderWith(tinyConfig(), 'none');
    await expectRejectsCleanly(
      loadClip(folder, { backend }),
      `loadClip: ${folder} has config.json but no weights: looked for model.safetensors and model.safetensors.index.json (sharded)`,
    );
  });

  test("a broken tokenizer file is a loadClip error naming the file, not the tokenizer's", async () => {
    // It was "ClipTokenizer: tokenizer.json is not valid JSON: ...", naming neither loadClip nor the folder.
    const folder = folderWith(tinyConfig());
    writeFileSync(join(folder, 'tokenizer.json'), '{not json');
    await expectRejectsCleanly(
      loadClip(folder, { backend }),
      new RegExp(`^loadClip: ${join(folder, 'tokenizer.json')}: tokenizer.json is not valid JSON: `),
    );
    const other = folderWith(tinyConfig());
    writeFileSync(join(other, 'vocab.json'), '{"a</w>": 0}');
    writeFileSync(join(other, 'merges.txt'), '#version: 0.2\n');
    await expectRejectsCleanly(
      loadClip(other, { backend }),
      new RegExp(`^loadClip: ${other} \\(vocab.json and merges.txt\\): `),
    );
  });

  test('a config.json that cannot be fetched is a loadClip error naming the URL', async () => {
    await expect(loadClip('http://127.0.0.1:9/clip', { backend })).rejects.toThrow(
      /^loadClip: could not fetch http:\/\/127\.0\.0\.1:9\/clip\/config\.json: fetch failed/,
    );
  });
});

describe('images', () => {
  test('a width given as a string says so', () => {
    const image = { data: new Uint8Array(8 * 8 * 4), width: '8', height: 8 };
    expect(() => toRgbImage(image as unknown as Parameters<typeof toRgbImage>[0])).toThrow(
      `toRgbImage(): the image's width must be a positive integer (a number), got the string "8"`,
    );
  });

  test('a URL that cannot be fetched is named with the cause', async () => {
    await expect(loadImage('http://127.0.0.1:9/x.png')).rejects.toThrow(
      'loadImage(): could not fetch http://127.0.0.1:9/x.png: fetch failed (bad port)',
    );
  });
});
