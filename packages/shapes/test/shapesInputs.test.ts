import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  COLOR_RGB,
  canonicalCaption,
  createRandom,
  generateShapes,
  hashSeed,
  heldOutSeed,
  heldOutShapes,
  heldOutSingleObjects,
  pickQuestion,
  renderScene,
  type Scene,
  type SceneObject,
  sampleSingleObject,
  sceneCaptions,
  sceneQuestions,
  shapesStream,
  singleObjectStream,
  writeShapesFolder,
} from '@vl/shapes';
import { afterAll, describe, expect, it } from 'vitest';
import { digest } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'vl-shapes-inputs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SHAPES_KEYS = /\(expected size, layouts, textures, supersample\)$/;
const SINGLE_KEYS = /\(expected size, textures, supersample\)$/;

describe('options', () => {
  it('rejects unknown option keys by name, listing the accepted ones', async () => {
    const sise = { sise: 32 } as never;
    expect(() => generateShapes(5, sise)).toThrow(/^generateShapes\(\): unknown option "sise"/);
    expect(() => generateShapes(5, sise)).toThrow(SHAPES_KEYS);
    expect(() => heldOutShapes(2, sise)).toThrow(/^heldOutShapes\(\): unknown option "sise"/);
    expect(() => shapesStream(0, sise)).toThrow(/^shapesStream\(\): unknown option "sise"/);
    // Single-object samplers take no `layouts`: it used to be dropped without a word.
    const layouts = { layouts: ['pair'] } as never;
    expect(() => sampleSingleObject(1, layouts)).toThrow(/^sampleSingleObject\(\): unknown option "layouts"/);
    expect(() => sampleSingleObject(1, layouts)).toThrow(SINGLE_KEYS);
    expect(() => singleObjectStream(0, sise)).toThrow(/^singleObjectStream\(\): unknown option "sise"/);
    expect(() => heldOutSingleObjects(0, sise)).toThrow(/^heldOutSingleObjects\(\): unknown option "sise"/);
    const { scene } = generateShapes(1);
    expect(() => renderScene(scene, { supersampling: 2 } as never)).toThrow(
      /^renderScene\(\): unknown option "supersampling" \(expected supersample\)$/,
    );
    await expect(writeShapesFolder(join(dir, 'x'), 1, { size: 32, metdata: false } as never)).rejects.toThrow(
      /^writeShapesFolder\(\): unknown option "metdata" \(expected size, layouts, textures, supersample, split, seed, metadata\)$/,
    );
    expect(readdirSync(dir)).toEqual([]); // rejected before the folder is made
    // Not an object at all.
    expect(() => generateShapes(5, [] as never)).toThrow(/options must be an object, got an array/);
    expect(() => renderScene(scene, null as never)).toThrow(/renderScene\(\): options must be an object/);
    // Valid options still work, frozen or not, and give what they did.
    expect(generateShapes(5, Object.freeze({ size: 32 })).image.width).toBe(32);
    expect(sampleSingleObject(1, { size: 32, textures: false }).scene.objects).toHaveLength(1);
    expect(digest(renderScene(scene, { supersample: 4 }))).toBe(digest(generateShapes(1).image));
  });
});

describe('values of the wrong type', () => {
  it('quotes a string where a number or boolean belongs, so the message does not read as valid', () => {
    // "options.textures must be true or false, got false" for the string 'false' read as a contradiction.
    expect(() => generateShapes('5' as never)).toThrow(/^generateShapes\(\): seed must be .*, got '5'$/);
    expect(() => generateShapes(5, { size: '64' as never })).toThrow(/options\.size .*, got '64'$/);
    expect(() => generateShapes(5, { textures: 'false' as never })).toThrow(
      /^generateShapes\(\): options\.textures must be true or false, got 'false'$/,
    );
    expect(() => generateShapes(5, { supersample: '4' as never })).toThrow(
      /options\.supersample .*, got '4'$/,
    );
    expect(() => heldOutShapes('3' as never)).toThrow(/^heldOutShapes\(\): n must be .*, got '3'$/);
    expect(() => heldOutSingleObjects('3' as never)).toThrow(/^heldOutSingleObjects\(\): n .*, got '3'$/);
    expect(() => shapesStream(1n as never)).toThrow(/^shapesStream\(\): seed must be .*, got 1n$/);
    const { scene } = generateShapes(1);
    expect(() => renderScene(scene, { supersample: '2' as never })).toThrow(/supersample .*, got '2'$/);
    // Numbers read as before.
    expect(() => generateShapes(-1)).toThrow(
      /^generateShapes\(\): seed must be a non-negative integer, got -1$/,
    );
    expect(() => generateShapes(1, { size: 8 })).toThrow(/options\.size .*, got 8$/);
  });

  it('rejects a sparse layouts list instead of drawing an undefined layout', () => {
    // `[, 'pair']` passed `every` (which skips holes) and then crashed ("specs is not iterable") for
    // about half the seeds.
    const holey: string[] = [];
    holey[1] = 'pair'; // [<empty>, 'pair']
    const sparse = { layouts: holey as never };
    for (const seed of [0, 1, 2, 3]) {
      expect(() => generateShapes(seed, sparse)).toThrow(/^generateShapes\(\): options\.layouts must be/);
    }
    expect(() => shapesStream(0, sparse)).toThrow(/^shapesStream\(\): options\.layouts/);
  });

  it('names a missing or wrong argument of pickQuestion', () => {
    const { questions } = generateShapes(1);
    expect(() => pickQuestion(questions, undefined as never)).toThrow(
      /^pickQuestion\(\): random must be a Random \(createRandom\(seed\)\), got undefined$/,
    );
    expect(() => pickQuestion(undefined as never, createRandom(1))).toThrow(
      /^pickQuestion\(\): questions must be an array .*, got undefined$/,
    );
    expect(pickQuestion(questions, createRandom(1))).toEqual(pickQuestion(questions, createRandom(1)));
  });
});

describe('seeds', () => {
  it('rejects fractional and non-finite seeds instead of truncating them', () => {
    expect(() => hashSeed(0.5)).toThrow(/^hashSeed\(\): parts\[0\] must be an integer/);
    expect(() => hashSeed(1, 2.25)).toThrow(/^hashSeed\(\): parts\[1\] must be an integer.*got 2\.25$/);
    expect(() => hashSeed(Number.NaN)).toThrow(/parts\[0\].*got NaN/);
    expect(() => hashSeed(2 ** 64)).toThrow(/parts\[0\]/); // past 2^53 halves would collide
    expect(() => createRandom(0.3)).toThrow(/^createRandom\(\): seed must be an integer.*got 0\.3$/);
    expect(() => createRandom(Number.POSITIVE_INFINITY)).toThrow(/createRandom\(\): seed/);
    expect(() => createRandom('7' as never)).toThrow(TypeError);
    // Integers keep their values: negative ones, ones past 2^32, and the pinned mixing.
    expect(hashSeed(42, 7)).toBe(hashSeed(42, 7));
    expect(hashSeed(-1)).not.toBe(hashSeed(2 ** 32 - 1));
    expect(hashSeed(2 ** 40 + 5)).not.toBe(hashSeed(5));
    expect(createRandom(2 ** 33).next()).toBe(createRandom(2 ** 33).next());
    expect(createRandom(3).next()).not.toBe(createRandom(4).next());
  });
});

function sceneOf(layout: Scene['layout'], seed = 3): Scene {
  return generateShapes(seed, { layouts: [layout], size: 64 }).scene;
}

function withObject(scene: Scene, i: number, patch: Partial<SceneObject>): Scene {
  return { ...scene, objects: scene.objects.map((o, j) => (j === i ? { ...o, ...patch } : o)) };
}

const CHECKED = [
  ['renderScene()', (s: Scene) => renderScene(s)],
  ['canonicalCaption()', canonicalCaption],
  ['sceneCaptions()', sceneCaptions],
  ['sceneQuestions()', sceneQuestions],
] as const;

/** Every public function that takes a scene rejects it with the same field-naming message. */
function expectRejected(scene: unknown, message: RegExp): void {
  for (const [name, f] of CHECKED) {
    let error: unknown;
    try {
      f(scene as Scene);
    } catch (e) {
      error = e;
    }
    expect(error, `${name} must reject the scene`).toBeInstanceOf(Error);
    expect((error as Error).message.startsWith(`${name}: `), (error as Error).message).toBe(true);
    expect((error as Error).message).toMatch(message);
  }
}

describe('checkScene', () => {
  it('accepts every generated scene, also after a JSON round trip, with the same output', () => {
    for (const sample of [...heldOutShapes(40, { size: 32 }), ...heldOutShapes(10, { size: 16 })]) {
      const copy = JSON.parse(JSON.stringify(sample.scene)) as Scene;
      expect(digest(renderScene(copy))).toBe(digest(sample.image));
      expect(sceneCaptions(copy)).toEqual(sample.captions);
      expect(canonicalCaption(copy)).toBe(sample.canonicalCaption);
      expect(sceneQuestions(copy)).toEqual(sample.questions);
    }
  });

  it('rejects unknown shapes, colors and sizes, naming the field', () => {
    const scene = sceneOf('mixed');
    const last = scene.objects.length - 1;
    expectRejected(
      withObject(scene, 0, { shape: 'hexagon' as never }),
      /scene\.objects\[0\]\.shape: 'hexagon' is not one of circle, square, triangle, star, cross, heart$/,
    );
    expectRejected(
      withObject(scene, last, { color: 'pink' as never }),
      new RegExp(
        `scene\\.objects\\[${last}\\]\\.color: 'pink' is not one of red, orange, yellow, green, blue, purple, white, black$`,
      ),
    );
    expectRejected(
      withObject(scene, 0, { size: 'medium' as never }),
      /objects\[0\]\.size: 'medium' is not one of small, large/,
    );
  });

  it('rejects object counts the layouts do not have (none, five, a group of mixed objects)', () => {
    const mixed = sceneOf('mixed');
    expectRejected({ ...mixed, objects: [] }, /scene\.objects: a 'mixed' scene has 2 to 4 objects, got 0/);
    const five = Array.from({ length: 5 }, () => mixed.objects[0]!);
    expectRejected({ ...mixed, objects: five }, /scene\.objects: a 'mixed' scene has 2 to 4 objects, got 5/);
    const single = sceneOf('single');
    expectRejected({ ...single, objects: [] }, /a 'single' scene has 1 object, got 0/);
    const pair = sceneOf('pair');
    expectRejected(
      withObject(pair, 1, { shape: pair.objects[0]!.shape, color: pair.objects[0]!.color }),
      /'pair' scene's two objects differ/,
    );
    const group = sceneOf('group');
    const other = group.objects[0]!.color === 'red' ? 'blue' : 'red';
    expectRejected(
      withObject(group, 1, { color: other }),
      /'group' scene's objects share one shape and color/,
    );
    // A hole in the list (a deleted element) is named, not a crash deep inside.
    const holey = [...mixed.objects];
    delete holey[1];
    expectRejected({ ...mixed, objects: holey }, /scene\.objects\[1\] is undefined; it must be an object$/);
    expectRejected(
      { ...mixed, layout: 'grid' as never },
      /scene\.layout: 'grid' is not one of single, group, pair, mixed/,
    );
  });

  it('rejects backgrounds the generator does not make (a striped one with period 0 rendered flat)', () => {
    const scene = sceneOf('single');
    const striped = {
      pattern: 'striped',
      tone: 128,
      amplitude: 12,
      period: 8,
      direction: 'vertical',
      noiseSeed: 0,
    } as const;
    expect(() => renderScene({ ...scene, background: striped })).not.toThrow();
    expectRejected(
      { ...scene, background: { ...striped, period: 0 } },
      /scene\.background\.period: 0 is not an even integer from 4 to 32/,
    );
    expectRejected({ ...scene, background: { ...striped, period: 7 } }, /background\.period: 7/);
    expectRejected(
      { ...scene, background: { ...striped, direction: null } },
      /background\.direction is null; it must be one of horizontal, vertical, diagonal/,
    );
    expectRejected(
      { ...scene, background: { ...striped, tone: 250 } },
      /background\.tone: 250 is not an integer from 96 to 160/,
    );
    expectRejected({ ...scene, background: { ...striped, amplitude: 0 } }, /background\.amplitude: 0/);
    expectRejected(
      { ...scene, background: { ...striped, pattern: 'plain' } },
      /background\.amplitude: 12 is not 0/,
    );
    expectRejected(
      { ...scene, background: { ...striped, pattern: 'dotted' } },
      /background\.pattern: 'dotted'/,
    );
  });

  it('rejects geometry the world does not have: sizes, radii, boxes, regions, overlaps', () => {
    const scene = sceneOf('single');
    const [object] = scene.objects;
    expectRejected({} as never, /scene\.width is undefined; it must be an integer from 16 to 1024/);
    expectRejected(null, /scene must be an object, got null/);
    expectRejected({ ...scene, width: 8, height: 8 }, /scene\.width: 8/);
    expectRejected({ ...scene, height: 32 }, /scene\.height: 32 is not 64/);
    expectRejected(withObject(scene, 0, { radius: 30 }), /objects\[0\]\.radius: 30 is not in/);
    expectRejected(
      withObject(scene, 0, { center: { x: Number.NaN, y: 3 } }),
      /center\.x: NaN is not a finite number/,
    );
    const { bbox } = object!;
    expectRejected(
      withObject(scene, 0, { bbox: { ...bbox, x1: bbox.x1 - 2 } }),
      /objects\[0\]\.bbox does not hold the/,
    );
    const wrong = object!.region === 'center' ? 'top left' : 'center';
    expectRejected(
      withObject(scene, 0, { region: wrong }),
      /objects\[0\]\.region: '.*' is not the region of its center/,
    );
    const pair = sceneOf('pair');
    // A copy of the second object in another color, at the same place: valid on its own, overlapping.
    const second = pair.objects[1]!;
    const overlapping = withObject(pair, 0, { ...second, color: second.color === 'red' ? 'blue' : 'red' });
    expectRejected(overlapping, /scene\.objects\[0\] and scene\.objects\[1\] overlap/);
  });
});

describe('SceneObject.center', () => {
  it('is fully the object’s color from 26 px (supersample 4) and 29 px (any supersample), not always at 16 px', () => {
    const blended = (size: number, supersample: number, n: number): number => {
      let count = 0;
      for (let i = 0; i < n; i++) {
        const { scene, image } = generateShapes(heldOutSeed(i), { size, supersample, layouts: ['mixed'] });
        for (const o of scene.objects) {
          const at = (Math.floor(o.center.y) * size + Math.floor(o.center.x)) * 4;
          if ([...image.data.subarray(at, at + 3)].join() !== COLOR_RGB[o.color].join()) count++;
        }
      }
      return count;
    };
    expect(blended(26, 4, 600)).toBe(0);
    expect(blended(26, 1, 300)).toBe(0);
    expect(blended(29, 16, 150)).toBe(0);
    expect(blended(16, 4, 400)).toBeGreaterThan(0); // what the documentation warns about
  });
});
