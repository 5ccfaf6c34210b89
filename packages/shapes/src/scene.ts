import type { ColorName, PatternName, RegionName, ShapeName, SizeName } from './world.js';

/**
 * An axis-aligned box in pixels: `x0 <= x < x1`, `y0 <= y < y1` (fractional).
 *
 * @example
 * ```ts
 * const { x0, y0, x1, y1 }: Box = generateShapes(1).scene.objects[0]!.bbox;
 * ```
 */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * One shape in a scene. Coordinates are in pixels, origin top left, y down.
 *
 * @example
 * ```ts
 * const [first]: readonly SceneObject[] = generateShapes(1).scene.objects; // first.color, first.center.x, ...
 * ```
 */
export interface SceneObject {
  shape: ShapeName;
  color: ColorName;
  size: SizeName;
  /**
   * The shape's reference point. On images of 26 px and up (29 px and up when `supersample` is above
   * 4) the pixel holding it is fully the object's color; on smaller images a small triangle, star or
   * cross can leave it blended with the background (about 7% of all objects at 16 px).
   */
  center: { x: number; y: number };
  /** Half the side of the square the shape is drawn in, in pixels. */
  radius: number;
  /** The box the drawn shape fits in (pixels). */
  bbox: Box;
  /** The 3x3-grid region of `center`, or `null` when the center is too near a grid line to say. */
  region: RegionName | null;
}

/**
 * The background: a gray tone, plain or with a low-contrast texture.
 *
 * @example
 * ```ts
 * const background: SceneBackground = generateShapes(1).scene.background; // background.pattern === 'noisy', ...
 * ```
 */
export interface SceneBackground {
  pattern: PatternName;
  /** Gray level of the background (0..255). */
  tone: number;
  /** How far the texture moves from `tone`, up and down (0 for plain). */
  amplitude: number;
  /** Stripe or check period in pixels (stripes and checks only; 0 otherwise). */
  period: number;
  /** Stripe direction (stripes only). */
  direction: 'horizontal' | 'vertical' | 'diagonal' | null;
  /** Seed of the per-pixel noise (noise only; 0 otherwise), so rendering is a pure function of the scene. */
  noiseSeed: number;
}

/**
 * How the objects were chosen: one object; a group of identical (shape and color) objects; two
 * different objects; or 2..4 objects of any kinds.
 *
 * @example
 * ```ts
 * const pairs = heldOutShapes(10, { layouts: ['pair'] satisfies SceneLayout[] });
 * ```
 */
export type SceneLayout = 'single' | 'group' | 'pair' | 'mixed';

/**
 * Everything drawn in one image, so every caption and answer can be checked against it.
 *
 * @example
 * ```ts
 * const scene: Scene = generateShapes(1).scene;
 * const image = renderScene(scene); // the same pixels as generateShapes(1).image
 * ```
 */
export interface Scene {
  width: number;
  height: number;
  layout: SceneLayout;
  background: SceneBackground;
  /** The objects in drawing order (they never overlap). */
  objects: readonly SceneObject[];
}
