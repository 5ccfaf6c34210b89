import { existsSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { EmbeddingIndex } from '@vl/clip';
import type { CommandContext } from '../context.js';
import { listImages, readImage } from '../images.js';
import { CliError } from '../io.js';
import { openClip } from '../openModels.js';
import { positiveInt } from '../options.js';
import { ProgressBar } from '../progress.js';

const BATCH = 16;

/**
 * `vl search <folder> "<query>"`: indexes the folder's images with CLIP and prints the closest
 * matches to a text query, or to an image when the query is an image file's path.
 */
export async function search(ctx: CommandContext): Promise<void> {
  const [folder, query, ...rest] = ctx.positionals;
  if (folder === undefined || query === undefined || rest.length > 0)
    throw new CliError('search: usage is `vl search <folder> "<query>"`', 2);
  const top = positiveInt('top', ctx.string('top'), 5);
  const paths = await listImages(folder, ctx.cwd);
  const { model } = await openClip(ctx);
  try {
    const index = new EmbeddingIndex<string>(model.embeddingDim);
    const bar = new ProgressBar(ctx.io, `indexing ${paths.length} images`);
    for (let i = 0; i < paths.length; i += BATCH) {
      const batch = paths.slice(i, i + BATCH);
      const images = await Promise.all(batch.map((p) => readImage(p, ctx.cwd)));
      index.add(await model.embedImages(images), batch);
      bar.update(Math.min(i + BATCH, paths.length), paths.length);
    }
    bar.finish();
    const queryPath = resolve(ctx.cwd, query);
    const byImage = existsSync(queryPath) && statSync(queryPath).isFile();
    const [q] = byImage
      ? await model.embedImages([await readImage(query, ctx.cwd)])
      : await model.embedTexts([query]);
    const hits = index.search(q!, top);
    if (ctx.json) {
      ctx.printJson({
        query,
        by: byImage ? 'image' : 'text',
        hits: hits.map((h) => ({ path: h.item, score: h.score })),
      });
    } else {
      for (const h of hits) ctx.print(`${h.score.toFixed(3)}  ${relative(ctx.cwd, h.item) || h.item}`);
    }
  } finally {
    model.dispose();
  }
}
