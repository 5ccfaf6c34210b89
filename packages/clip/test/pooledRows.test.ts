// getTextFeatures / getImageFeatures run each tower's last block for the pooled token only
// (encoderLayerAtRows). The pooled outputs must be those of the full forward pass (clipTextForward /
// clipVisionForward, which compute every row) for both text pooling rules, with and without a
// padding mask, with fused and separate q/k/v weights and with LayerScale, on every backend.
import { type Backend, createBackend, randomNormal, tensor, tidy } from '@vl/tensor';
import { fixtureBackends, maxAbs } from '@vl/vitest-config/fixture-backends';
import { describe, expect, test } from 'vitest';
import {
  type ClipConfig,
  clipTextForward,
  clipTextPooled,
  clipVisionForward,
  clipVisionPooled,
  fuseQkvProjections,
  initClipParams,
} from '../src/index.js';
import { tinyClipConfig } from './tinyClipConfig.js';

const all = await fixtureBackends(createBackend, 'pooled rows'); // disposed after this file's tests

const configs: [string, ClipConfig][] = [
  [
    'argmax pooling',
    tinyClipConfig({ text: { eos_token_id: 2, num_hidden_layers: 2 }, vision: { num_hidden_layers: 2 } }),
  ],
  [
    'first-end-token pooling, LayerScale',
    tinyClipConfig({
      text: { eos_token_id: 7, num_hidden_layers: 2, layer_scale: true },
      vision: { num_hidden_layers: 2, layer_scale: true },
    }),
  ],
];

/** Ids `[3, 9]` whose pooling positions differ per row (2, 5 and 8), padded after them with 0. */
function ids(backend: Backend, eos: number) {
  const rows = [
    [1, 40, eos, 0, 0, 0, 0, 0, 0],
    [1, 41, 42, 43, 44, eos, 0, 0, 0],
    [1, 50, 51, 52, 53, 54, 55, 56, eos],
  ];
  // argmax pooling reads the largest id: make the end token the largest in the argmax config.
  const data = Int32Array.from(rows.flat().map((v) => (v === eos ? 49407 : v)));
  const mask = Int32Array.from(rows.flat().map((_, i) => (i % 9 <= [2, 5, 8][Math.floor(i / 9)]! ? 1 : 0)));
  return {
    inputIds: tensor(eos === 2 ? data : Int32Array.from(rows.flat()), [3, 9], { backend, dtype: 'i32' }),
    mask: tensor(mask, [3, 9], { backend, dtype: 'i32' }),
  };
}

describe.each(all.map((b) => [b.kind, b] as const))('pooled rows on %s', (_kind, backend) => {
  test.each(configs)('text and image pooled outputs equal the full forward: %s', async (_name, config) => {
    const params = initClipParams(config, { backend, seed: 11 });
    const fused = new Map([...params, ...fuseQkvProjections(params)]);
    const { inputIds, mask } = ids(backend, config.text_config.eos_token_id);
    const pixels = randomNormal([2, 3, 16, 16], { backend, seed: 12 }); // [2, 3, 16, 16]
    try {
      for (const p of [params, fused]) {
        for (const m of [mask, undefined]) {
          const [want, got] = tidy(() => [
            clipTextForward(p, inputIds, m, config.text_config).pooled,
            clipTextPooled(p, inputIds, m, config.text_config),
          ]);
          expect(maxAbs(await got!.read(), await want!.read()), `text, mask ${!!m}`).toBeLessThan(1e-5);
          want!.dispose();
          got!.dispose();
        }
        const [want, got] = tidy(() => [
          clipVisionForward(p, pixels, config.vision_config).pooled,
          clipVisionPooled(p, pixels, config.vision_config),
        ]);
        expect(maxAbs(await got!.read(), await want!.read()), 'image').toBeLessThan(1e-5);
        want!.dispose();
        got!.dispose();
      }
    } finally {
      for (const t of new Set(fused.values())) t.dispose();
      for (const t of [inputIds, mask, pixels]) t.dispose();
    }
  });
});
