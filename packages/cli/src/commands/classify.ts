import type { CommandContext } from '../context.js';
import { UnreadImages } from '../images.js';
import { CliError } from '../io.js';
import { openClip } from '../openModels.js';
import { commaList, positiveInt } from '../options.js';

/** `vl classify <images...> --labels a,b,c`: zero-shot classification with CLIP. */
export async function classify(ctx: CommandContext): Promise<void> {
  if (ctx.positionals.length === 0) throw new CliError('classify: give at least one image file', 2);
  const top = positiveInt('top', ctx.string('top'), 3);
  const given = [...new Set(ctx.strings('labels').flatMap(commaList))]; // a repeated label would split its score
  if (ctx.strings('labels').length > 0 && given.length === 0)
    throw new CliError('--labels holds no label; give them separated by commas: --labels "cat,dog,car"', 2);
  const { model, defaults } = await openClip(ctx);
  try {
    const labels = given.length > 0 ? given : defaults.labels;
    if (!labels || labels.length === 0)
      throw new CliError('classify: give the candidate labels with --labels "cat,dog,car"', 2);
    const templateOption = ctx.strings('template');
    const templates = templateOption.length > 0 ? templateOption : defaults.templates;
    for (const t of templates ?? []) {
      if (!t.includes('{}')) throw new CliError(`--template "${t}" has no {} where the label goes`, 2);
    }
    const unread = new UnreadImages(ctx, 'classify');
    for (const path of ctx.positionals) {
      const image = await unread.read(path);
      if (!image) continue;
      const scores = (await model.zeroShot(image, labels, templates ? { templates } : {})).slice(0, top);
      if (ctx.json) ctx.printJson({ image: path, labels: scores });
      else ctx.print(`${path}: ${scores.map((s) => `${s.label} (${s.score.toFixed(3)})`).join(', ')}`);
    }
    unread.check();
  } finally {
    model.dispose();
  }
}
