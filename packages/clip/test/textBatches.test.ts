// embedTexts runs each batch only up to its longest text's end token, shortest texts first. The
// rows must be what the whole 77-position pass gives (encodeText on the padded ids), in the order
// the texts were given, for both pooling rules (the largest id, or the first end token with the
// end token as padding), on every backend.
import { createBackend, tensor, tidy } from '@vl/tensor';
import { fixtureBackends, maxAbs } from '@vl/vitest-config/fixture-backends';
import { describe, expect, test } from 'vitest';
import { ClipModel, ClipTokenizer, type ClipConfig, initClipParams, l2Normalize } from '../src/index.js';
import { tinyClipConfig } from './tinyClipConfig.js';
import { textBatches } from '../src/task/textBatches.js';

const all = await fixtureBackends(createBackend, 'text batches'); // disposed after this file's tests
const tokenizer = await ClipTokenizer.load();

function tinyConfig(text: Partial<ClipConfig['text_config']>): ClipConfig {
  return tinyClipConfig({
    projection_dim: 16,
    text: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, ...text },
  });
}

// Lengths 4 to 77 tokens, out of order, so batches are reordered and trimmed to different lengths.
const texts = [
  'a photo of a dog.',
  Array.from({ length: 40 }, () => 'blue').join(' '),
  'cat',
  'a blurry photo of the small red bicycle leaning on a wall',
  Array.from({ length: 75 }, () => 'red').join(' '), // exactly 77 with the start and end tokens
  'a sketch of a fish.',
];

const rules = [
  { rule: 'the largest id, padded with 0', text: { eos_token_id: 2, pad_token_id: 0 } },
  { rule: 'the first end token, padded with it', text: { eos_token_id: 49407, pad_token_id: 49407 } },
];

describe.each(all.map((b) => [b.kind, b] as const))('embedTexts on %s', (_kind, backend) => {
  test.each(rules)('rows equal the full-context pass, pooled at $rule', async ({ text }) => {
    const config = tinyConfig(text);
    const params = initClipParams(config, { backend, seed: 3 });
    const model = new ClipModel({ config, params, tokenizer, backend });
    try {
      for (const batchSize of [64, 2]) {
        const rows = await model.embedTexts(texts, { batchSize });
        const enc = tokenizer.encodeBatch(texts, { padId: config.text_config.pad_token_id });
        const full = tidy(() => {
          const ids = tensor(enc.inputIds, enc.shape, { backend }); // i32 [6, 77]
          const mask = tensor(enc.attentionMask, enc.shape, { backend }); // i32 [6, 77]
          return l2Normalize(model.encodeText(ids, mask)); // [6, 16]
        });
        const want = (await full.read()) as Float32Array;
        full.dispose();
        expect(rows).toHaveLength(texts.length);
        rows.forEach((row, i) => {
          expect(maxAbs(row, want.subarray(i * 16, (i + 1) * 16)), `text ${i}`).toBeLessThan(1e-5);
        });
      }
    } finally {
      model.dispose();
      for (const t of params.values()) t.dispose();
    }
  });
});

test('batches take the shortest texts first and stop after the longest end token', () => {
  const c = tinyConfig({ eos_token_id: 2, pad_token_id: 0 }).text_config;
  const enc = tokenizer.encodeBatch(texts);
  const lengths = texts.map((t) => tokenizer.encode(t).length); // start and end included
  expect(lengths).toEqual([8, 42, 3, 14, 77, 8]);
  const batches = [...textBatches(enc, 2, c)];
  expect(batches.map((b) => b.rows)).toEqual([
    [2, 0],
    [5, 3],
    [1, 4],
  ]);
  expect(batches.map((b) => b.length)).toEqual([8, 14, 77]);
  const [first] = batches;
  // Row 0 is text 2 ('cat': start, cat, end, then padding), row 1 text 0 (8 tokens), each cut at 8.
  expect([...first!.inputIds.subarray(0, 8)]).toEqual([...enc.inputIds.subarray(2 * 77, 2 * 77 + 8)]);
  expect([...first!.attentionMask.subarray(0, 8)]).toEqual([1, 1, 1, 0, 0, 0, 0, 0]);
  expect([...first!.inputIds.subarray(8, 16)]).toEqual([...enc.inputIds.subarray(0, 8)]);
});
