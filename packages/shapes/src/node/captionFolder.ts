import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { heldOutSeed, generateShapes, trainingSeed } from '../generateShapes.js';
import { describeValue, resolveOptions, SHAPES_OPTION_KEYS, type ShapesOptions } from '../options.js';
import type { ShapesImage } from '../renderScene.js';
import { decodeImage } from './decodeImage.js';
import { encodePng } from './encodePng.js';

/**
 * Options for {@link writeShapesFolder}.
 *
 * @example
 * ```ts
 * await writeShapesFolder('data/train', 10_000, { split: 'train', seed: 1, size: 64 } satisfies WriteShapesFolderOptions);
 * ```
 */
export interface WriteShapesFolderOptions extends ShapesOptions {
  /** `'train'` (seeds of `shapesStream(seed)`) or `'heldout'` (seeds of `heldOutShapes`): `'heldout'`. */
  split?: 'train' | 'heldout';
  /** The training stream's seed (split `'train'` only): 0. */
  seed?: number;
  /** Also write `scenes.jsonl` (one line a sample: name, seed, scene, captions, questions): true. */
  metadata?: boolean;
}

/**
 * Writes `n` shapes-world samples into `dir` (created if missing) as `000000.png` + `000000.txt`
 * (the canonical caption) pairs, plus `scenes.jsonl` with everything known about each. Node only.
 * Returns the names written (without extension). A folder holding numbered samples this call would
 * not replace (an earlier, larger run's) is refused before anything is written.
 *
 * @example
 * ```ts
 * await writeShapesFolder('data/shapes', 100, { size: 64 });
 * const pairs = await readCaptionFolder('data/shapes');
 * ```
 */
export async function writeShapesFolder(
  dir: string,
  n: number,
  options: WriteShapesFolderOptions = {},
): Promise<string[]> {
  if (typeof dir !== 'string' || dir === '')
    throw new TypeError('writeShapesFolder(): dir must be a folder path');
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`writeShapesFolder(): n must be a non-negative integer, got ${describeValue(n)}`);
  }
  // Every key checked, and the shapes options resolved, before the folder is made.
  resolveOptions(options, 'writeShapesFolder()', [...SHAPES_OPTION_KEYS, 'split', 'seed', 'metadata']);
  const { split = 'heldout', seed = 0, metadata = true, ...shapesOptions } = options;
  if (split !== 'train' && split !== 'heldout') {
    throw new RangeError(
      `writeShapesFolder(): options.split must be 'train' or 'heldout', got ${describeValue(split)}`,
    );
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(
      `writeShapesFolder(): options.seed must be a non-negative integer, got ${describeValue(seed)}`,
    );
  }
  if (typeof metadata !== 'boolean') {
    throw new TypeError(
      `writeShapesFolder(): options.metadata must be true or false, got ${describeValue(metadata)}`,
    );
  }
  await mkdir(dir, { recursive: true });
  const digits = Math.max(6, String(n - 1).length);
  await refuseStaleSamples(dir, n, digits);
  const names: string[] = [];
  const lines: string[] = [];
  for (let index = 0; index < n; index++) {
    const sampleSeed = split === 'train' ? trainingSeed(seed, index) : heldOutSeed(index);
    const sample = generateShapes(sampleSeed, shapesOptions);
    const name = String(index).padStart(digits, '0');
    await writeFile(join(dir, `${name}.png`), encodePng(sample.image));
    await writeFile(join(dir, `${name}.txt`), `${sample.canonicalCaption}\n`);
    if (metadata) {
      const { seed: s, scene, captions, questions } = sample;
      lines.push(JSON.stringify({ name, seed: s, scene, captions, questions }));
    }
    names.push(name);
  }
  if (metadata) await writeFile(join(dir, 'scenes.jsonl'), lines.length ? `${lines.join('\n')}\n` : '');
  return names;
}

/**
 * Throws if `dir` holds numbered samples that writing `n` (names of `digits` digits) would not
 * replace, such as an earlier, larger run's: readCaptionFolder would read them as part of this one.
 */
async function refuseStaleSamples(dir: string, n: number, digits: number): Promise<void> {
  const stale = (await readdir(dir)).filter((file) => {
    const m = /^(\d+)\.(png|txt)$/.exec(file);
    return m !== null && (m[1]!.length !== digits || Number(m[1]) >= n);
  });
  if (stale.length === 0) return;
  stale.sort();
  const shown =
    stale.length > 3 ? `${stale.slice(0, 3).join(', ')}, ... (${stale.length} files)` : stale.join(', ');
  throw new Error(
    `writeShapesFolder(): ${dir} holds samples this call would not replace (${shown}), which readCaptionFolder would read with the new ones; write to an empty folder or remove them`,
  );
}

/**
 * One image and its caption from a caption folder.
 *
 * @example
 * ```ts
 * const [first]: CaptionPair[] = await readCaptionFolder('data/shapes');
 * ```
 */
export interface CaptionPair {
  /** The file name without extension ("000003"). */
  name: string;
  /** The image's path. */
  path: string;
  image: ShapesImage;
  caption: string;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/**
 * Reads a folder of images (PNG or JPEG) with a caption file each (`cat.png` + `cat.txt`, the text
 * trimmed), sorted by name. Other files are ignored; an image without a caption file, or a caption
 * without an image, is an error naming the files. Node only.
 *
 * @example
 * ```ts
 * for (const { name, image, caption } of await readCaptionFolder('data/shapes')) {
 *   console.log(name, image.width, caption);
 * }
 * ```
 */
export async function readCaptionFolder(dir: string): Promise<CaptionPair[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    throw new Error(`readCaptionFolder(): cannot read the folder ${dir}: ${(error as Error).message}`);
  }
  const images = new Map<string, string>();
  /** Caption file by name: its own extension is kept, so `cat.TXT` is read as it is spelt. */
  const captions = new Map<string, string>();
  for (const entry of entries.sort()) {
    const extension = extname(entry).toLowerCase();
    const name = entry.slice(0, entry.length - extension.length);
    if (IMAGE_EXTENSIONS.has(extension)) {
      const existing = images.get(name);
      if (existing)
        throw new Error(`readCaptionFolder(): two images named ${name} in ${dir}: ${existing}, ${entry}`);
      images.set(name, entry);
    } else if (extension === '.txt') captions.set(name, entry);
  }
  const missingCaption = [...images.keys()].filter((name) => !captions.has(name));
  const missingImage = [...captions.keys()].filter((name) => !images.has(name));
  if (missingCaption.length > 0 || missingImage.length > 0) {
    const parts: string[] = [];
    if (missingCaption.length)
      parts.push(`images without a .txt caption: ${missingCaption.slice(0, 5).join(', ')}`);
    if (missingImage.length) parts.push(`captions without an image: ${missingImage.slice(0, 5).join(', ')}`);
    throw new Error(`readCaptionFolder(): ${dir} has ${parts.join('; ')}`);
  }
  if (images.size === 0) throw new Error(`readCaptionFolder(): ${dir} has no .png or .jpg images`);
  const pairs: CaptionPair[] = [];
  for (const [name, file] of images) {
    const path = join(dir, file);
    const image = decodeImage(await readFile(path), path);
    const caption = (await readFile(join(dir, captions.get(name)!), 'utf8')).trim();
    pairs.push({ name, path, image, caption });
  }
  return pairs;
}
