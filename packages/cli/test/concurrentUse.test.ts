// One loaded model used by several callers at once (a server answering requests, a page embedding
// images while it embeds texts) gives each the answer it would get alone: the calls interleave at
// their awaits (WebGPU reads, generation steps), and nothing one of them keeps (a KV cache, a
// batch being encoded, pooled buffers) may leak into another.
import { type ClipModel, loadClip } from '@vl/clip';
import { heldOutShapes, shapesModel } from '@vl/shapes';
import { createBackend } from '@vl/tensor';
import { fixtureBackends } from '@vl/vitest-config/fixture-backends';
import { loadVlm, type VlmModel } from '@vl/vlm';
import { describe, expect, test } from 'vitest';

const all = await fixtureBackends(createBackend, 'the shapes models, used at once');
const samples = heldOutShapes(4);
const questions = [
  'how many objects are there?',
  'what color is the circle?',
  'what is the background?',
  'is there a square?',
];

async function ask(vlm: VlmModel, i: number): Promise<string> {
  let text = '';
  const image = samples[i]!.image;
  const messages = [
    {
      role: 'user' as const,
      content: [
        { type: 'image' as const, image },
        { type: 'text' as const, text: questions[i]! },
      ],
    },
  ];
  for await (const token of vlm.generate(messages, { maxNewTokens: 8 })) text += token.text;
  return text;
}

const images = samples.map((s) => s.image);
const texts = ['a red circle', 'two blue squares', 'a green triangle'];
/** What a page asks of a CLIP: images and texts embedded, an image ranked against the texts. */
const clipCalls = (clip: ClipModel) =>
  [
    () => clip.embedImages(images),
    () => clip.embedTexts(texts),
    () => clip.zeroShot(images[0]!, texts),
  ] as const;

describe.each(all.map((b) => [b.kind, b] as const))('on %s', (_, backend) => {
  test('four answers generated at once are the answers generated one by one', async () => {
    const vlm = await loadVlm(shapesModel('vlm'), { backend });
    try {
      const alone: string[] = [];
      for (let i = 0; i < questions.length; i++) alone.push(await ask(vlm, i));
      const together = await Promise.all(questions.map((_, i) => ask(vlm, i)));
      expect(together).toEqual(alone);
      expect(new Set(alone).size).toBeGreaterThan(1); // the questions have different answers
    } finally {
      vlm.dispose();
    }
  });

  test('image embeddings, text embeddings and a zero-shot run at once equal those run one by one', async () => {
    const clip = await loadClip(shapesModel('clip'), { backend });
    try {
      const alone: unknown[] = [];
      for (const call of clipCalls(clip)) alone.push(await call());
      const together = await Promise.all(clipCalls(clip).map((call) => call()));
      expect(together).toEqual(alone);
    } finally {
      clip.dispose();
    }
  });
});
