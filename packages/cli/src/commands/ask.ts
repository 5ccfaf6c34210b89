import type { VlmTokenizer } from '@vl/vlm';
import type { CommandContext } from '../context.js';
import { readImage } from '../images.js';
import { CliError } from '../io.js';
import { openVlm } from '../openModels.js';
import { decimal, nonNegativeInt, positiveInt } from '../options.js';

/** `vl ask <image> "<question>"`: streams the VLM's answer about an image. */
export async function ask(ctx: CommandContext): Promise<void> {
  const [path, question, ...rest] = ctx.positionals;
  if (path === undefined || question === undefined || rest.length > 0)
    throw new CliError('ask: usage is `vl ask <image> "<question>"`', 2);
  if (question.trim() === '') throw new CliError('ask: the question is empty', 2);
  const maxNewTokens = positiveInt('max-tokens', ctx.string('max-tokens'), 32);
  const temperature = temperatureOption(ctx.string('temperature'));
  const seed = nonNegativeInt('seed', ctx.string('seed'), 0); // one seed, one sampled answer
  const stop = ctx.strings('stop');
  if (stop.includes('')) throw new CliError('ask: --stop needs a text (it was empty)', 2);
  const image = await readImage(path, ctx.cwd);
  const { model } = await openVlm(ctx);
  try {
    if (!model.tokenizer)
      throw new CliError('ask: this checkpoint has no tokenizer.json, so it cannot read a question');
    if (model.tokenizer.chatTemplate === undefined)
      throw new CliError(
        'ask: this checkpoint has no chat template (tokenizer_config.json chat_template, or chat_template.jinja), so it cannot frame a question',
      );
    // The placeholder's text in a question would be taken for a second image slot.
    const imageId = model.config.image_token_index;
    if (model.tokenizer.encode(question, { addSpecialTokens: false }).includes(imageId)) {
      const placeholder = model.tokenizer.decode([imageId], { skipSpecialTokens: false });
      throw new CliError(
        `ask: the question holds ${JSON.stringify(placeholder)}, the model's image placeholder; the image is given as a file: leave it out of the question`,
        2,
      );
    }
    const messages = [
      {
        role: 'user' as const,
        content: [
          { type: 'image' as const, image },
          { type: 'text' as const, text: question },
        ],
      },
    ];
    // Counted before generating: the question and its image must leave room for an answer.
    const n = model.encodePrompt(messages).length;
    const context = model.config.text_config.max_position_embeddings;
    if (n >= context) {
      const image = model.imageTokens;
      throw new CliError(
        `ask: the question is ${n - image} tokens with the image's ${image}; the model's context is ${context}: shorten the question`,
        2,
      );
    }
    const unknown = unknownWords(model.tokenizer, question);
    if (unknown.length > 0)
      ctx.io.stderr.write(
        `vl: ask: this model does not know the word${unknown.length > 1 ? 's' : ''} ${unknown.map((w) => JSON.stringify(w)).join(', ')}; it reads ${unknown.length > 1 ? 'them' : 'it'} as unknown\n`,
      );
    let answer = '';
    const options = { maxNewTokens, temperature, seed, ...(stop.length > 0 ? { stop } : {}) };
    for await (const { text } of model.generate(messages, options)) {
      answer += text;
      if (!ctx.json) ctx.io.stdout.write(text);
    }
    if (ctx.json) ctx.printJson({ image: path, question, answer: answer.trim() });
    else ctx.io.stdout.write('\n');
    if (answer.trim() === '')
      ctx.io.stderr.write('vl: ask: the model ended its answer at once (an empty answer)\n');
  } finally {
    model.dispose();
  }
}

/** The largest `--temperature` generation takes (the f32 logits are divided by it). */
const MAX_TEMPERATURE = 3.4e38;

/** `--temperature`: a number from 0 (greedy) to {@link MAX_TEMPERATURE}; 0 when not given. */
function temperatureOption(value: string | undefined): number {
  if (value === undefined) return 0;
  const t = decimal(value);
  if (!(t >= 0 && t <= MAX_TEMPERATURE))
    throw new CliError(`--temperature must be a number from 0 to ${MAX_TEMPERATURE}; got "${value}"`, 2);
  return t;
}

/** Words of `text` that a word-level vocabulary reads as its unknown token (none for subword ones). */
function unknownWords(tokenizer: VlmTokenizer, text: string): string[] {
  const unk = tokenizer.specialToken('unk_token');
  const unkId = unk === undefined ? undefined : tokenizer.tokenToId(unk);
  if (unkId === undefined) return [];
  // Punctuation at a word's ends is its own token ("it?" is "it" and "?"): name the word itself.
  const words = text
    .split(/\s+/)
    .map((w) => w.replace(/^\p{P}+|\p{P}+$/gu, ''))
    .filter(Boolean);
  return [...new Set(words.filter((w) => tokenizer.encode(w, { addSpecialTokens: false }).includes(unkId)))];
}
