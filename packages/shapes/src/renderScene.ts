import { checkScene } from './checkScene.js';
import { checkOptionKeys, describeValue } from './options.js';
import { createRandom } from './random.js';
import type { Scene, SceneBackground } from './scene.js';
import { insideShape } from './shapeGeometry.js';
import { COLOR_RGB } from './world.js';

/**
 * An 8-bit RGBA image, row-major: the pixel format `@vl/clip`'s `preprocess` accepts.
 *
 * @example
 * ```ts
 * const { data, width, height }: ShapesImage = generateShapes(1).image; // data.length === width * height * 4
 * ```
 */
export interface ShapesImage {
  /** `width * height * 4` bytes, RGBA, alpha always 255. */
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

function backgroundLevels(background: SceneBackground, width: number, height: number): Uint8ClampedArray {
  const { pattern, tone, amplitude, period, direction } = background;
  const levels = new Uint8ClampedArray(width * height).fill(tone);
  if (pattern === 'plain') return levels;
  const half = period / 2;
  const noise = pattern === 'noisy' ? createRandom(background.noiseSeed) : null;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let offset: number;
      if (noise) {
        offset = Math.round((noise.next() * 2 - 1) * amplitude);
      } else {
        const along =
          pattern === 'checkered'
            ? Math.floor(x / half) + Math.floor(y / half)
            : direction === 'horizontal'
              ? Math.floor(y / half)
              : direction === 'vertical'
                ? Math.floor(x / half)
                : Math.floor((x + y) / half);
        offset = along % 2 === 0 ? amplitude : -amplitude;
      }
      levels[y * width + x] = tone + offset;
    }
  }
  return levels;
}

/**
 * Draws a scene: the background, then each object anti-aliased by supersampling its exact inside test
 * (`supersample²` samples a pixel). A pure function of the scene: the same scene gives the same bytes.
 * A scene outside what the generator makes (an unknown shape or color, five objects, a striped
 * background with period 0, ...) throws an error naming the field.
 *
 * @example
 * ```ts
 * const { scene } = generateShapes(7);
 * const smoother = renderScene(scene, { supersample: 8 });
 * ```
 */
export function renderScene(scene: Scene, options: { supersample?: number } = {}): ShapesImage {
  checkScene(scene, 'renderScene()');
  checkOptionKeys('renderScene()', options, ['supersample']);
  const { width, height } = scene;
  const supersample = options.supersample ?? 4;
  if (!Number.isInteger(supersample) || supersample < 1 || supersample > 16) {
    throw new RangeError(
      `renderScene(): options.supersample must be an integer from 1 to 16, got ${describeValue(supersample)}`,
    );
  }
  const levels = backgroundLevels(scene.background, width, height);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const level = levels[i]!;
    data[i * 4] = level;
    data[i * 4 + 1] = level;
    data[i * 4 + 2] = level;
    data[i * 4 + 3] = 255;
  }
  const samples = supersample * supersample;
  for (const object of scene.objects) {
    const [r, g, b] = COLOR_RGB[object.color];
    const { center, radius, bbox } = object;
    const x0 = Math.max(0, Math.floor(bbox.x0));
    const y0 = Math.max(0, Math.floor(bbox.y0));
    const x1 = Math.min(width, Math.ceil(bbox.x1));
    const y1 = Math.min(height, Math.ceil(bbox.y1));
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        let hits = 0;
        for (let sy = 0; sy < supersample; sy++) {
          const uy = (py + (sy + 0.5) / supersample - center.y) / radius;
          for (let sx = 0; sx < supersample; sx++) {
            const ux = (px + (sx + 0.5) / supersample - center.x) / radius;
            if (insideShape(object.shape, ux, uy)) hits++;
          }
        }
        if (hits === 0) continue;
        const alpha = hits / samples;
        const at = (py * width + px) * 4;
        data[at] = data[at]! + (r - data[at]!) * alpha;
        data[at + 1] = data[at + 1]! + (g - data[at + 1]!) * alpha;
        data[at + 2] = data[at + 2]! + (b - data[at + 2]!) * alpha;
      }
    }
  }
  return { data, width, height };
}
