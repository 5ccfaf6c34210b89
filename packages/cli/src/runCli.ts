import { checkRunCliArguments } from './checkRunCliArguments.js';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ask } from './commands/ask.js';
import { classify } from './commands/classify.js';
import { embed } from './commands/embed.js';
import { reconstruct } from './commands/reconstruct.js';
import { search } from './commands/search.js';
import { train } from './commands/train.js';
import { CommandContext, type OptionValues } from './context.js';
import { CliError, type CliIo } from './io.js';

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

interface Command {
  usage: string;
  summary: string;
  /** Option by option, for `vl <command> --help`. */
  details?: readonly string[];
  options: Record<string, OptionSpec>;
  run(ctx: CommandContext): Promise<void>;
}

const common: Record<string, OptionSpec> = {
  model: { type: 'string' },
  backend: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** `--weights`, for the commands that load a CLIP or a VLM. */
const weights: Record<string, OptionSpec> = { weights: { type: 'string' } };
const weightsDetail =
  "--weights f32|f16|bf16|q8|q4   dtype of the linear layers' weights in memory (default f32)";

const commands: Record<string, Command> = {
  classify: {
    usage: 'vl classify <images...> [--labels "a,b,c"] [--template "a photo of a {}."] [--top 3]',
    summary: 'zero-shot classification with CLIP (the shapes model knows its own labels)',
    details: [
      '--labels "a,b,c"          candidate labels, separated by commas (repeatable; a label cannot hold a',
      "                           comma); default: the model's own (vl.json; shapes: 48 colour+shape labels)",
      '--template "a photo of a {}."   prompt templates, averaged (repeatable); default: the model\'s own,',
      "                           else the CLIP paper's 80 ImageNet templates",
      '--top 3                    labels printed per image',
      weightsDetail,
    ],
    options: {
      ...weights,
      labels: { type: 'string', multiple: true },
      template: { type: 'string', multiple: true },
      top: { type: 'string' },
    },
    run: classify,
  },
  embed: {
    usage: 'vl embed <images...> [--text "..."]... [--truncate]',
    summary: 'L2-normalized CLIP embeddings of images and texts',
    details: [
      '--text "..."               a text to embed (repeatable), after the images',
      "--truncate                 cut a text longer than the model's context (else: an error)",
      weightsDetail,
    ],
    options: { ...weights, text: { type: 'string', multiple: true }, truncate: { type: 'boolean' } },
    run: embed,
  },
  search: {
    usage: 'vl search <folder> "<query>" [--top 5] [--truncate] [--index <file>]',
    summary: 'index a folder of images and print the best matches for a text (or an image path)',
    details: [
      '<query>                    a text, or the path of an image file (then: the images most like it)',
      '--top 5                    matches printed',
      "--truncate                 cut a query longer than the model's context (else: an error)",
      "(the folder's own image files, not its subfolders; files that are not readable images are",
      ' skipped, with a warning)',
      '--index <file>             keep the embeddings in this file: the next search reuses those of',
      '                           unchanged images (same path, size and time) and embeds only the rest',
      weightsDetail,
    ],
    options: {
      ...weights,
      top: { type: 'string' },
      truncate: { type: 'boolean' },
      index: { type: 'string' },
    },
    run: search,
  },
  reconstruct: {
    usage: 'vl reconstruct <image> -o out.png [--size 64] [--overwrite]',
    summary: 'encode an image to dVAE tokens and decode it back',
    details: [
      '-o out.png                 where the reconstruction is written (PNG; never the input file itself)',
      '--overwrite                replace -o when it exists (else: an error)',
      "--size 64                  square size the image is resized and cropped to (default: the model's;",
      "                           at most 8 times the model's, as memory grows with its square)",
    ],
    options: {
      output: { type: 'string', short: 'o' },
      size: { type: 'string' },
      overwrite: { type: 'boolean' },
    },
    run: reconstruct,
  },
  ask: {
    usage: 'vl ask <image> "<question>" [--max-tokens 32] [--temperature 0] [--seed 0] [--stop "text"]...',
    summary: 'ask the vision-language model about an image; the answer streams as it is generated',
    details: [
      '--max-tokens 32            longest answer, in tokens',
      '--temperature 0            0: the likeliest token each step (greedy); above 0: sampled',
      '--seed 0                   seed of the sampling when --temperature is above 0: one seed, one answer',
      '--stop "text"              end the answer where this text first appears (repeatable; not printed)',
      weightsDetail,
    ],
    options: {
      ...weights,
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      seed: { type: 'string' },
      stop: { type: 'string', multiple: true },
    },
    run: ask,
  },
  train: {
    usage:
      'vl train clip|dvae|vlm [--data shapes|<folder>] --out <folder> [--steps N] [--batch N] [--lr X] [--seed N] [--size 64] [--init <folder>] [--resume <folder>] [--overwrite] [--clip <folder>] [--tune-tower] [--feature-layers -2] [--ground-steps N] [--text-steps N] [--text-lr X] [--align-steps N] [--align-lr X] [--balance-answers] [--kind-weights exists=3,count=2] [--questions 6] [--no-caption] [--stage "steps=N lr=X"]...',
    summary:
      "train a model from scratch on the shapes world or a folder of image + caption (.txt) pairs, with the project's own training code",
    details: [
      '--data shapes|<folder>     the shapes world (default), or image files each beside a .txt caption',
      '--out <folder>             where the checkpoint and training.json go (what --model <folder> loads);',
      '                           one that holds a checkpoint is refused unless --overwrite (or --init it)',
      '--steps, --batch, --lr     optimizer steps, examples per step, peak learning rate (cosine with warmup)',
      '--seed N, --size 64        weights and data stream; square image size (a multiple of 8)',
      '--init <folder>            continue a model this command wrote (a fresh optimizer and schedule)',
      '--resume <folder>          go on with a run that Ctrl-C stopped, exactly where it stopped (its settings,',
      '                           backend, weights and optimizer state come from the folder; --data if it moved)',
      '--stage "steps=300 lr=5e-4"   then continue the result once more, as --init <out> would, in the same',
      '                           command (repeatable); a stage keeps --data, --size, --batch, --clip and',
      '                           --backend, names its own steps, lr, seed, tune-tower and picks (defaults',
      '                           otherwise; the seed goes up by one a stage), and prints what it runs with',
      'Ctrl-C                     stops after the current step and writes the weights trained so far and the',
      '                           optimizer state (training.json: stoppedAfter; --resume <out> goes on exactly,',
      '                           --init <out> with a fresh optimizer; a run of --stage stages keeps no state);',
      '                           exit code 130',
      'vlm only:',
      '--clip <folder>            the CLIP whose vision tower the VLM reads (default: the shapes CLIP)',
      '--tune-tower               train that tower too (it is held fixed otherwise)',
      "--feature-layers -2        hidden states that become image tokens (LLaVA's vision_feature_layer; 0,-2 joins two)",
      "--ground-steps N           first train the tower alone to say what each image token's cell holds",
      '--text-steps N, --text-lr  first train the decoder on words alone (the scene in a caption, then questions)',
      "--align-steps N, --align-lr   then the projector alone, the decoder held fixed (LLaVA's first stage)",
      "--balance-answers          pick each question's answer first, so no answer is its kind's prior",
      '--kind-weights exists=3    ask some kinds of question more often',
      "--questions 6, --no-caption   questions per image's conversation; drop its closing caption turn",
    ],
    options: {
      overwrite: { type: 'boolean' },
      data: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      size: { type: 'string' },
      clip: { type: 'string' },
      init: { type: 'string' },
      resume: { type: 'string' },
      'tune-tower': { type: 'boolean' },
      'feature-layers': { type: 'string' },
      'ground-steps': { type: 'string' },
      'text-steps': { type: 'string' },
      'text-lr': { type: 'string' },
      'align-steps': { type: 'string' },
      'align-lr': { type: 'string' },
      'balance-answers': { type: 'boolean' },
      'kind-weights': { type: 'string' },
      questions: { type: 'string' },
      'no-caption': { type: 'boolean' },
      stage: { type: 'string', multiple: true },
    },
    run: train,
  },
};

/** What every command's `--help` ends with. */
const COMMON_DETAILS = [
  '--model shapes|<folder>|<URL>   the checkpoint (default: shapes, the embedded models)',
  "--backend auto|webgpu|cpu  where the kernels run (default: auto, a GPU's WebGPU adapter, else the CPU)",
  '--json                     machine-readable output, one JSON value per line',
];

/** parseArgs' messages, in this command line's words. */
function argumentError(e: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(e.message)?.[1];
  if (!option) return e.message;
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
    return `unknown option ${option} (--help lists the options)`;
  if (/ambiguous/.test(e.message)) return `${option}'s value starts with "-": write it as ${option}=<value>`;
  if (/argument missing/.test(e.message)) return `${option} needs a value`;
  if (/does not take an argument/.test(e.message)) return `${option} is a switch and takes no value`;
  return e.message;
}

function help(): string {
  const lines = [
    'vl: vision-language models on WebGPU and the CPU',
    '',
    'Commands:',
    ...Object.values(commands).map((c) => `  ${c.usage}\n      ${c.summary}`),
    '',
    'Options for every command:',
    '  --model shapes|<checkpoint folder>|<URL>   default: shapes (the embedded models); a Hugging',
    '                                             Face model: hf://org/name[@revision] or its page URL',
    "  --backend auto|webgpu|cpu                  default: auto (a GPU's WebGPU adapter, else the CPU;",
    '                                             a software WebGPU adapter is passed over for the CPU)',
    "  --weights f32|f16|bf16|q8|q4               classify, embed, search, ask: the linear weights' dtype",
    '  --json                                     machine-readable output, one JSON value per line',
    '',
    '`vl <command> --help` describes a command; `vl --version` prints the version.',
  ];
  return `${lines.join('\n')}\n`;
}

/** This package's version (package.json sits one folder above both src/ and dist/). */
function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() };
}

/**
 * Runs the `vl` command line with `argv` (without `node` and the script) and resolves to the exit
 * code: 0 on success, 1 on a failure, 2 on bad usage. Errors print as one `vl: ...` line on stderr;
 * nothing throws, but a TypeError for an `argv` that is not an array of strings or an `io` without
 * the streams to print on.
 *
 * @example
 * ```ts
 * const code = await runCli(['classify', 'cat.png', '--labels', 'cat,dog', '--json']);
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  checkRunCliArguments(argv, io);
  const [name, ...rest] = argv;
  if (name === 'help' && rest[0] !== undefined && Object.hasOwn(commands, rest[0])) {
    return runCli([rest[0], '--help'], io); // `vl help classify` is `vl classify --help`
  }
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    // `vl` alone is bad usage: the help goes where errors go, so `vl > out.txt` still shows it.
    (name === undefined ? io.stderr : io.stdout).write(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write(`vl ${cliVersion()}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    io.stderr.write(`vl: unknown command "${name}"; commands: ${Object.keys(commands).join(', ')}\n`);
    return 2;
  }
  let ctx: CommandContext | undefined;
  try {
    let parsed: { values: OptionValues; positionals: string[] };
    try {
      parsed = parseArgs({
        args: [...rest],
        options: { ...common, ...command.options },
        allowPositionals: true,
        strict: true,
      }) as { values: OptionValues; positionals: string[] };
    } catch (e) {
      throw new CliError(
        `${name}: ${argumentError(e as Error & { code?: string })}\nusage: ${command.usage}`,
        2,
      );
    }
    if (parsed.values.help) {
      // train reads no --model (its --init and --clip name checkpoints).
      const common = name === 'train' ? COMMON_DETAILS.slice(1) : COMMON_DETAILS;
      const details = [...(command.details ?? []), ...common].map((d) => `  ${d}\n`).join('');
      io.stdout.write(`usage: ${command.usage}\n  ${command.summary}\n${details}`);
      return 0;
    }
    ctx = new CommandContext(io, io.cwd ?? process.cwd(), parsed.positionals, parsed.values);
    await command.run(ctx);
    return 0;
  } catch (e) {
    if (e instanceof CliError) {
      io.stderr.write(`vl: ${e.message}\n`);
      return e.exitCode;
    }
    // Not a CliError: still one line (the stack only with VL_DEBUG=1, for a bug report).
    const error = e as Error;
    const debug = typeof process !== 'undefined' && process.env.VL_DEBUG === '1';
    io.stderr.write(
      `vl: ${name} failed: ${debug ? (error.stack ?? String(e)) : (error.message ?? String(e))}\n`,
    );
    return 1;
  } finally {
    ctx?.dispose();
  }
}
