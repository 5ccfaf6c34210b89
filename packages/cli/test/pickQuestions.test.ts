// pickQuestions' balanced answers: "is there a <shape>?" is "no" for most shapes of a scene, so
// uniform picks make "no" the answer to learn; answer-first picks split yes and no evenly.
import { createRandom, generateShapes, hashSeed } from '@vl/shapes';
import { expect, test } from 'vitest';
import { pickQuestions } from '../src/train/trainVlm.js';

test('balanced picks draw the answer first: existence questions split evenly between yes and no', () => {
  const share = (balanced: boolean) => {
    let yes = 0;
    let n = 0;
    for (let i = 0; i < 300; i++) {
      const scene = generateShapes(hashSeed(7, i), { size: 32 });
      const exists = scene.questions.filter((q) => q.kind === 'exists');
      const [q] = pickQuestions(exists, createRandom(hashSeed(i, 99)), 1, balanced);
      if (!q) continue;
      n++;
      if (q.answer === 'yes') yes++;
    }
    return yes / n;
  };
  expect(share(false)).toBeLessThan(0.4);
  const balanced = share(true);
  expect(balanced).toBeGreaterThan(0.42);
  expect(balanced).toBeLessThan(0.58);
});
