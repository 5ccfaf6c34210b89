import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { type PixelImage, loadImage } from '@vl/clip';
import { CliError } from './io.js';

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
    throw new CliError(`cannot read ${path} as an image (PNG or JPEG): ${(e as Error).message}`);
  }
}

/** The PNG and JPEG files of a folder (not recursive), sorted by name. */
export async function listImages(folder: string, cwd: string): Promise<string[]> {
  const full = resolve(cwd, folder);
  const info = await stat(full).catch(() => undefined);
  if (!info) throw new CliError(`no such folder: ${folder}`);
  if (!info.isDirectory()) throw new CliError(`${folder} is a file; expected a folder of images`);
  const names = (await readdir(full)).filter((n) => IMAGE_EXTENSIONS.includes(extname(n).toLowerCase()));
  if (names.length === 0) throw new CliError(`${folder} holds no PNG or JPEG files`);
  return names.sort().map((n) => join(full, n));
}
