// One check for every public function that takes a scene (renderScene, canonicalCaption,
// sceneCaptions, sceneQuestions): a hand-made or edited scene outside what the generator makes would
// otherwise draw nothing (`shape: 'hexagon'`), crash deep inside (`color: 'pink'`), render a flat
// "striped" background (period 0) or caption "undefined white triangles" (five objects).
import { describeValue, LAYOUTS } from './options.js';
import { region } from './sampleScene.js';
import type { Box, Scene } from './scene.js';
import { unitBox } from './shapeGeometry.js';
import {
  COLORS,
  MAX_OBJECTS,
  PATTERNS,
  SHAPES,
  SIZE_RADIUS,
  SIZES,
  type ShapeName,
  type SizeName,
} from './world.js';

const DIRECTIONS = ['horizontal', 'vertical', 'diagonal'] as const;

/** Relative slack for radii and boxes: rounding in the generator's arithmetic, not real differences. */
const TOLERANCE = 1e-9;

function fail(caller: string, path: string, value: unknown, expected: string): never {
  // "undefined is not an object" would read like JavaScript's own TypeError: name the missing field.
  if (value === undefined || value === null) {
    throw new RangeError(`${caller}: ${path} is ${String(value)}; it must be ${expected}`);
  }
  throw new RangeError(`${caller}: ${path}: ${describeValue(value)} is not ${expected}`);
}

function record(caller: string, path: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(caller, path, value, 'an object');
  return value as Record<string, unknown>;
}

function oneOf<T extends string>(caller: string, path: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) fail(caller, path, value, `one of ${allowed.join(', ')}`);
  return value as T;
}

function integer(caller: string, path: string, value: unknown, min: number, max: number): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    fail(caller, path, value, min === max ? `${min}` : `an integer from ${min} to ${max}`);
  }
  return value as number;
}

function finite(caller: string, path: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(caller, path, value, 'a finite number');
  return value;
}

function checkBackground(caller: string, value: unknown, side: number): void {
  const background = record(caller, 'scene.background', value);
  const pattern = oneOf(caller, 'scene.background.pattern', background.pattern, PATTERNS);
  const at = (key: string): string => `scene.background.${key}`;
  integer(caller, at('tone'), background.tone, 96, 160);
  if (pattern === 'plain') integer(caller, at('amplitude'), background.amplitude, 0, 0);
  else integer(caller, at('amplitude'), background.amplitude, 10, 14);
  if (pattern === 'striped' || pattern === 'checkered') {
    const period = background.period;
    const most = 2 * Math.floor(side / 4);
    if (
      !Number.isInteger(period) ||
      (period as number) % 2 !== 0 ||
      (period as number) < 4 ||
      (period as number) > most
    ) {
      fail(caller, at('period'), period, `an even integer from 4 to ${most} (half the image side)`);
    }
  } else integer(caller, at('period'), background.period, 0, 0);
  if (pattern === 'striped') oneOf(caller, at('direction'), background.direction, DIRECTIONS);
  else if (background.direction !== null)
    fail(caller, at('direction'), background.direction, `null (${pattern} background)`);
  if (pattern === 'noisy') integer(caller, at('noiseSeed'), background.noiseSeed, 1, 0xffffffff);
  else integer(caller, at('noiseSeed'), background.noiseSeed, 0, 0);
}

function boxesApart(a: Box, b: Box): boolean {
  return a.x1 <= b.x0 || b.x1 <= a.x0 || a.y1 <= b.y0 || b.y1 <= a.y0;
}

interface Checked {
  shape: ShapeName;
  color: string;
  bbox: Box;
}

function checkObject(caller: string, value: unknown, i: number, side: number): Checked {
  const path = `scene.objects[${i}]`;
  const object = record(caller, path, value);
  const shape = oneOf(caller, `${path}.shape`, object.shape, SHAPES);
  const color = oneOf(caller, `${path}.color`, object.color, COLORS);
  const size: SizeName = oneOf(caller, `${path}.size`, object.size, SIZES);
  const center = record(caller, `${path}.center`, object.center);
  const x = finite(caller, `${path}.center.x`, center.x);
  const y = finite(caller, `${path}.center.y`, center.y);
  const radius = finite(caller, `${path}.radius`, object.radius);
  const [minR, maxR] = SIZE_RADIUS[size];
  if (radius < minR * side * (1 - TOLERANCE) || radius > maxR * side * (1 + TOLERANCE)) {
    fail(
      caller,
      `${path}.radius`,
      radius,
      `in ${minR * side}..${maxR * side} (a ${size} shape on ${side} px)`,
    );
  }
  const box = record(caller, `${path}.bbox`, object.bbox);
  const bbox: Box = {
    x0: finite(caller, `${path}.bbox.x0`, box.x0),
    y0: finite(caller, `${path}.bbox.y0`, box.y0),
    x1: finite(caller, `${path}.bbox.x1`, box.x1),
    y1: finite(caller, `${path}.bbox.y1`, box.y1),
  };
  // renderScene only draws inside the bbox, so a smaller one would clip the shape.
  const [ux0, uy0, ux1, uy1] = unitBox(shape);
  const drawn = { x0: x + ux0 * radius, y0: y + uy0 * radius, x1: x + ux1 * radius, y1: y + uy1 * radius };
  const slack = TOLERANCE * side;
  if (
    bbox.x0 > drawn.x0 + slack ||
    bbox.y0 > drawn.y0 + slack ||
    bbox.x1 < drawn.x1 - slack ||
    bbox.y1 < drawn.y1 - slack
  ) {
    const want = `{ x0: ${drawn.x0}, y0: ${drawn.y0}, x1: ${drawn.x1}, y1: ${drawn.y1} }`;
    throw new RangeError(
      `${caller}: ${path}.bbox does not hold the ${shape} drawn at its center and radius, ${want}`,
    );
  }
  if (bbox.x0 < 0 || bbox.y0 < 0 || bbox.x1 > side || bbox.y1 > side) {
    throw new RangeError(`${caller}: ${path}.bbox reaches outside the ${side}x${side} image`);
  }
  const expected = region(x, y, side);
  if (object.region !== expected) {
    fail(caller, `${path}.region`, object.region, `the region of its center (${describeValue(expected)})`);
  }
  return { shape, color, bbox };
}

/**
 * Throws a RangeError (a TypeError for a non-object) naming the first field of `scene` outside what
 * the shapes world makes, so a hand-made or edited scene cannot draw nothing or caption nonsense:
 * square images of 16 to 1024 px; one of the four layouts with its object counts (one; two to
 * {@link MAX_OBJECTS} alike; two different; two to four of any kinds); known shapes, colors and sizes,
 * radii in the size's range, boxes that hold the shape, stay inside the image and do not overlap,
 * regions that match the centers; and the generator's backgrounds (tone 96..160, textures ±10..14,
 * stripe and check periods even and at most half the side).
 */
export function checkScene(scene: unknown, caller: string): asserts scene is Scene {
  if (typeof scene !== 'object' || scene === null || Array.isArray(scene)) {
    throw new TypeError(`${caller}: scene must be an object, got ${describeValue(scene)}`);
  }
  const s = scene as Record<string, unknown>;
  const side = integer(caller, 'scene.width', s.width, 16, 1024);
  if (s.height !== side) fail(caller, 'scene.height', s.height, `${side} (images are square: the width)`);
  const layout = oneOf(caller, 'scene.layout', s.layout, LAYOUTS);
  checkBackground(caller, s.background, side);
  if (!Array.isArray(s.objects)) fail(caller, 'scene.objects', s.objects, 'an array');
  // Array.from, not map: map skips the holes of a sparse list, which then crashed further down.
  const objects = Array.from(s.objects as unknown[], (object, i) => checkObject(caller, object, i, side));
  const [least, most] = layout === 'single' ? [1, 1] : layout === 'pair' ? [2, 2] : [2, MAX_OBJECTS];
  if (objects.length < least || objects.length > most) {
    const count = least === most ? `${least}` : `${least} to ${most}`;
    throw new RangeError(
      `${caller}: scene.objects: a '${layout}' scene has ${count} object${most === 1 ? '' : 's'}, got ${objects.length}`,
    );
  }
  const [first] = objects;
  if (layout === 'group' && objects.some((o) => o.shape !== first!.shape || o.color !== first!.color)) {
    throw new RangeError(`${caller}: scene.objects: a 'group' scene's objects share one shape and color`);
  }
  if (layout === 'pair' && objects[1]!.shape === first!.shape && objects[1]!.color === first!.color) {
    throw new RangeError(`${caller}: scene.objects: a 'pair' scene's two objects differ in shape or color`);
  }
  for (const [i, a] of objects.entries()) {
    for (const [j, b] of objects.entries()) {
      if (j > i && !boxesApart(a.bbox, b.bbox)) {
        throw new RangeError(
          `${caller}: scene.objects[${i}] and scene.objects[${j}] overlap (their bboxes meet)`,
        );
      }
    }
  }
}
