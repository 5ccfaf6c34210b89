// The shapes world's fixed vocabulary of things: shapes, colors, sizes, background patterns, regions.

/**
 * The shapes the world draws.
 *
 * @example
 * ```ts
 * SHAPES.includes('star'); // true
 * ```
 */
export const SHAPES = ['circle', 'square', 'triangle', 'star', 'cross', 'heart'] as const;
/**
 * One of {@link SHAPES}.
 *
 * @example
 * ```ts
 * const shape: ShapeName = 'heart';
 * ```
 */
export type ShapeName = (typeof SHAPES)[number];

/**
 * The color names the world uses, in a fixed order (label order follows it).
 *
 * @example
 * ```ts
 * COLORS.length; // 8
 * ```
 */
export const COLORS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'white', 'black'] as const;
/**
 * One of {@link COLORS}.
 *
 * @example
 * ```ts
 * const color: ColorName = 'purple';
 * ```
 */
export type ColorName = (typeof COLORS)[number];

/**
 * The sRGB value of each color. They are far apart in hue or lightness, and every one of them stands
 * out from the gray backgrounds (tones 96..160, textures within ±14), white and black included.
 *
 * @example
 * ```ts
 * const [r, g, b] = COLOR_RGB.orange; // [255, 140, 0]
 * ```
 */
export const COLOR_RGB: Readonly<Record<ColorName, readonly [number, number, number]>> = {
  red: [220, 30, 30],
  orange: [255, 140, 0],
  yellow: [250, 220, 20],
  green: [30, 160, 50],
  blue: [30, 70, 220],
  purple: [140, 50, 190],
  white: [250, 250, 250],
  black: [15, 15, 15],
};

/**
 * Object sizes: their radius ranges ({@link SIZE_RADIUS}) do not overlap.
 *
 * @example
 * ```ts
 * SIZES; // ['small', 'large']
 * ```
 */
export const SIZES = ['small', 'large'] as const;
/**
 * One of {@link SIZES}.
 *
 * @example
 * ```ts
 * const size: SizeName = 'small';
 * ```
 */
export type SizeName = (typeof SIZES)[number];

/**
 * Radius ranges as fractions of the image side (the radius is half the side of the box a shape fits in).
 *
 * @example
 * ```ts
 * const [min, max] = SIZE_RADIUS.large; // a large shape on 64 px: radius 64 * min .. 64 * max
 * ```
 */
export const SIZE_RADIUS: Readonly<Record<SizeName, readonly [number, number]>> = {
  small: [0.1, 0.12],
  large: [0.17, 0.2],
};

/**
 * Background patterns; the word is the one captions and answers use ("a striped background").
 *
 * @example
 * ```ts
 * PATTERNS; // ['plain', 'striped', 'checkered', 'noisy']
 * ```
 */
export const PATTERNS = ['plain', 'striped', 'checkered', 'noisy'] as const;
/**
 * One of {@link PATTERNS}.
 *
 * @example
 * ```ts
 * const pattern: PatternName = 'noisy';
 * ```
 */
export type PatternName = (typeof PATTERNS)[number];

/**
 * The nine regions of a 3x3 grid over the image, row by row, as answers to "where is the star?"
 * say them.
 *
 * @example
 * ```ts
 * REGIONS[4]; // 'center'
 * ```
 */
export const REGIONS = [
  'top left',
  'top',
  'top right',
  'left',
  'center',
  'right',
  'bottom left',
  'bottom',
  'bottom right',
] as const;
/**
 * One of {@link REGIONS}.
 *
 * @example
 * ```ts
 * const where: RegionName = 'top left';
 * ```
 */
export type RegionName = (typeof REGIONS)[number];

/**
 * Number words for counts, indexed by the count; answers and captions use the words, never digits.
 *
 * @example
 * ```ts
 * NUMBER_WORDS[2]; // 'two'
 * ```
 */
export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four'] as const;

/**
 * The most objects a scene holds.
 *
 * @example
 * ```ts
 * generateShapes(1).scene.objects.length <= MAX_OBJECTS; // true
 * ```
 */
export const MAX_OBJECTS = 4;

/**
 * The plural of a shape name.
 *
 * @example
 * ```ts
 * pluralShape('cross'); // 'crosses'
 * ```
 */
export function pluralShape(shape: ShapeName): string {
  return shape === 'cross' ? 'crosses' : `${shape}s`;
}

/** "an" before a vowel ("an orange star"), else "a". Internal: not part of the public API. */
export function article(next: string): string {
  return /^[aeiou]/.test(next) ? 'an' : 'a';
}
