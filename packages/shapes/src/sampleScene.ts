import type { ResolvedShapesOptions } from './options.js';
import type { Random } from './random.js';
import { dominantRelation } from './relations.js';
import type { Box, SceneBackground, SceneLayout, SceneObject, Scene } from './scene.js';
import { unitBox } from './shapeGeometry.js';
import {
  COLORS,
  type ColorName,
  PATTERNS,
  REGIONS,
  type RegionName,
  SHAPES,
  SIZE_RADIUS,
  SIZES,
  type ShapeName,
  type SizeName,
} from './world.js';

interface ObjectSpec {
  shape: ShapeName;
  color: ColorName;
  size: SizeName;
}

/** Margin to the image edge and gap between objects' boxes, as fractions of the image side. */
const EDGE_MARGIN = 0.02;
const OBJECT_GAP = 0.04;
/** A center nearer than this (fraction of the side) to a third line has no region. */
const REGION_CLEARANCE = 0.05;
/** The share of 'pair' scenes whose two objects are placed so that a relation caption applies. */
const PAIR_RELATED = 0.75;

function randomSpec(random: Random): ObjectSpec {
  return { shape: random.pick(SHAPES), color: random.pick(COLORS), size: random.pick(SIZES) };
}

function objectSpecs(layout: SceneLayout, random: Random): ObjectSpec[] {
  switch (layout) {
    case 'single':
      return [randomSpec(random)];
    case 'group': {
      const { shape, color } = randomSpec(random);
      const count = random.int(2, 4);
      return Array.from({ length: count }, () => ({ shape, color, size: random.pick(SIZES) }));
    }
    case 'pair': {
      const first = randomSpec(random);
      let second = randomSpec(random);
      while (second.shape === first.shape && second.color === first.color) second = randomSpec(random);
      return [first, second];
    }
    case 'mixed': {
      const count = random.int(2, 4);
      return Array.from({ length: count }, () => randomSpec(random));
    }
  }
}

function sampleBackground(random: Random, size: number, textures: boolean): SceneBackground {
  const pattern = textures ? random.pick(PATTERNS) : 'plain';
  const tone = random.int(96, 160);
  const textured = pattern !== 'plain';
  return {
    pattern,
    tone,
    amplitude: textured ? random.int(10, 14) : 0,
    period:
      pattern === 'striped' || pattern === 'checkered'
        ? 2 * Math.max(2, Math.round(size * random.float(0.03, 0.06)))
        : 0,
    direction: pattern === 'striped' ? random.pick(['horizontal', 'vertical', 'diagonal'] as const) : null,
    noiseSeed: pattern === 'noisy' ? random.int(1, 0xffffffff) : 0,
  };
}

/** The 3x3-grid region of a center, or null when it is too near a grid line (also checks scenes). */
export function region(x: number, y: number, size: number): RegionName | null {
  const clear = REGION_CLEARANCE * size;
  const third = (v: number): number | null => {
    const lines = [size / 3, (2 * size) / 3];
    if (lines.some((line) => Math.abs(v - line) < clear)) return null;
    return v < lines[0]! ? 0 : v < lines[1]! ? 1 : 2;
  };
  const column = third(x);
  const row = third(y);
  return column === null || row === null ? null : REGIONS[row * 3 + column]!;
}

function boxesApart(a: Box, b: Box, gap: number): boolean {
  return a.x1 + gap <= b.x0 || b.x1 + gap <= a.x0 || a.y1 + gap <= b.y0 || b.y1 + gap <= a.y0;
}

/** Places every object inside the image without overlaps, or returns null when a try fails. */
function place(specs: readonly ObjectSpec[], random: Random, size: number): SceneObject[] | null {
  const margin = Math.max(1, EDGE_MARGIN * size);
  const gap = Math.max(1, OBJECT_GAP * size);
  const placed: SceneObject[] = [];
  for (const spec of specs) {
    const [minR, maxR] = SIZE_RADIUS[spec.size];
    const radius = size * random.float(minR, maxR);
    const [ux0, uy0, ux1, uy1] = unitBox(spec.shape);
    let found: SceneObject | null = null;
    for (let attempt = 0; attempt < 100 && !found; attempt++) {
      const x = random.float(margin - ux0 * radius, size - margin - ux1 * radius);
      const y = random.float(margin - uy0 * radius, size - margin - uy1 * radius);
      const bbox = { x0: x + ux0 * radius, y0: y + uy0 * radius, x1: x + ux1 * radius, y1: y + uy1 * radius };
      if (placed.every((other) => boxesApart(other.bbox, bbox, gap))) {
        found = { ...spec, center: { x, y }, radius, bbox, region: region(x, y, size) };
      }
    }
    if (!found) return null;
    placed.push(found);
  }
  return placed;
}

/**
 * Draws a random scene: a layout, its objects (placed by rejection sampling so they never overlap and
 * stay inside the image) and a background.
 */
export function sampleScene(random: Random, options: ResolvedShapesOptions): Scene {
  const { size } = options;
  // The layout is drawn once so hard-to-place layouts (four large shapes) keep their share.
  const layout = random.pick(options.layouts);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const specs = objectSpecs(layout, random);
    // Most pairs are placed side by side or one above the other, so relation captions are common.
    const related = layout === 'pair' && random.chance(PAIR_RELATED);
    for (let tries = 0; tries < 20; tries++) {
      const objects = place(specs, random, size);
      if (!objects) continue;
      if (related && dominantRelation(objects[0]!, objects[1]!, { width: size, height: size }) === null)
        continue;
      const background = sampleBackground(random, size, options.textures);
      return { width: size, height: size, layout, background, objects };
    }
  }
  throw new Error(`sampleScene(): could not place the objects in a ${size}x${size} image`);
}
