import { type QuestionKind, createRandom, hashSeed, heldOutShapes } from '@vl/shapes';
import type { VlmModel } from '@vl/vlm';
import { QUESTION_STREAM, pickQuestions } from './conversations.js';

/** Quality of a VLM on the shapes world's held-out split. */
export interface VlmShapesQuality {
  /** Share of questions answered exactly right (after trimming and lowercasing). */
  exactMatch: number;
  /** Right answers and questions asked, by question kind. */
  byKind: Partial<Record<QuestionKind, { right: number; total: number }>>;
  /** Questions asked. */
  n: number;
  /** Held-out images they were asked about. */
  images: number;
}

/** Options of {@link evaluateVlmOnShapes}. */
export interface EvaluateVlmOptions {
  /** Held-out images (default 200). */
  n?: number;
  /** Image size (default 64). */
  size?: number;
  /** Different questions per image, kinds balanced as in training (default 2). */
  questionsPerImage?: number;
  /** Prompts per generation batch (default 32). */
  batchSize?: number;
}

/**
 * Asks the model `questionsPerImage` questions about each of the first `n` held-out images
 * (`heldOutShapes(n, { size })`, never seen in training), one fresh single-turn chat per question
 * (`USER: <image>\n{question} ASSISTANT:`), greedy; the picks are seeded by the image, so every
 * run asks the same questions. An answer counts when it equals the true one after trimming and
 * lowercasing.
 *
 * @example
 * ```ts
 * const { exactMatch, byKind } = await evaluateVlmOnShapes(model, { n: 200, size: 64 });
 * console.log(`${(100 * exactMatch).toFixed(1)}%`, byKind.count); // e.g. { right: 51, total: 55 }
 * ```
 */
export async function evaluateVlmOnShapes(
  model: VlmModel,
  options: EvaluateVlmOptions = {},
): Promise<VlmShapesQuality> {
  const { n = 200, size = 64, questionsPerImage = 2, batchSize = 32 } = options;
  const samples = heldOutShapes(n, { size });
  const asked = samples.flatMap((s) =>
    pickQuestions(s.questions, createRandom(hashSeed(s.seed, QUESTION_STREAM)), questionsPerImage).map(
      (qa) => ({ image: s.image, ...qa }),
    ),
  );
  const byKind: VlmShapesQuality['byKind'] = {};
  let right = 0;
  for (let i = 0; i < asked.length; i += batchSize) {
    const chunk = asked.slice(i, i + batchSize);
    const answers = await model.generateText(
      chunk.map((q) => [
        {
          role: 'user' as const,
          content: [
            { type: 'image' as const, image: q.image },
            { type: 'text' as const, text: q.question },
          ],
        },
      ]),
      { maxNewTokens: 6 },
    );
    chunk.forEach((q, j) => {
      const ok = answers[j]!.trim().toLowerCase() === q.answer.trim().toLowerCase();
      const k = (byKind[q.kind] ??= { right: 0, total: 0 });
      k.total++;
      if (ok) {
        k.right++;
        right++;
      }
    });
  }
  return { exactMatch: asked.length > 0 ? right / asked.length : 0, byKind, n: asked.length, images: n };
}
