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

/** Every scene layout, in the order messages list them. */
export const LAYOUTS: readonly SceneLayout[] = ['single', 'group', 'pair', 'mixed'];

/** The keys of {@link ShapesOptions}, in the order messages list them. */
export const SHAPES_OPTION_KEYS = ['size', 'layouts', 'textures', 'supersample'] as const;

/**
 * How messages show a value the caller passed: strings quoted (`'pink'`), numbers as written,
 * arrays and objects by kind, so a message stays one short line.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 24 ? `${value.slice(0, 24)}...` : value}'`;
  if (typeof value === 'bigint') return `${String(value)}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

/**
 * Throws a TypeError unless `options` is undefined or a plain object whose keys are all in `known`,
 * naming the first unknown key and the accepted ones (`{ sise: 32 }` would otherwise be ignored and
 * give a 64 px image). The same message as `checkOptionKeys` in `@vl/tensor`.
 */
export function checkOptionKeys(caller: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${caller}: options must be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`${caller}: unknown option ${JSON.stringify(key)} (expected ${known.join(', ')})`);
    }
  }
}

/**
 * Fills defaults and rejects bad values and unknown keys with an error naming the function and the
 * option; `known` is the keys the caller accepts (single-object samplers take no `layouts`).
 */
export function resolveOptions(
  options: ShapesOptions | undefined,
  caller: string,
  known: readonly string[] = SHAPES_OPTION_KEYS,
): ResolvedShapesOptions {
  checkOptionKeys(caller, options, known);
  const { size = 64, layouts = LAYOUTS, textures = true, supersample = 4 } = options ?? {};
  if (!Number.isInteger(size) || size < 16 || size > 1024) {
    throw new RangeError(
      `${caller}: options.size must be an integer from 16 to 1024, got ${describeValue(size)}`,
    );
  }
  if (
    !Array.isArray(layouts) ||
    layouts.length === 0 ||
    // Spread first: `every` skips the holes of a sparse list (`[, 'pair']`), which then drew `undefined`.
    ![...layouts].every((l) => LAYOUTS.includes(l))
  ) {
    throw new RangeError(
      `${caller}: options.layouts must be a non-empty list of ${LAYOUTS.map((l) => `'${l}'`).join(', ')}; got ${JSON.stringify(layouts)}`,
    );
  }
  if (typeof textures !== 'boolean') {
    throw new TypeError(`${caller}: options.textures must be true or false, got ${describeValue(textures)}`);
  }
  if (!Number.isInteger(supersample) || supersample < 1 || supersample > 16) {
    throw new RangeError(
      `${caller}: options.supersample must be an integer from 1 to 16, got ${describeValue(supersample)}`,
    );
  }
  return { size, layouts: [...layouts], textures, supersample };
}
