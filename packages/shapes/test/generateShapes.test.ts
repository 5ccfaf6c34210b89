import { createHash } from 'node:crypto';
import {
  generateShapes,
  heldOutSeed,
  heldOutShapes,
  MAX_OBJECTS,
  renderScene,
  type SceneLayout,
  type ShapesOptions,
  type ShapesSample,
  type SingleObjectOptions,
  shapesStream,
  singleObjectStream,
  trainingSeed,
} from '@vl/shapes';
import { describe, expect, it, vi } from 'vitest';
import { digest, pixel, rgbOf } from './helpers.js';

function take<T>(iterator: Iterator<T>, n: number): T[] {
  return Array.from({ length: n }, () => iterator.next().value as T);
}

const stream = take(shapesStream(0), 300);

describe('generateShapes', () => {
  it('is deterministic: the same seed gives the same bytes, scene and text', () => {
    const a = generateShapes(12345);
    const b = generateShapes(12345);
    expect(digest(a.image)).toBe(digest(b.image));
    expect(a.scene).toEqual(b.scene);
    expect(a.caption).toBe(b.caption);
    expect(a.questions).toEqual(b.questions);
    // Pinned so a change to the generator (which changes every dataset) is deliberate.
    expect(digest(a.image)).toMatchInlineSnapshot(`"e87da4c709e2a2accb3f5e5c0bd613db8f8497c5"`);
  });

  it('gives different images for different seeds', () => {
    const digests = new Set(stream.map((s) => digest(s.image)));
    expect(digests.size).toBe(stream.length);
  });

  it('returns RGBA images of the requested size', () => {
    for (const size of [32, 64, 224]) {
      const { image, scene } = generateShapes(3, { size });
      expect(image.data).toBeInstanceOf(Uint8ClampedArray);
      expect([image.width, image.height, image.data.length]).toEqual([size, size, size * size * 4]);
      expect([scene.width, scene.height]).toEqual([size, size]);
      for (let i = 3; i < image.data.length; i += 4) expect(image.data[i]).toBe(255);
    }
  });

  it('renders the image from the scene alone', () => {
    const sample = generateShapes(99);
    expect(digest(renderScene(sample.scene))).toBe(digest(sample.image));
  });

  it('has a full-color pixel at every object center, and objects inside the image without overlaps', () => {
    for (const { scene, image } of stream) {
      expect(scene.objects.length).toBeGreaterThanOrEqual(1);
      expect(scene.objects.length).toBeLessThanOrEqual(MAX_OBJECTS);
      for (const [i, object] of scene.objects.entries()) {
        expect(pixel(image, object.center.x, object.center.y)).toEqual(rgbOf(object));
        const { x0, y0, x1, y1 } = object.bbox;
        expect(x0).toBeGreaterThanOrEqual(0);
        expect(y0).toBeGreaterThanOrEqual(0);
        expect(x1).toBeLessThanOrEqual(scene.width);
        expect(y1).toBeLessThanOrEqual(scene.height);
        for (const other of scene.objects.slice(i + 1)) {
          const apart =
            x1 <= other.bbox.x0 || other.bbox.x1 <= x0 || y1 <= other.bbox.y0 || other.bbox.y1 <= y0;
          expect(apart).toBe(true);
        }
      }
    }
  });

  it('draws nothing but background outside the objects’ boxes', () => {
    let colored = 0;
    for (const { scene, image } of stream.slice(0, 50)) {
      for (let y = 0; y < scene.height; y++) {
        for (let x = 0; x < scene.width; x++) {
          const inBox = scene.objects.some(
            (o) => x + 1 > o.bbox.x0 && x < o.bbox.x1 && y + 1 > o.bbox.y0 && y < o.bbox.y1,
          );
          if (inBox) continue;
          const [r, g, b] = pixel(image, x, y);
          if (r !== g || g !== b) colored++; // backgrounds are gray
        }
      }
    }
    expect(colored).toBe(0);
  });

  it('draws every layout, shape, color, size and pattern', () => {
    const seen = (f: (s: ShapesSample) => string[]): Set<string> => new Set(stream.flatMap(f));
    expect(seen((s) => [s.scene.layout]).size).toBe(4);
    expect(seen((s) => s.scene.objects.map((o) => o.shape)).size).toBe(6);
    expect(seen((s) => s.scene.objects.map((o) => o.color)).size).toBe(8);
    expect(seen((s) => s.scene.objects.map((o) => o.size)).size).toBe(2);
    expect(seen((s) => [s.scene.background.pattern]).size).toBe(4);
    expect(seen((s) => [String(s.scene.objects.length)]).size).toBe(4);
  });

  it('keeps backgrounds plain with textures: false, and rejects bad options by name', () => {
    const plain = take(shapesStream(1, { textures: false }), 30);
    expect(plain.every((s) => s.scene.background.pattern === 'plain')).toBe(true);
    expect(() => generateShapes(1, { size: 8 })).toThrow(/options\.size/);
    expect(() => generateShapes(1, { supersample: 0 })).toThrow(/options\.supersample/);
    expect(() => generateShapes(1, { layouts: ['grid' as never] })).toThrow(/options\.layouts/);
    expect(() => generateShapes(-1)).toThrow(/seed/);
    expect(() => shapesStream(0, { size: 10 })).toThrow(/shapesStream\(\): options\.size/);
  });

  it('does not modify the options passed in', () => {
    const options = Object.freeze({ size: 32, layouts: Object.freeze(['single', 'pair'] as const) });
    expect(() => generateShapes(5, options)).not.toThrow();
    expect(options).toEqual({ size: 32, layouts: ['single', 'pair'] });
  });

  it('streams keep the options they were checked with, whatever the caller does to them later', () => {
    // The options are checked when the stream is made; the stream used to read the caller's object
    // again at every sample, so a later edit changed (or broke, unchecked) the samples still to come.
    const layouts: SceneLayout[] = ['pair'];
    const options: ShapesOptions = { size: 32, layouts };
    const samples = shapesStream(0, options);
    const single: SingleObjectOptions = { size: 32 };
    const singles = singleObjectStream(0, single);
    options.size = 'x' as never;
    layouts[0] = 'grid' as never;
    single.size = 8;
    const { value } = samples.next();
    expect([value.image.width, value.scene.layout]).toEqual([32, 'pair']);
    expect(value.seed).toBe(trainingSeed(0, 0));
    expect(singles.next().value.image.width).toBe(32);
  });
});

describe('splits', () => {
  it('keeps the held-out split disjoint from the training stream', () => {
    const heldOut = heldOutShapes(300);
    expect(heldOut.every((s) => s.seed % 2 === 1)).toBe(true);
    expect(stream.every((s) => s.seed % 2 === 0)).toBe(true);
    const train = new Set(stream.map((s) => digest(s.image)));
    expect(heldOut.some((s) => train.has(digest(s.image)))).toBe(false);
  });

  it('is fixed and indexable', () => {
    const [first] = heldOutShapes(1);
    expect(first!.seed).toBe(heldOutSeed(0));
    expect(digest(first!.image)).toBe(digest(generateShapes(heldOutSeed(0)).image));
    expect(stream[7]!.seed).toBe(trainingSeed(0, 7));
    expect(take(shapesStream(1), 3).map((s) => s.seed)).not.toEqual(stream.slice(0, 3).map((s) => s.seed));
  });
});

describe('platform independence', () => {
  it('draws stars without Math.sin / Math.cos, whose last bits differ between JavaScript engines', async () => {
    // ECMAScript leaves Math.sin and Math.cos implementation-approximated (V8, SpiderMonkey and
    // JavaScriptCore may differ in the last bit), so star vertices computed with them could move a
    // supersample across an edge in another browser, against "the same bytes on every platform".
    const stars = heldOutShapes(40, { size: 32, layouts: ['single'] })
      .filter((s) => s.scene.objects[0]!.shape === 'star')
      .map((s) => s.scene);
    expect(stars.length).toBeGreaterThan(0);
    const before = stars.map((scene) => digest(renderScene(scene)));
    // Pinned from the vertices as Math.cos / Math.sin computed them in V8: writing them out changed nothing.
    expect(createHash('sha1').update(before.join()).digest('hex')).toBe(
      '0a7392449fbc7c9d38b1767af1e38025d6d31b5d',
    );
    const { sin, cos } = Math;
    // A fresh copy of the module graph, loaded while Math's trigonometry is off limits.
    vi.resetModules();
    Math.sin = () => {
      throw new Error('Math.sin used');
    };
    Math.cos = () => {
      throw new Error('Math.cos used');
    };
    try {
      const fresh = await import('../src/index.js');
      expect(stars.map((scene) => digest(fresh.renderScene(scene)))).toEqual(before);
    } finally {
      Math.sin = sin;
      Math.cos = cos;
      vi.resetModules();
    }
  });
});
