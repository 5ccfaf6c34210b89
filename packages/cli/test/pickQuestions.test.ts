// pickQuestions' balanced answers: "is there a <shape>?" is "no" for most shapes of a scene, so
// uniform picks make "no" the answer to learn; answer-first picks split yes and no evenly.
import { createRandom, generateShapes, hashSeed } from '@vl/shapes';
import { expect, test } from 'vitest';
import { pickQuestions } from '../src/train/conversations.js';

test('balanced picks draw the answer first: existence questions split evenly between yes and no', () => {
  const share = (balanced: boolean) => {
    let yes = 0;
    let n = 0;
    for (let i = 0; i < 300; i++) {
      const scene = generateShapes(hashSeed(7, i), { size: 32 });
      const exists = scene.questions.filter((q) => q.kind === 'exists');
      const [q] = pickQuestions(exists, createRandom(hashSeed(i, 99)), 1, { balanceAnswers: balanced });
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

test('kind weights make a kind that much more likely among those a scene has', () => {
  const count = (weights?: Record<string, number>) => {
    let exists = 0;
    let n = 0;
    for (let i = 0; i < 400; i++) {
      const scene = generateShapes(hashSeed(3, i), { size: 32 });
      const picked = pickQuestions(
        scene.questions,
        createRandom(hashSeed(i, 5)),
        1,
        weights ? { kindWeights: weights } : {},
      );
      n += picked.length;
      exists += picked.filter((q) => q.kind === 'exists').length;
    }
    return exists / n;
  };
  const kinds = new Set(generateShapes(hashSeed(3, 0), { size: 32 }).questions.map((q) => q.kind)).size;
  const plain = count();
  const weighted = count({ exists: 4 });
  // One kind of `kinds` weighted 4: 4 / (kinds + 3) of the picks, about four times its plain share.
  expect(plain).toBeLessThan(1.6 / kinds);
  expect(weighted).toBeGreaterThan((0.75 * 4) / (kinds + 3));
  expect(weighted).toBeLessThan((1.25 * 4) / (kinds + 3));
});
