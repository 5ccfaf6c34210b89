import type { CommandContext } from '../context.js';
import { UnreadImages } from '../images.js';
import { CliError } from '../io.js';
import { openClip } from '../openModels.js';
import { embedTextsOrExplain, warnUnknownWords } from '../texts.js';

/** `vl embed <images...> [--text "..."]`: L2-normalized CLIP embeddings. */
export async function embed(ctx: CommandContext): Promise<void> {
  const texts = ctx.strings('text');
  if (ctx.positionals.length === 0 && texts.length === 0)
    throw new CliError('embed: give image files and/or --text "..."', 2);
  const { model } = await openClip(ctx);
  try {
    const rows: { input: string; kind: 'image' | 'text'; embedding: Float32Array }[] = [];
    const unread = new UnreadImages(ctx, 'embed');
    for (const path of ctx.positionals) {
      const image = await unread.read(path);
      if (!image) continue;
      const [embedding] = await model.embedImages([image]);
      rows.push({ input: path, kind: 'image', embedding: embedding! });
    }
    if (texts.length > 0) {
      warnUnknownWords(ctx.io, 'embed', model, texts);
      const embeddings = await embedTextsOrExplain(model, texts, ctx.options.truncate === true, (i) =>
        texts.length > 1 ? `--text number ${i + 1}` : '--text',
      );
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
    unread.check();
  } finally {
    model.dispose();
  }
}
