import {
  COLORS,
  canonicalCaption,
  createRandom,
  generateShapes,
  heldOutShapes,
  NUMBER_WORDS,
  pickQuestion,
  pluralShape,
  REGIONS,
  type Scene,
  type SceneObject,
  SHAPES,
  type ShapesSample,
  sceneCaptions,
  sceneQuestions,
  shapesStream,
  shapesVocabulary,
  tokenizeShapesText,
} from '@vl/shapes';
import { describe, expect, it } from 'vitest';

const samples: ShapesSample[] = [];
for (const sample of shapesStream(3)) {
  samples.push(sample);
  if (samples.length === 400) break;
}

/** Resolves "the circle" / "the red circle" back to the one object it names, failing if it is not unique. */
function resolve(scene: Scene, name: string): SceneObject {
  const words = name.replace(/^the /, '').split(' ');
  const shape = words.at(-1);
  const color = words.length === 2 ? words[0] : undefined;
  const matches = scene.objects.filter(
    (o) => o.shape === shape && (color === undefined || o.color === color),
  );
  expect(matches, `"${name}" must name exactly one object`).toHaveLength(1);
  return matches[0]!;
}

function regionOf(object: SceneObject, scene: Scene): string {
  const third = (v: number, side: number): number => Math.min(2, Math.floor((3 * v) / side));
  return REGIONS[third(object.center.y, scene.height) * 3 + third(object.center.x, scene.width)]!;
}

/** Checks a question's answer from the scene's numbers alone. */
function expectedAnswer(scene: Scene, question: string): string {
  let m: RegExpMatchArray | null;
  if ((m = question.match(/^what color is the (\w+)\?$/))) return resolve(scene, `the ${m[1]}`).color;
  if ((m = question.match(/^what shape is the (\w+) object\?$/))) {
    const matches = scene.objects.filter((o) => o.color === m![1]);
    expect(matches).toHaveLength(1);
    return matches[0]!.shape;
  }
  if (question === 'how many objects are there?') return NUMBER_WORDS[scene.objects.length]!;
  if ((m = question.match(/^how many (\w+) objects are there\?$/))) {
    return NUMBER_WORDS[scene.objects.filter((o) => o.color === m![1]).length]!;
  }
  if ((m = question.match(/^how many (\w+) are there\?$/))) {
    return NUMBER_WORDS[scene.objects.filter((o) => pluralShape(o.shape) === m![1]).length]!;
  }
  if ((m = question.match(/^is there a (\w+)\?$/))) {
    return scene.objects.some((o) => o.shape === m![1]) ? 'yes' : 'no';
  }
  if ((m = question.match(/^what size is (the [\w ]+)\?$/))) return resolve(scene, m[1]!).size;
  if ((m = question.match(/^where is (the [\w ]+)\?$/))) return regionOf(resolve(scene, m[1]!), scene);
  if ((m = question.match(/^is (the [\w ]+?) (left of|right of|above|below) (the [\w ]+)\?$/))) {
    const a = resolve(scene, m[1]!);
    const b = resolve(scene, m[3]!);
    const dx = b.center.x - a.center.x;
    const dy = b.center.y - a.center.y;
    const truth = { 'left of': dx > 0, 'right of': dx < 0, above: dy > 0, below: dy < 0 }[m[2]!]!;
    return truth ? 'yes' : 'no';
  }
  if (question === 'what pattern is the background?') return scene.background.pattern;
  throw new Error(`no checker for "${question}"`);
}

/** Reads a caption's noun phrases back ("two green triangles", "a small red circle") as counts. */
function phraseCounts(caption: string): Map<string, number> {
  const counts = new Map<string, number>();
  const pattern = new RegExp(
    `\\b(an?|two|three|four) (?:small |large )?(${COLORS.join('|')}) (${SHAPES.flatMap((s) => [s, pluralShape(s)]).join('|')})\\b`,
    'g',
  );
  for (const [, n, color, noun] of caption.matchAll(pattern)) {
    const shape = SHAPES.find((s) => s === noun || pluralShape(s) === noun)!;
    const key = `${color} ${shape}`;
    counts.set(
      key,
      (counts.get(key) ?? 0) + (n === 'a' || n === 'an' ? 1 : NUMBER_WORDS.indexOf(n as never)),
    );
  }
  return counts;
}

describe('captions', () => {
  it('name every object with the right color, shape and count', () => {
    for (const { scene, captions } of samples) {
      const truth = new Map<string, number>();
      for (const o of scene.objects)
        truth.set(`${o.color} ${o.shape}`, (truth.get(`${o.color} ${o.shape}`) ?? 0) + 1);
      for (const caption of captions) {
        if (/^\w+ shapes on/.test(caption)) {
          expect(caption.split(' ')[0]).toBe(NUMBER_WORDS[scene.objects.length]);
          continue;
        }
        expect(phraseCounts(caption), caption).toEqual(truth);
      }
    }
  });

  it('state sizes, backgrounds, regions and relations that match the coordinates', () => {
    let relations = 0;
    for (const { scene, captions } of samples) {
      for (const caption of captions) {
        const background = caption.match(/on a (\w+) background$/);
        if (background) expect(background[1]).toBe(scene.background.pattern);
        const sized = caption.match(/\b(small|large) (\w+) (\w+)/);
        if (sized && scene.objects.length === 1) expect(sized[1]).toBe(scene.objects[0]!.size);
        const region = caption.match(/ in the ([\w ]+)$/);
        if (region) expect(region[1]).toBe(regionOf(scene.objects[0]!, scene));
        const relation = caption.match(
          /^an? (?:small |large )?(\w+) (\w+) (left of|right of|above|below) an? (?:small |large )?(\w+) (\w+)/,
        );
        if (relation) {
          relations++;
          const [, ca, sa, rel, cb, sb] = relation;
          const a = scene.objects.find((o) => o.color === ca && o.shape === sa)!;
          const b = scene.objects.find((o) => o.color === cb && o.shape === sb)!;
          const dx = b.center.x - a.center.x;
          const dy = b.center.y - a.center.y;
          const ok = {
            'left of': dx > 2 * Math.abs(dy),
            'right of': -dx > 2 * Math.abs(dy),
            above: dy > 2 * Math.abs(dx),
            below: -dy > 2 * Math.abs(dx),
          }[rel!];
          expect(ok, caption).toBe(true);
        }
      }
    }
    expect(relations).toBeGreaterThan(50);
  });

  it('start with the canonical caption, and the picked caption is one of them', () => {
    for (const { scene, caption, captions, canonicalCaption: canonical } of samples) {
      expect(captions[0]).toBe(canonical);
      expect(canonicalCaption(scene)).toBe(canonical);
      expect(captions).toContain(caption);
      expect(new Set(captions).size).toBe(captions.length);
    }
    expect(new Set(samples.map((s) => s.caption)).size).toBeGreaterThan(150);
  });

  it('read like the examples', () => {
    const all = samples.flatMap((s) => s.captions);
    expect(all).toContain('a red circle');
    expect(all.some((c) => /^two \w+ \w+s$/.test(c))).toBe(true);
    expect(all.some((c) => / above a /.test(c))).toBe(true);
    expect(all.some((c) => / left of a /.test(c))).toBe(true);
    expect(all.some((c) => /^a \w+ \w+ and a \w+ \w+$/.test(c))).toBe(true);
    expect(all.some((c) => /^an orange \w+$/.test(c))).toBe(true);
    expect(all.some((c) => /\ba orange\b/.test(c))).toBe(false);
    expect(all.some((c) => /^a (small|large) \w+ \w+ on a striped background$/.test(c))).toBe(true);
  });
});

describe('questions', () => {
  it('have answers that the scene confirms', () => {
    let checked = 0;
    for (const { scene, questions } of samples) {
      expect(questions).toEqual(sceneQuestions(scene));
      for (const { question, answer } of questions) {
        expect(answer, question).toBe(expectedAnswer(scene, question));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(5000);
  });

  it('cover every kind, with one- or two-word answers', () => {
    const all = samples.flatMap((s) => s.questions);
    expect(new Set(all.map((q) => q.kind))).toEqual(
      new Set(['color', 'shape', 'count', 'exists', 'position', 'relation', 'size', 'background']),
    );
    for (const { answer } of all) expect(answer.split(' ').length).toBeLessThanOrEqual(2);
    expect(new Set(all.filter((q) => q.kind === 'position').map((q) => q.answer)).size).toBe(9);
  });

  it('are balanced by pickQuestion', () => {
    const random = createRandom(0);
    const kinds = new Map<string, number>();
    for (const { questions } of samples) {
      const { kind } = pickQuestion(questions, random);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    expect(Math.max(...kinds.values()) / samples.length).toBeLessThan(0.3);
    expect(() => pickQuestion([], random)).toThrow(/empty/);
  });
});

describe('vocabulary', () => {
  it('covers every caption, question and answer, and every word is used', () => {
    const vocabulary = new Set(shapesVocabulary());
    const used = new Set<string>();
    const texts = [...samples, ...heldOutShapes(30)].flatMap((s) => [
      ...s.captions,
      ...s.questions.flatMap((q) => [q.question, q.answer]),
    ]);
    const unknown: string[] = [];
    for (const text of new Set(texts)) {
      for (const token of tokenizeShapesText(text)) {
        if (!vocabulary.has(token)) unknown.push(`"${token}" in "${text}"`);
        used.add(token);
      }
    }
    expect(unknown).toEqual([]);
    expect([...vocabulary].filter((w) => !used.has(w))).toEqual([]);
  });

  it('is sorted and stable', () => {
    const words = shapesVocabulary();
    expect([...words].sort()).toEqual(words);
    expect(words).toEqual(shapesVocabulary());
    expect(tokenizeShapesText('What color is the circle?')).toEqual([
      'what',
      'color',
      'is',
      'the',
      'circle',
      '?',
    ]);
    expect(generateShapes(1).caption).toBe(generateShapes(1).caption);
    expect(sceneCaptions(generateShapes(1).scene)).toEqual(generateShapes(1).captions);
  });
});
