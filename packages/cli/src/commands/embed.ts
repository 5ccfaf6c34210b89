import type { CommandContext } from '../context.js';
import { readImage } from '../images.js';
import { CliError } from '../io.js';
import { openClip } from '../openModels.js';

/** `vl embed <images...> [--text "..."]`: L2-normalized CLIP embeddings. */
export async function embed(ctx: CommandContext): Promise<void> {
  const texts = ctx.strings('text');
  if (ctx.positionals.length === 0 && texts.length === 0)
    throw new CliError('embed: give image files and/or --text "..."', 2);
  const { model } = await openClip(ctx);
  try {
    const rows: { input: string; kind: 'image' | 'text'; embedding: Float32Array }[] = [];
    for (const path of ctx.positionals) {
      const [embedding] = await model.embedImages([await readImage(path, ctx.cwd)]);
      rows.push({ input: path, kind: 'image', embedding: embedding! });
    }
    if (texts.length > 0) {
      const embeddings = await model.embedTexts(texts);
      texts.forEach((t, i) => {
        rows.push({ input: t, kind: 'text', embedding: embeddings[i]! });
      });
    }
    for (const { input, kind, embedding } of rows) {
      if (ctx.json) ctx.printJson({ input, kind, embedding: Array.from(embedding) });
      else {
        const head = Array.from(embedding.subarray(0, 4), (v) => v.toFixed(4)).join(', ');
        ctx.print(`${kind} ${JSON.stringify(input)}: ${embedding.length} dims [${head}, ...]`);
      }
    }
  } finally {
    model.dispose();
  }
}
