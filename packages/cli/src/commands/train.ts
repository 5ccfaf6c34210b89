import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CommandContext } from '../context.js';
import { CliError } from '../io.js';
import { positiveInt, positiveNumber } from '../options.js';
import { type CaptionData, folderCaptionData, shapesCaptionData } from '../train/captionData.js';
import { evaluateClipOnShapes } from '../train/evaluateClip.js';
import { SHAPES_TEMPLATES, trainClip } from '../train/trainClip.js';

const KINDS = ['clip', 'dvae', 'vlm'];

/**
 * `vl train clip|dvae|vlm --data shapes|<folder> --out <folder>`: trains a model from scratch with
 * the project's own training code and writes a checkpoint folder that `--model <folder>` loads.
 * Also writes `training.json` (options, time taken, and held-out quality on the shapes world).
 */
export async function train(ctx: CommandContext): Promise<void> {
  const [kind, ...rest] = ctx.positionals;
  if (kind === undefined || !KINDS.includes(kind) || rest.length > 0)
    throw new CliError(
      `train: usage is \`vl train ${KINDS.join('|')} --data shapes|<folder> --out <folder>\``,
      2,
    );
  const out = ctx.string('out');
  if (!out) throw new CliError('train: give the output folder with --out <folder>', 2);
  const dataName = ctx.string('data') ?? 'shapes';
  const seed = Number(ctx.string('seed') ?? 0);
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new CliError(`--seed must be a non-negative integer; got "${ctx.string('seed')}"`, 2);
  const imageSize = positiveInt('size', ctx.string('size'), 64);
  if (kind !== 'clip') throw new CliError(`train ${kind}: not available yet (clip is)`);
  if (imageSize % 8 !== 0) throw new CliError(`--size ${imageSize} must be a multiple of 8 (8x8 patches)`, 2);
  const data: CaptionData =
    dataName === 'shapes'
      ? shapesCaptionData(seed, imageSize)
      : await folderCaptionData(resolve(ctx.cwd, dataName), dataName);
  const steps = positiveInt('steps', ctx.string('steps'), 1500);
  const batchSize = positiveInt('batch', ctx.string('batch'), 64);
  const lr = positiveNumber('lr', ctx.string('lr'), 2e-3);
  const backend = await ctx.backend();
  const folder = resolve(ctx.cwd, out);
  const start = performance.now();
  const model = await trainClip({
    data,
    out: folder,
    steps,
    batchSize,
    lr,
    seed,
    imageSize,
    backend,
    io: ctx.io,
  });
  const seconds = (performance.now() - start) / 1000;
  try {
    const quality =
      data.name === 'shapes'
        ? await evaluateClipOnShapes(model, SHAPES_TEMPLATES, { size: imageSize })
        : undefined;
    const record = {
      kind,
      data: data.name,
      steps,
      batchSize,
      lr,
      seed,
      imageSize,
      backend: backend.name,
      seconds: Math.round(seconds),
      ...(quality ? { heldOut: quality } : {}),
    };
    await writeFile(join(folder, 'training.json'), `${JSON.stringify(record, null, 2)}\n`);
    if (ctx.json) ctx.printJson({ out: folder, ...record });
    else {
      ctx.print(`trained ${kind} in ${Math.round(seconds)} s; wrote ${folder}`);
      if (quality)
        ctx.print(
          `held-out: zero-shot ${(100 * quality.zeroShot).toFixed(1)}% (${quality.singles} images), image-to-caption R@1 ${(100 * quality.retrievalR1).toFixed(1)}% (pool ${quality.pool})`,
        );
    }
  } finally {
    model.dispose();
  }
}
