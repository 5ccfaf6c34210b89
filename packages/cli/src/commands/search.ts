import { accessSync, constants, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { EmbeddingIndex, type PixelImage } from '@vl/clip';
import type { CommandContext } from '../context.js';
import { IMAGE_EXTENSIONS, listImages, readImage } from '../images.js';
import { CliError } from '../io.js';
import { locateModel, modelFingerprint } from '../models.js';
import { openClip } from '../openModels.js';
import { embedTextsOrExplain, warnUnknownWords } from '../texts.js';
import { positiveInt } from '../options.js';
import { ProgressBar } from '../progress.js';
import { writeWhole } from '../writeWhole.js';

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
  const missingImage = !byImage && IMAGE_EXTENSIONS.includes(extname(query).toLowerCase());
  if (missingImage)
    ctx.io.stderr.write(
      `vl: search: there is no file ${query}; searching for it as a text (give an existing image file to search by image)\n`,
    );
  const queryImage = byImage ? await readImage(query, ctx.cwd) : undefined; // before indexing
  const indexFile = ctx.string('index');
  const previous = indexFile === undefined ? undefined : checkIndexFile(indexFile, ctx.cwd, paths);
  const { model } = await openClip(ctx);
  try {
    if (!queryImage && !missingImage) warnUnknownWords(ctx.io, 'search', model, [query]);
    const [q] = queryImage
      ? await model.embedImages([queryImage])
      : await embedTextsOrExplain(model, [query], truncate, () => 'the query');
    const location = locateModel('clip', ctx.string('model') ?? 'shapes', ctx.cwd);
    const modelKey = `${modelFingerprint(location)} weights:${ctx.string('weights') ?? 'f32'}`;
    const saved =
      indexFile === undefined || previous === undefined
        ? new Map()
        : savedVectors(ctx, indexFile, previous, modelKey, model.embeddingDim);
    const index = new EmbeddingIndex<Entry>(model.embeddingDim);
    const bar = new ProgressBar(ctx.io, `indexing ${paths.length} images`);
    const skipped: string[] = [];
    let reused = 0;
    for (let i = 0; i < paths.length; i += BATCH) {
      const batch: Entry[] = [];
      const images: PixelImage[] = [];
      for (const path of paths.slice(i, i + BATCH)) {
        const entry = entryOf(path, ctx.cwd);
        if (!entry) {
          skipped.push(`cannot read ${path}: it is gone, or a link to nothing`);
          continue;
        }
        const vector = saved.get(keyOf(entry));
        if (vector) {
          index.add([vector], [entry]); // unchanged since the saved index: not read nor embedded again
          reused++;
          continue;
        }
        // One unreadable file (a stray `._photo.png`, a truncated download) does not stop the index.
        const image = await readImage(path, ctx.cwd).catch((e: unknown) => {
          if (!(e instanceof CliError)) throw e;
          skipped.push(`${e.message}`);
          return undefined;
        });
        if (image) {
          batch.push(entry);
          images.push(image);
        }
      }
      if (images.length > 0) index.add(await model.embedImages(images), batch);
      bar.update(Math.min(i + BATCH, paths.length), paths.length);
    }
    bar.finish();
    for (const why of skipped) ctx.io.stderr.write(`vl: search: skipped a file: ${why}\n`);
    if (index.size === 0)
      throw new CliError(`search: none of the ${paths.length} image files of ${folder} could be read`);
    // An image of the folder searched by is its own best match (1.000): the others are the answer.
    const self = queryImage ? sameFileAs(queryPath) : undefined;
    const hits = index
      .search(q!, self ? top + 1 : top)
      .filter((h) => !self?.(h.item.file))
      .slice(0, top);
    if (ctx.json) {
      ctx.printJson({
        query,
        by: byImage ? 'image' : 'text',
        hits: hits.map((h) => ({ path: h.item.path, score: h.score })),
      });
    } else {
      for (const h of hits) ctx.print(`${h.score.toFixed(3).padStart(6)}  ${h.item.path}`); // a minus sign keeps the column
    }
    // Saved after the hits are printed: an index that cannot be written (a full disk) loses only itself.
    if (indexFile !== undefined) {
      try {
        await writeWhole(resolve(ctx.cwd, indexFile), index.save({ model: modelKey }));
      } catch (e) {
        throw new CliError(`search: could not save --index ${indexFile}: ${(e as Error).message}`);
      }
      ctx.io.stderr.write(
        `vl: search: ${reused} of ${index.size} images reused from ${indexFile}, ${index.size - reused} embedded; saved\n`,
      );
    }
  } finally {
    model.dispose();
  }
}

/** An indexed image: its path as listed, and what tells whether the file changed since. */
interface Entry {
  path: string;
  file: string;
  size: number;
  mtimeMs: number;
}

/** The entry of a listed file; undefined when it cannot be stat'ed (deleted since, a dangling link). */
function entryOf(path: string, cwd: string): Entry | undefined {
  const file = resolve(cwd, path);
  const info = statSync(file, { throwIfNoEntry: false });
  return info ? { path, file, size: info.size, mtimeMs: info.mtimeMs } : undefined;
}

const keyOf = (e: Entry) => `${e.file}\0${e.size}\0${e.mtimeMs}`;

/**
 * Checks `--index` before any model loads (exit 2): not a folder, not one of the images indexed,
 * in a folder that exists, and, when the file exists, an index vl wrote (never overwritten otherwise:
 * a photo or someone's notes given by mistake). Resolves to the saved index, or undefined when none.
 */
function checkIndexFile(
  indexFile: string,
  cwd: string,
  paths: readonly string[],
): EmbeddingIndex<Entry> | undefined {
  const file = resolve(cwd, indexFile);
  const info = statSync(file, { throwIfNoEntry: false });
  if (info?.isDirectory())
    throw new CliError(`search: --index ${indexFile} is a folder; give a file name`, 2);
  const isIndexed = sameFileAs(file);
  if (paths.some((p) => isIndexed(resolve(cwd, p))))
    throw new CliError(
      `search: --index ${indexFile} is one of the images being indexed; give the index another name`,
      2,
    );
  const folder = dirname(file);
  if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory())
    throw new CliError(`search: --index ${indexFile}: the folder ${dirname(indexFile)} does not exist`, 2);
  try {
    accessSync(folder, constants.W_OK);
  } catch {
    throw new CliError(`search: --index ${indexFile}: the folder ${dirname(indexFile)} is not writable`, 2);
  }
  if (!info) return undefined;
  try {
    return EmbeddingIndex.load<Entry>(readFileSync(file));
  } catch {
    throw new CliError(
      `search: --index ${indexFile} is not an index vl wrote; remove it or pick another name`,
      2,
    );
  }
}

/** Whether a path names the same existing file as `file` (through links or `..`). */
function sameFileAs(file: string): (other: string) => boolean {
  const real = existsSync(file) ? realpathSync(file) : file;
  return (other) => other === file || (existsSync(other) && realpathSync(other) === real);
}

/**
 * The vectors of a `--index` file by file (path, size and time), when it was made by this model;
 * none for another model's index (said on stderr).
 */
function savedVectors(
  ctx: CommandContext,
  indexFile: string,
  saved: EmbeddingIndex<Entry>,
  modelKey: string,
  dim: number,
): Map<string, Float32Array> {
  const vectors = new Map<string, Float32Array>();
  if (saved.metadata.model !== modelKey || saved.dim !== dim) {
    ctx.io.stderr.write(
      `vl: search: ${indexFile} was made by another model (or its files have changed since, or other --weights); it will be rebuilt\n`,
    );
    return vectors;
  }
  for (let i = 0; i < saved.size; i++) {
    const { vector, item } = saved.entry(i);
    if (typeof item?.file === 'string') vectors.set(keyOf(item), vector);
  }
  return vectors;
}
