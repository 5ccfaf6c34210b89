import { type ClipModel, fillTemplate } from '@vl/clip';
import type { CommandContext } from '../context.js';
import { UnreadImages } from '../images.js';
import { CliError } from '../io.js';
import { openClip } from '../openModels.js';
import { commaList, positiveInt } from '../options.js';
import { warnUnknownWords } from '../texts.js';

/** `vl classify <images...> --labels a,b,c`: zero-shot classification with CLIP. */
export async function classify(ctx: CommandContext): Promise<void> {
  if (ctx.positionals.length === 0) throw new CliError('classify: give at least one image file', 2);
  const top = positiveInt('top', ctx.string('top'), 3);
  const given = [...new Set(ctx.strings('labels').flatMap(commaList))]; // a repeated label would split its score
  if (ctx.strings('labels').length > 0 && given.length === 0)
    throw new CliError('--labels holds no label; give them separated by commas: --labels "cat,dog,car"', 2);
  const templateOption = ctx.strings('template');
  for (const t of templateOption) {
    if (!t.includes('{}')) throw new CliError(`--template "${t}" has no {} where the label goes`, 2);
  }
  const { model, defaults } = await openClip(ctx);
  try {
    const labels = given.length > 0 ? given : defaults.labels;
    if (!labels || labels.length === 0)
      throw new CliError('classify: give the candidate labels with --labels "cat,dog,car"', 2);
    const templates = templateOption.length > 0 ? templateOption : defaults.templates;
    checkPromptLengths(model, labels, templates ?? model.templates);
    warnUnknownWords(ctx.io, 'classify', model, [...given, ...templateOption]); // the model's own are its words
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

/** Every prompt (a template with a label in it) must fit the model's context: a usage error names the first that does not. */
function checkPromptLengths(model: ClipModel, labels: readonly string[], templates: readonly string[]): void {
  const context = model.config.text_config.max_position_embeddings;
  for (const label of labels) {
    for (const template of templates) {
      const n = model.tokenizer.encode(fillTemplate(template, label)).length;
      if (n > context)
        throw new CliError(
          `the label "${label}" in the template "${template}" is ${n} tokens long (start and end included), more than this model's context of ${context}; shorten the label`,
          2,
        );
    }
  }
}
