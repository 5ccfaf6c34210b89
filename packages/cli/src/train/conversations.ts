// How the shapes VLM's training and evaluation conversations are made: which questions a scene is
// asked (kinds balanced or weighted, answers balanced) and how they become token segments in the
// chat template's format.
import type { QuestionAnswer, createRandom } from '@vl/shapes';
import type { VlmSegment, VlmTokenizer } from '@vl/vlm';

/** How {@link pickQuestions} picks: answers first, and kinds weighted (default weight 1). */
export interface PickOptions {
  /**
   * Pick each question's answer first (uniformly among those its kind has for the scene), then a
   * question with that answer, so that no answer is the prior of its kind.
   */
  balanceAnswers?: boolean;
  /** Relative weight of a kind among those left (default 1 each, e.g. `{ exists: 3 }`). */
  kindWeights?: Readonly<Record<string, number>>;
}

/** A kind among `kinds`, each with its weight (default 1). */
function pickKind(
  kinds: readonly string[],
  random: ReturnType<typeof createRandom>,
  weights: PickOptions['kindWeights'],
): string {
  if (!weights) return random.pick(kinds);
  const w = kinds.map((k) => weights[k] ?? 1);
  let r = random.next() * w.reduce((a, b) => a + b, 0);
  for (let i = 0; i < kinds.length; i++) {
    r -= w[i]!;
    if (r < 0) return kinds[i]!;
  }
  return kinds[kinds.length - 1]!;
}

/**
 * Up to `count` different questions about one scene, the kinds balanced as `pickQuestion` balances
 * them (a kind uniformly among those left, or by `kindWeights`, then a question of it).
 *
 * @example
 * ```ts
 * const qs = pickQuestions(sample.questions, createRandom(seed), 3, { kindWeights: { exists: 3 } });
 * ```
 */
export function pickQuestions(
  questions: readonly QuestionAnswer[],
  random: ReturnType<typeof createRandom>,
  count: number,
  { balanceAnswers = false, kindWeights }: PickOptions = {},
): QuestionAnswer[] {
  const left = [...questions];
  const out: QuestionAnswer[] = [];
  while (out.length < count && left.length > 0) {
    const kinds = [...new Set(left.map((q) => q.kind))];
    const kind = pickKind(kinds, random, kindWeights);
    let of = left.filter((x) => x.kind === kind);
    if (balanceAnswers) {
      // An answer first, then a question with it: "is there a star?" is "no" for most shapes of
      // a scene, so uniform picks teach the prior; balanced ones only the image can answer.
      const answer = random.pick([...new Set(of.map((x) => x.answer))]);
      of = of.filter((x) => x.answer === answer);
    }
    const q = random.pick(of);
    out.push(q);
    left.splice(left.indexOf(q), 1);
  }
  return out;
}

/** One question and its answer. */
export interface Turn {
  question: string;
  answer: string;
}

/**
 * One training conversation about an image as token segments, in the chat template's format:
 * `<s>USER: <image>\n{q1} ASSISTANT: {a1}</s>USER: {q2} ASSISTANT: {a2}</s>...`, the answers and
 * their end tokens learned, the rest context. With `text`, the scene is told in words instead of
 * shown: `<s>USER: {text} {q1} ASSISTANT: {a1}</s>...` (no image token).
 *
 * @example
 * ```ts
 * const segments = conversationSegments(tokenizer, [{ kind: 'color', question: 'what color is the circle?', answer: 'red' }]);
 * ```
 */
export function conversationSegments(
  tokenizer: VlmTokenizer,
  turns: readonly Turn[],
  text?: string,
): VlmSegment[] {
  const eos = tokenizer.tokenToId('</s>')!;
  const segments: VlmSegment[] = [];
  turns.forEach((qa, i) => {
    // The first turn shows the image, or with `text` tells the scene in words instead.
    const first = text === undefined ? [{ type: 'image' as const }] : [];
    const question = text === undefined ? qa.question : `${text} ${qa.question}`;
    const prompt =
      i === 0
        ? tokenizer.encodeChat(
            tokenizer.applyChatTemplate([
              { role: 'user', content: [...first, { type: 'text', text: question }] },
            ]),
          )
        : tokenizer.encode(`USER: ${qa.question} ASSISTANT:`, { addSpecialTokens: false });
    segments.push({ ids: prompt });
    segments.push({ ids: [...tokenizer.encode(qa.answer, { addSpecialTokens: false }), eos], learn: true });
  });
  return segments;
}

/** The question the caption turn asks. */
export const CAPTION_QUESTION = 'what is in the picture?';

/** Salt of the question picks' random stream (training and evaluation). */
export const QUESTION_STREAM = 0x9a11;
