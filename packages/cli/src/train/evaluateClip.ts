import type { ClipModel } from '@vl/clip';
import { heldOutShapes, heldOutSingleObjects, shapeLabels } from '@vl/shapes';

/** Quality of a CLIP on the shapes world's held-out split. */
export interface ClipShapesQuality {
  /** Zero-shot top-1 accuracy over the 48 color+shape labels, on single-object images. */
  zeroShot: number;
  /** Image-to-caption R@1 among the pool's canonical captions (a duplicate caption text counts as right). */
  retrievalR1: number;
  singles: number;
  pool: number;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Measures zero-shot accuracy on `singles` held-out single objects and image-to-caption R@1 on
 * `pool` held-out scenes, with `templates` for the labels.
 */
export async function evaluateClipOnShapes(
  model: ClipModel,
  templates: readonly string[],
  { singles = 480, pool = 100, size = 64 } = {},
): Promise<ClipShapesQuality> {
  const labels = shapeLabels();
  const classes = await model.labelEmbeddings(labels, templates);
  let right = 0;
  const objects = heldOutSingleObjects(singles, { size });
  for (let i = 0; i < objects.length; i += 32) {
    const chunk = objects.slice(i, i + 32);
    const embeddings = await model.embedImages(chunk.map((o) => o.image));
    chunk.forEach((o, j) => {
      let best = 0;
      for (let c = 1; c < classes.length; c++)
        if (dot(embeddings[j]!, classes[c]!) > dot(embeddings[j]!, classes[best]!)) best = c;
      if (best === o.labelIndex) right++;
    });
  }
  const scenes = heldOutShapes(pool, { size });
  const captions = scenes.map((s) => s.canonicalCaption);
  const text = await model.embedTexts(captions);
  let found = 0;
  for (let i = 0; i < scenes.length; i += 32) {
    const chunk = scenes.slice(i, i + 32);
    const embeddings = await model.embedImages(chunk.map((s) => s.image));
    chunk.forEach((s, j) => {
      let best = 0;
      for (let c = 1; c < text.length; c++)
        if (dot(embeddings[j]!, text[c]!) > dot(embeddings[j]!, text[best]!)) best = c;
      if (captions[best] === s.canonicalCaption) found++;
    });
  }
  return {
    zeroShot: right / objects.length,
    retrievalR1: found / scenes.length,
    singles: objects.length,
    pool: scenes.length,
  };
}
