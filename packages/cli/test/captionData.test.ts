import { expect, test } from 'vitest';
import { shapesCaptionData } from '../src/train/captionData.js';

test('shapes training pairs: single objects come in same-colour runs (hard negatives), scenes between', () => {
  const data = shapesCaptionData(0, 32);
  const colourOf = (caption: string) => caption.match(/red|orange|yellow|green|blue|purple|white|black/)?.[0];
  const runs = [0, 1, 2].map((run) =>
    Array.from({ length: 8 }, (_, k) => data.pair(2 * (run * 8 + k)).caption),
  );
  for (const captions of runs) expect(new Set(captions.map(colourOf)).size).toBe(1);
  expect(new Set(runs.map((c) => colourOf(c[0]!))).size).toBeGreaterThan(1);
  // Several shapes within one colour run: what only shape tells apart.
  const shapes = runs[0]!.map((c) => c.match(/circle|square|triangle|star|cross|heart/)?.[0]);
  expect(new Set(shapes).size).toBeGreaterThan(2);
  expect(data.pair(1).caption).not.toBe(data.pair(3).caption);
});
