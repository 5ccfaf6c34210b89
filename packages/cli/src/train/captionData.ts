import {
  COLORS,
  hashSeed,
  type ShapesImage,
  readCaptionFolder,
  sampleSingleObject,
  shapesVocabulary,
  tokenizeShapesText,
  trainingSeed,
  generateShapes,
} from '@vl/shapes';
import { CliError, withoutCaller } from '../io.js';

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

/** Single objects in a row that share one colour: the contrastive batch's hard negatives. */
const SAME_COLOUR_RUN = 8;

/**
 * The shapes world at `size` pixels: every other pair is a single object (the zero-shot classes), the
 * rest are scenes of every layout, each with one of its caption variants. Single objects come in
 * runs of {@link SAME_COLOUR_RUN} of one colour (drawn by rejection from the stream's seeds), so a
 * batch holds many pairs that only shape tells apart; with colours uniform instead, colour alone
 * separates almost every negative and a CLIP never has to learn shape.
 */
export function shapesCaptionData(seed: number, size: number): CaptionData {
  return {
    name: 'shapes',
    size: Number.POSITIVE_INFINITY,
    vocabulary: shapesVocabulary(),
    pair(i) {
      if (i % 2 === 1) {
        const sample = generateShapes(trainingSeed(seed, i), { size });
        return { image: sample.image, caption: sample.caption };
      }
      const run = Math.floor(i / 2 / SAME_COLOUR_RUN);
      const colour = COLORS[hashSeed(seed, run, 0xc01) % COLORS.length]!;
      for (let j = 0; ; j++) {
        const sample = sampleSingleObject(trainingSeed(seed, i * 64 + j), { size });
        if (sample.scene.objects[0]!.color === colour || j === 200)
          return { image: sample.image, caption: sample.caption };
      }
    },
  };
}

/** Image and caption pairs from a folder (`name.png` or `.jpg` next to `name.txt`). */
export async function folderCaptionData(folder: string, name = folder): Promise<CaptionData> {
  let pairs: { image: ShapesImage; caption: string }[];
  try {
    pairs = await readCaptionFolder(folder);
  } catch (e) {
    throw new CliError(`--data ${name}: ${withoutCaller(e)}`);
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
