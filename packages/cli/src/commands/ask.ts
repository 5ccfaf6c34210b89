import type { VlmTokenizer } from '@vl/vlm';
import type { CommandContext } from '../context.js';
import { readImage } from '../images.js';
import { CliError } from '../io.js';
import { openVlm } from '../openModels.js';
import { positiveInt } from '../options.js';

/** `vl ask <image> "<question>"`: streams the VLM's answer about an image. */
export async function ask(ctx: CommandContext): Promise<void> {
  const [path, question, ...rest] = ctx.positionals;
  if (path === undefined || question === undefined || rest.length > 0)
    throw new CliError('ask: usage is `vl ask <image> "<question>"`', 2);
  if (question.trim() === '') throw new CliError('ask: the question is empty', 2);
  const maxNewTokens = positiveInt('max-tokens', ctx.string('max-tokens'), 32);
  const temperature = Number(ctx.string('temperature') ?? 0);
  if (!Number.isFinite(temperature) || temperature < 0)
    throw new CliError(`--temperature must be a number >= 0; got "${ctx.string('temperature')}"`, 2);
  const image = await readImage(path, ctx.cwd);
  const { model } = await openVlm(ctx);
  try {
    if (!model.tokenizer)
      throw new CliError('ask: this checkpoint has no tokenizer.json, so it cannot read a question');
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
    for await (const { text } of model.generate(messages, { maxNewTokens, temperature })) {
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
