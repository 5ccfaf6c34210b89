import type { SceneLayout } from './scene.js';

/**
 * Options shared by every sampler of the shapes world.
 *
 * @example
 * ```ts
 * const options: ShapesOptions = { size: 32, layouts: ['single', 'pair'], textures: false };
 * ```
 */
export interface ShapesOptions {
  /** Image side in pixels (square images): 64. Any integer from 16 to 1024 (32, 64 and 224 are typical). */
  size?: number;
  /** Which scene layouts to draw from, uniformly: all four. */
  layouts?: readonly SceneLayout[];
  /** `false` keeps every background plain: `true` (plain, striped, checkered or noisy). */
  textures?: boolean;
  /** Anti-aliasing: each pixel averages `supersample²` samples: 4. An integer from 1 to 16. */
  supersample?: number;
}

/** {@link ShapesOptions} with every default filled in and checked. */
export interface ResolvedShapesOptions {
  size: number;
  layouts: readonly SceneLayout[];
  textures: boolean;
  supersample: number;
}

const LAYOUTS: readonly SceneLayout[] = ['single', 'group', 'pair', 'mixed'];

/** Fills defaults and rejects bad values with an error naming the function and the option. */
export function resolveOptions(options: ShapesOptions | undefined, caller: string): ResolvedShapesOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError(`${caller}: options must be an object, got ${String(options)}`);
  }
  const { size = 64, layouts = LAYOUTS, textures = true, supersample = 4 } = options ?? {};
  if (!Number.isInteger(size) || size < 16 || size > 1024) {
    throw new RangeError(`${caller}: options.size must be an integer from 16 to 1024, got ${String(size)}`);
  }
  if (!Array.isArray(layouts) || layouts.length === 0 || !layouts.every((l) => LAYOUTS.includes(l))) {
    throw new RangeError(
      `${caller}: options.layouts must be a non-empty list of ${LAYOUTS.map((l) => `'${l}'`).join(', ')}; got ${JSON.stringify(layouts)}`,
    );
  }
  if (typeof textures !== 'boolean') {
    throw new TypeError(`${caller}: options.textures must be true or false, got ${String(textures)}`);
  }
  if (!Number.isInteger(supersample) || supersample < 1 || supersample > 16) {
    throw new RangeError(
      `${caller}: options.supersample must be an integer from 1 to 16, got ${String(supersample)}`,
    );
  }
  return { size, layouts: [...layouts], textures, supersample };
}
