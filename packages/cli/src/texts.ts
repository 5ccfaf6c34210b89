import type { ClipModel } from '@vl/clip';
import { CliError, type CliIo } from './io.js';

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

/**
 * Below this many tokens a CLIP's vocabulary is a closed word list (what `vl train clip` writes:
 * the 512 byte tokens, each caption word's merges, start and end), not a subword BPE (openai's holds
 * 49,408): a word it lacks is spelled in byte pieces it never trained on.
 */
const WORD_VOCABULARY_LIMIT = 8192;

/**
 * Words of `texts` that a CLIP with a closed word vocabulary does not know (none for a subword
 * vocabulary, which spells every word from trained pieces); `{}` placeholders are left out.
 */
export function unknownClipWords(model: ClipModel, texts: readonly string[]): string[] {
  const tokenizer = model.tokenizer;
  if (tokenizer.vocabSize >= WORD_VOCABULARY_LIMIT) return [];
  const words = texts
    .flatMap((t) => t.replaceAll('{}', ' ').split(/\s+/))
    // Punctuation at a word's ends is its own token ("it?" is "it" and "?"): name the word itself.
    .map((w) => w.replace(/^\p{P}+|\p{P}+$/gu, ''))
    .filter(Boolean);
  // A word of the vocabulary is known even when the merges spell it in pieces (a word-list BPE's
  // merges need not rebuild every word): the model was trained on those pieces.
  const known = (w: string) =>
    tokenizer.tokenize(w).length === 1 || tokenizer.tokenId(`${w.toLowerCase()}</w>`) !== undefined;
  return [...new Set(words.filter((w) => !known(w)))];
}

/**
 * Says on stderr (a warning, not an error) which words of `texts` the CLIP does not know, as
 * `vl ask` does for its VLM: `command` opens the line.
 *
 * @example
 * ```ts
 * warnUnknownWords(ctx.io, 'search', model, [query]);
 * ```
 */
export function warnUnknownWords(
  io: CliIo,
  command: string,
  model: ClipModel,
  texts: readonly string[],
): void {
  const unknown = unknownClipWords(model, texts);
  if (unknown.length === 0) return;
  const many = unknown.length > 1;
  io.stderr.write(
    `vl: ${command}: this model does not know the word${many ? 's' : ''} ${unknown.map((w) => JSON.stringify(w)).join(', ')}; it spells ${many ? 'them' : 'it'} in pieces it was not trained on, so ${many ? 'they add' : 'it adds'} little but noise\n`,
  );
}
