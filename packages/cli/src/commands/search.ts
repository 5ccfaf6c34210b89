import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { EmbeddingIndex, type PixelImage } from '@vl/clip';
import type { CommandContext } from '../context.js';
import { listImages, readImage } from '../images.js';
import { CliError } from '../io.js';
import { openClip } from '../openModels.js';
import { embedTextsOrExplain } from '../texts.js';
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
  if (query.trim() === '') throw new CliError('search: the query is empty; give a text or an image path', 2);
  const top = positiveInt('top', ctx.string('top'), 5);
  const truncate = ctx.options.truncate === true;
  const paths = await listImages(folder, ctx.cwd);
  const queryPath = resolve(ctx.cwd, query);
  const byImage = existsSync(queryPath) && statSync(queryPath).isFile();
  const queryImage = byImage ? await readImage(query, ctx.cwd) : undefined; // before indexing
  const { model } = await openClip(ctx);
  try {
    const [q] = queryImage
      ? await model.embedImages([queryImage])
      : await embedTextsOrExplain(model, [query], truncate, () => 'the query');
    const index = new EmbeddingIndex<string>(model.embeddingDim);
    const bar = new ProgressBar(ctx.io, `indexing ${paths.length} images`);
    const skipped: string[] = [];
    for (let i = 0; i < paths.length; i += BATCH) {
      const batch: string[] = [];
      const images: PixelImage[] = [];
      for (const path of paths.slice(i, i + BATCH)) {
        // One unreadable file (a stray `._photo.png`, a truncated download) does not stop the index.
        const image = await readImage(path, ctx.cwd).catch((e: unknown) => {
          if (!(e instanceof CliError)) throw e;
          skipped.push(`${e.message}`);
          return undefined;
        });
        if (image) {
          batch.push(path);
          images.push(image);
        }
      }
      if (images.length > 0) index.add(await model.embedImages(images), batch);
      bar.update(Math.min(i + BATCH, paths.length), paths.length);
    }
    bar.finish();
    for (const why of skipped) ctx.io.stderr.write(`vl: search: skipped ${why}\n`);
    if (index.size === 0)
      throw new CliError(`search: none of the ${paths.length} image files of ${folder} could be read`);
    const hits = index.search(q!, top);
    if (ctx.json) {
      ctx.printJson({
        query,
        by: byImage ? 'image' : 'text',
        hits: hits.map((h) => ({ path: h.item, score: h.score })),
      });
    } else {
      for (const h of hits) ctx.print(`${h.score.toFixed(3)}  ${h.item}`);
    }
  } finally {
    model.dispose();
  }
}
