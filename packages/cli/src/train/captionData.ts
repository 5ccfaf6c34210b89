import {
  type ShapesImage,
  readCaptionFolder,
  sampleSingleObject,
  shapesVocabulary,
  tokenizeShapesText,
  trainingSeed,
  generateShapes,
} from '@vl/shapes';
import { CliError } from '../io.js';

/** One training pair. */
export interface CaptionPair {
  image: ShapesImage;
  caption: string;
}

/** Where training pairs come from: the shapes world's endless stream, or a folder's fixed pairs. */
export interface CaptionData {
  /** What `--data` named. */
  readonly name: string;
  /** The `i`-th training pair (deterministic for a given seed). */
  pair(i: number): CaptionPair;
  /** Every word the captions use (a closed vocabulary for the tokenizer). */
  readonly vocabulary: string[];
  /** Pairs available (Infinity for the shapes world). */
  readonly size: number;
}

/**
 * The shapes world at `size` pixels: every other pair is a single object (the zero-shot classes), the
 * rest are scenes of every layout, each with one of its caption variants.
 */
export function shapesCaptionData(seed: number, size: number): CaptionData {
  return {
    name: 'shapes',
    size: Number.POSITIVE_INFINITY,
    vocabulary: shapesVocabulary(),
    pair(i) {
      const s = trainingSeed(seed, i);
      const sample = i % 2 === 0 ? sampleSingleObject(s, { size }) : generateShapes(s, { size });
      return { image: sample.image, caption: sample.caption };
    },
  };
}

/** Image and caption pairs from a folder (`name.png` or `.jpg` next to `name.txt`). */
export async function folderCaptionData(folder: string, name = folder): Promise<CaptionData> {
  let pairs: { image: ShapesImage; caption: string }[];
  try {
    pairs = await readCaptionFolder(folder);
  } catch (e) {
    throw new CliError(`--data ${name}: ${(e as Error).message}`);
  }
  if (pairs.length < 2)
    throw new CliError(`--data ${name}: need at least 2 image + caption pairs, found ${pairs.length}`);
  const vocabulary = [...new Set(pairs.flatMap((p) => tokenizeShapesText(p.caption)))];
  return {
    name,
    size: pairs.length,
    vocabulary,
    pair: (i) => pairs[i % pairs.length]!,
  };
}
