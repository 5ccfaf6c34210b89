// The embedded shapes models as shipped, through the same paths a user takes (`--model shapes`).
// The issue-7 quality gates are not met yet (see packages/shapes/models/README.md); what is tested
// here is what the shipped weights do achieve, so a broken loader or preprocessing shows.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClip } from '@vl/clip';
import { encodePng, heldOutSingleObjects, shapeLabels, shapesModel } from '@vl/shapes';
import { createBackend } from '@vl/tensor';
import { expect, test } from 'vitest';
import { runCli } from '../src/index.js';

test('the shipped shapes CLIP names the colour of held-out single objects (>= 95%)', async () => {
  const backend = await createBackend('cpu');
  const clip = await loadClip(fileURLToPath(shapesModel('clip')), { backend });
  const labels = shapeLabels();
  const classes = await clip.labelEmbeddings(labels, ['{}', 'a picture of {}']);
  const objects = heldOutSingleObjects(96);
  const embeddings = await clip.embedImages(objects.map((o) => o.image));
  let right = 0;
  objects.forEach((o, i) => {
    const scores = classes.map((c) => c.reduce((s, v, j) => s + v * embeddings[i]![j]!, 0));
    const best = labels[scores.indexOf(Math.max(...scores))]!;
    if (best.split(' ')[1] === o.label.split(' ')[1]) right++;
  });
  clip.dispose();
  backend.dispose();
  expect(right / objects.length).toBeGreaterThanOrEqual(0.95);
}, 120_000);

test('vl classify --model shapes uses the labels and templates the model ships with', async () => {
  let out = '';
  const dir = mkdtempSync(join(tmpdir(), 'vl-shapes-'));
  const [object] = heldOutSingleObjects(1);
  writeFileSync(join(dir, 'one.png'), encodePng(object!.image));
  const code = await runCli(['classify', 'one.png', '--json', '--backend', 'cpu'], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: () => true },
    cwd: dir,
  });
  expect(code).toBe(0);
  const { labels } = JSON.parse(out) as { labels: { label: string }[] };
  expect(labels).toHaveLength(3);
  for (const { label } of labels) expect(shapeLabels()).toContain(label);
}, 120_000);
