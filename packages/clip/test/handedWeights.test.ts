// loadClip with weights handed over as tensors: the model runs on the tensors' backend when none
// is given (it created a second one before, and every forward pass then failed on mixed
// backends), and a different options.backend is named.
import { createBackend } from '@vl/tensor';
import { afterAll, expect, test } from 'vitest';
import { initClipParams, loadClip } from '../src/index.js';
import { tinyClipConfig } from './tinyClipConfig.js';

const backend = await createBackend('cpu');
const other = await createBackend('cpu');
afterAll(() => {
  backend.dispose();
  other.dispose();
});

const config = tinyClipConfig();

test('tensors handed over without a backend: the model runs on theirs and leaves it alive', async () => {
  const params = initClipParams(config, { backend, seed: 1 });
  const model = await loadClip({ config, weights: params });
  expect(model.backend).toBe(backend);
  const [row] = await model.embedTexts(['a cat']);
  expect(row).toHaveLength(8);
  model.dispose();
  expect(backend.stats().liveTensors).toBe(0); // the handed-over tensors went with the model
  expect(() => backend.stats()).not.toThrow(); // and the backend was not the model's to dispose
});

test('tensors on one backend and options.backend another are named', async () => {
  const params = initClipParams(config, { backend, seed: 1 });
  await expect(loadClip({ config, weights: params }, { backend: other })).rejects.toThrow(
    'loadClip: checkpoint.weights are tensors on cpu',
  );
  for (const t of params.values()) t.dispose();
  const mixed = initClipParams(config, { backend, seed: 1 });
  const stray = initClipParams(config, { backend: other, seed: 1 }).get('logit_scale')!;
  mixed.get('logit_scale')!.dispose();
  mixed.set('logit_scale', stray);
  await expect(loadClip({ config, weights: mixed })).rejects.toThrow(
    'loadClip: checkpoint.weights mixes backends',
  );
  for (const t of mixed.values()) t.dispose();
});
