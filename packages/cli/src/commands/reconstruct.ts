import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { CommandContext } from '../context.js';
import { readImage } from '../images.js';
import { CliError } from '../io.js';
import { findModel, openDvae } from '../openModels.js';
import { positiveInt } from '../options.js';
import { imagesToTensor, psnr, squareImage, tensorToRgbImages, writePng } from '../pixels.js';

/** Whether two existing paths name one file: through links (symbolic or hard) or `..` alike. */
function sameFile(a: string, b: string): boolean {
  if (!existsSync(a) || !existsSync(b)) return false;
  if (realpathSync(a) === realpathSync(b)) return true;
  const [sa, sb] = [statSync(a), statSync(b)];
  return sa.dev === sb.dev && sa.ino === sb.ino;
}

/**
 * Fails before any work when `-o` could not be written, or would replace the input or (without
 * `--overwrite`) another file.
 */
function checkOutput(outPath: string, inputPath: string, out: string, overwrite: boolean): void {
  if (outPath === inputPath || sameFile(outPath, inputPath))
    throw new CliError(`-o ${out} is the input image itself; write the reconstruction to another file`, 2);
  if (existsSync(outPath) && statSync(outPath).isDirectory())
    throw new CliError(
      `-o ${out} is a folder; give a file name such as ${join(out, 'reconstruction.png')}`,
      2,
    );
  if (!out.toLowerCase().endsWith('.png'))
    throw new CliError(`-o ${out}: the output is written as PNG; name it *.png`, 2);
  const folder = dirname(outPath);
  if (!existsSync(folder) || !statSync(folder).isDirectory())
    throw new CliError(`-o ${out}: the folder ${dirname(out)} does not exist`, 2);
  if (existsSync(outPath) && !overwrite)
    throw new CliError(`-o ${out} exists; --overwrite replaces it, or give another name`, 2);
}

/** How many times the model's image size `--size` may be: memory grows with its square. */
const MAX_SIZE_FACTOR = 8;

/**
 * `--size`, parsed and bounded before the model loads: a positive integer of at most
 * {@link MAX_SIZE_FACTOR} times the model's image size (its vl.json's, else 256, the DALL-E dVAE's).
 * Unbounded, `--size 4096` of the 64 px shapes dVAE took more than 24 GB and was killed.
 */
function sizeOption(value: string | undefined, modelSize: number): number {
  const size = positiveInt('size', value, modelSize);
  const limit = MAX_SIZE_FACTOR * modelSize;
  if (size > limit)
    throw new CliError(
      `--size ${size} is too large: at most ${limit}, ${MAX_SIZE_FACTOR} times this model's ${modelSize} px (the memory it takes grows with the square of the size)`,
      2,
    );
  return size;
}

/**
 * `vl reconstruct <image> -o out.png`: encodes an image to dVAE codebook tokens and decodes it back;
 * prints the token grid's size and the PSNR against the (resized, cropped) input.
 */
export async function reconstruct(ctx: CommandContext): Promise<void> {
  const [input, ...rest] = ctx.positionals;
  if (input === undefined || rest.length > 0)
    throw new CliError('reconstruct: usage is `vl reconstruct <image> -o out.png`', 2);
  const out = ctx.string('output');
  if (!out) throw new CliError('reconstruct: give the output file with -o out.png', 2);
  checkOutput(resolve(ctx.cwd, out), resolve(ctx.cwd, input), out, ctx.options.overwrite === true);
  // Located once: a URL's vl.json is fetched here, for --size, and not again by openDvae.
  const located = await findModel(ctx, 'dvae');
  const size = sizeOption(ctx.string('size'), located.defaults.imageSize ?? 256);
  const image = await readImage(input, ctx.cwd);
  const { model } = await openDvae(ctx, located);
  try {
    const groups = model.config.encoder.group_count;
    const multiple = 2 ** (groups - 1);
    if (size % multiple !== 0)
      throw new CliError(`--size ${size} must be a multiple of ${multiple} for this dVAE`, 2);
    const square = squareImage(image, size);
    const x = imagesToTensor([square], model.backend); // [1, 3, S, S]
    const tokens = model.encode(x); // [1, S/f, S/f]
    const decoded = await model.decode(tokens); // [1, 3, S, S]
    const [rgb] = await tensorToRgbImages(decoded);
    const [h, w] = tokens.shape.slice(1) as [number, number];
    const flat = Array.from((await tokens.read()) as Int32Array);
    const ids = new Set(flat).size;
    for (const t of [x, tokens, decoded]) t.dispose();
    try {
      await writePng(resolve(ctx.cwd, out), rgb!);
    } catch (e) {
      // What the checks above cannot see: a dangling link, a full disk, a file system that refuses.
      throw new CliError(`reconstruct: cannot write -o ${out}: ${(e as Error).message}`);
    }
    const quality = psnr(square, rgb!);
    if (ctx.json)
      ctx.printJson({
        input,
        output: out,
        size,
        grid: [h, w],
        // The codebook ids, row by row: what a DALL-E transformer models after the text.
        tokens: Array.from({ length: h }, (_, r) => flat.slice(r * w, (r + 1) * w)),
        distinctTokens: ids,
        psnr: quality,
      });
    else
      ctx.print(
        `${input} -> ${h}x${w} tokens (${ids} distinct) -> ${out} (${size}x${size}, PSNR ${quality.toFixed(2)} dB)`,
      );
  } finally {
    model.dispose();
  }
}
