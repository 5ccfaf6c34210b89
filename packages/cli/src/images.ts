import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { type PixelImage, loadImage } from '@vl/clip';
import { CliError, type CliIo, withoutCaller } from './io.js';

/** File extensions the CLI reads as images (PNG and JPEG, decoded in pure JavaScript). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

/** Reads one image file; a missing file, a folder or undecodable bytes are a {@link CliError}. */
export async function readImage(path: string, cwd: string): Promise<PixelImage> {
  const full = resolve(cwd, path);
  const info = await stat(full).catch(() => undefined);
  if (!info) throw new CliError(`no such image file: ${path}`);
  if (info.isDirectory()) throw new CliError(`${path} is a folder, not an image file`);
  try {
    return await loadImage(full);
  } catch (e) {
    // loadImage's messages name the resolved path: name the path as given.
    const message = withoutCaller(e).replaceAll(full, path);
    throw new CliError(
      message.startsWith(`${path}: `) ? `cannot read ${message}` : `cannot read ${path}: ${message}`,
    );
  }
}

/**
 * The PNG and JPEG files of a folder (not recursive; folders named like images are not files), sorted
 * by name, as paths joined to `folder` as the user wrote it.
 */
export async function listImages(folder: string, cwd: string): Promise<string[]> {
  const full = resolve(cwd, folder);
  const info = await stat(full).catch(() => undefined);
  if (!info) throw new CliError(`no such folder: ${folder}`);
  if (!info.isDirectory()) throw new CliError(`${folder} is a file; expected a folder of images`);
  const entries = await readdir(full, { withFileTypes: true });
  const names = entries
    .filter((e) => !e.isDirectory() && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()))
    .map((e) => e.name);
  if (names.length === 0) throw new CliError(`${folder} holds no PNG or JPEG files`);
  return names.sort().map((n) => join(folder, n));
}

/**
 * Reads the images a command was given one by one, going on past one that cannot be read: its
 * error is printed as a `vl:` line on stderr at once, and `check()` then fails the command (exit 1)
 * after the others were done, as `cat a missing b` does.
 *
 * @example
 * ```ts
 * const unread = new UnreadImages(ctx, 'classify');
 * for (const path of ctx.positionals) {
 *   const image = await unread.read(path);
 *   if (image) ...;
 * }
 * unread.check(); // throws when any was unreadable
 * ```
 */
export class UnreadImages {
  readonly #failed: string[] = [];

  constructor(
    readonly ctx: { io: CliIo; cwd: string },
    readonly command: string,
  ) {}

  /** The image, or undefined after reporting why it cannot be read. */
  async read(path: string): Promise<PixelImage | undefined> {
    try {
      return await readImage(path, this.ctx.cwd);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      this.ctx.io.stderr.write(`vl: ${e.message}\n`);
      this.#failed.push(path);
      return undefined;
    }
  }

  /** Throws when an image could not be read (after the rest were done). */
  check(): void {
    const n = this.#failed.length;
    if (n > 0)
      throw new CliError(`${this.command}: ${n} image${n > 1 ? 's' : ''} could not be read (see above)`);
  }
}
