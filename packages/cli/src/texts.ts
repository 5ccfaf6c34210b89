import type { ClipModel } from '@vl/clip';
import { CliError } from './io.js';

/**
 * `model.embedTexts(texts)`, with a text longer than the model's context reported as the command
 * line's user sees it: which text, how long, and the `--truncate` that would cut it.
 *
 * @example
 * ```ts
 * const [q] = await embedTextsOrExplain(model, [query], ctx.options.truncate === true, 'the query');
 * ```
 */
export async function embedTextsOrExplain(
  model: ClipModel,
  texts: readonly string[],
  truncate: boolean,
  what: (index: number) => string,
): Promise<Float32Array[]> {
  if (!truncate) {
    const context = model.config.text_config.max_position_embeddings;
    texts.forEach((text, i) => {
      const n = model.tokenizer.encode(text).length;
      if (n > context)
        throw new CliError(
          `${what(i)} is ${n} tokens long (start and end included), more than this model's context of ${context}; shorten it, or add --truncate to cut it`,
          2,
        );
    });
  }
  return model.embedTexts(texts, { truncate });
}
