// Inside tests for each shape in unit coordinates: x right, y down (image convention), the shape
// fitting the box [-1, 1]^2 and containing a neighbourhood of the origin: at least the square
// [-0.339, 0.339]^2 (the star's is the smallest), so the pixel at an object's center has the object's
// full color once a small radius (0.1 of the side) spans the pixel's samples: from 26 px images at
// supersample 4, 29 px at any supersample, not at 16 px (SceneObject.center).
import type { ShapeName } from './world.js';

type Point = readonly [number, number];

// A five-pointed star, first point straight up: outer radius 1.05, inner 0.5, vertex i at angle
// -90° + 36° i, then moved down by 0.06. The points are pushed out past the unit circle a little, so
// a star's box is about as full as the other shapes' and a small star still reads as a star. Written
// out, not computed: ECMAScript leaves Math.sin and Math.cos approximate, and their last bits differ
// between engines, which could move a supersample across an edge in another browser. These are the
// exact doubles `[r * Math.cos(a), r * Math.sin(a) + 0.06]` gives in V8 (Node, Chromium), the values
// every shipped model was trained on (test/generateShapes.test.ts pins star images drawn with them).
const STAR: Point[] = [
  [6.429395695523605e-17, -0.99],
  [0.29389262614623657, -0.34450849718747373],
  [0.9986093421099113, -0.2644678440936948],
  [0.47552825814757677, 0.2145084971874737],
  [0.6171745149070968, 0.909467844093695],
  [3.061616997868383e-17, 0.56],
  [-0.6171745149070967, 0.909467844093695],
  [-0.47552825814757677, 0.21450849718747375],
  [-0.9986093421099114, -0.26446784409369467],
  [-0.2938926261462366, -0.3445084971874737],
];
const TRIANGLE: Point[] = [
  [0, -1],
  [1, 0.78],
  [-1, 0.78],
];

/** Polygon vertices as flat `[x0, y0, x1, y1, ...]`: this test runs for every supersample. */
function flat(vertices: readonly Point[]): Float64Array {
  return Float64Array.from(vertices.flat());
}

const STAR_XY = flat(STAR);
const TRIANGLE_XY = flat(TRIANGLE);

/** Even-odd point-in-polygon test. */
function inPolygon(xy: Float64Array, x: number, y: number): boolean {
  let inside = false;
  const n = xy.length;
  for (let i = 0, j = n - 2; i < n; j = i, i += 2) {
    const xi = xy[i]!;
    const yi = xy[i + 1]!;
    const xj = xy[j]!;
    const yj = xy[j + 1]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function inHeart(x: number, y: number): boolean {
  // The classic implicit heart (u² + v² − 1)³ − u² v³ ≤ 0 (v up), which spans u ∈ ±1.14 and
  // v ∈ [−1, 1.24]; scaled and shifted so it spans [−1, 1] on both axes.
  const u = x * 1.14;
  const v = -y * 1.12 + 0.12;
  const a = u * u + v * v - 1;
  return a * a * a - u * u * v * v * v <= 0;
}

const CROSS_ARM = 0.36;

/** Whether the unit-coordinate point (x, y) is inside `shape`. */
export function insideShape(shape: ShapeName, x: number, y: number): boolean {
  switch (shape) {
    case 'circle':
      return x * x + y * y <= 1;
    case 'square':
      return Math.abs(x) <= 0.88 && Math.abs(y) <= 0.88;
    case 'triangle':
      return inPolygon(TRIANGLE_XY, x, y);
    case 'star':
      return inPolygon(STAR_XY, x, y);
    case 'cross':
      return (
        (Math.abs(x) <= CROSS_ARM && Math.abs(y) <= 0.96) || (Math.abs(y) <= CROSS_ARM && Math.abs(x) <= 0.96)
      );
    case 'heart':
      return inHeart(x, y);
  }
}

/** A box in unit coordinates: [minX, minY, maxX, maxY]. */
export type UnitBox = readonly [number, number, number, number];

const boxCache = new Map<ShapeName, UnitBox>();

/**
 * The shape's bounding box in unit coordinates, found by scanning a fine grid once per shape (to
 * 1/200 of a unit, rounded outwards), so the geometry above stays the only definition.
 */
export function unitBox(shape: ShapeName): UnitBox {
  const cached = boxCache.get(shape);
  if (cached) return cached;
  const steps = 512;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let j = 0; j <= steps; j++) {
    const y = -1.25 + (2.5 * j) / steps;
    for (let i = 0; i <= steps; i++) {
      const x = -1.25 + (2.5 * i) / steps;
      if (!insideShape(shape, x, y)) continue;
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
  }
  const pad = 2.5 / steps;
  const box: UnitBox = [minX - pad, minY - pad, maxX + pad, maxY + pad];
  boxCache.set(shape, box);
  return box;
}
