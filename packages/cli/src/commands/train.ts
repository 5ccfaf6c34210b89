import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { wordVocabularyFiles } from '@vl/clip';
import { CpuBackend, type LoadedOptimizerState, loadOptimizerState } from '@vl/tensor';
import type { QuestionKind } from '@vl/shapes';
import type { CommandContext, OptionValues } from '../context.js';
import { CliError, withoutCaller } from '../io.js';
import { decimal, nonNegativeInt, positiveInt, positiveNumber } from '../options.js';
import { type CaptionData, folderCaptionData, shapesCaptionData } from '../train/captionData.js';
import { evaluateClipOnShapes } from '../train/evaluateClip.js';
import { evaluateDvaeOnShapes } from '../train/evaluateDvae.js';
import { SHAPES_TEMPLATES, trainClip } from '../train/trainClip.js';
import { trainDvae } from '../train/trainDvae.js';
import type { TrainRunOptions } from '../train/trainRunOptions.js';
import { evaluateVlmOnShapes } from '../train/evaluateVlm.js';
import { type TrainVlmOptions, trainVlm } from '../train/trainVlm.js';
import { OPTIMIZER_STATE_FILE, readOptimizerState, writeOptimizerState } from '../train/resumeState.js';
import { TrainingStopped, abortOnInterrupt } from '../train/trainingStopped.js';
import { checkpointKind, locateModel } from '../models.js';
import { stageOptions, stagedRecord, type TrainingRecord, writeTrainingRecord } from './trainStages.js';

const KINDS = ['clip', 'dvae', 'vlm'] as const;
type Kind = (typeof KINDS)[number];

/** Settings every trainer gets, from the command line. */
type TrainSettings = Omit<TrainRunOptions, 'io' | 'signal'> & { data: CaptionData };

/** Defaults per model family: steps, batch size, peak learning rate. */
const DEFAULTS: Record<Kind, { steps: number; batch: number; lr: number }> = {
  clip: { steps: 1500, batch: 64, lr: 2e-3 },
  dvae: { steps: 200, batch: 8, lr: 2e-3 },
  vlm: { steps: 1500, batch: 32, lr: 1e-3 },
};

/** The trainVlm options that decide which questions each conversation asks. */
type VlmPicks = Pick<TrainVlmOptions, 'balanceAnswers' | 'kindWeights' | 'questionsPerImage' | 'captionTurn'>;

/** Trains one family; resolves to its held-out quality (shapes data only) and a one-line summary. */
async function runKind(
  ctx: CommandContext,
  kind: Kind,
  s: TrainSettings,
  signal: AbortSignal,
  vlm: {
    featureLayer: number[] | undefined;
    groundSteps: number;
    text: { textSteps: number; textLr?: number; alignSteps: number; alignLr?: number };
    picks: VlmPicks;
  },
  resume?: TrainRunOptions['resume'],
): Promise<{ quality?: object; summary?: string }> {
  const shapes = s.data.name === 'shapes';
  const initOption = ctx.string('init');
  const init = {
    ...(initOption ? { init: resolve(ctx.cwd, initOption) } : {}), // --init: continue that folder
    ...(resume ? { resume } : {}), // --resume: and its optimizer state, exactly
  };
  if (kind === 'clip') {
    const model = await trainClip({ ...s, io: ctx.io, signal, ...init });
    try {
      if (!shapes) return {};
      const q = await evaluateClipOnShapes(model, SHAPES_TEMPLATES, { size: s.imageSize });
      return {
        quality: q,
        summary: `zero-shot ${(100 * q.zeroShot).toFixed(1)}% (${q.singles} images), image-to-caption R@1 ${(100 * q.retrievalR1).toFixed(1)}% (pool ${q.pool})`,
      };
    } finally {
      model.dispose();
    }
  }
  if (kind === 'dvae') {
    const model = await trainDvae({ ...s, io: ctx.io, signal, ...init });
    try {
      if (!shapes) return {};
      const q = await evaluateDvaeOnShapes(model, { size: s.imageSize });
      return {
        quality: q,
        summary: `PSNR ${q.psnr.toFixed(2)} dB (worst ${q.minPsnr.toFixed(2)}), ${q.codesUsed} codes used`,
      };
    } finally {
      model.dispose();
    }
  }
  if (!shapes) throw new CliError('train vlm: only --data shapes has questions and answers to learn from');
  const clip = locateModel('clip', ctx.string('clip') ?? 'shapes', ctx.cwd, '--clip').source;
  const freezeVisionTower = ctx.options['tune-tower'] !== true;
  const { featureLayer, groundSteps, text, picks } = vlm;
  const sizes = featureLayer ? { sizes: { featureLayer } } : {};
  const grounding = groundSteps > 0 ? { grounding: { steps: groundSteps } } : {};
  const model = await trainVlm({
    ...s,
    clip,
    io: ctx.io,
    signal,
    freezeVisionTower,
    ...init,
    ...sizes,
    ...grounding,
    ...text,
    ...picks,
  });
  try {
    const q = await evaluateVlmOnShapes(model, { size: s.imageSize });
    const kinds = Object.entries(q.byKind)
      .map(([k, v]) => `${k} ${v.right}/${v.total}`)
      .join(', ');
    return {
      quality: q,
      summary: `exact match ${(100 * q.exactMatch).toFixed(1)}% of ${q.n} answers (${kinds})`,
    };
  } finally {
    model.dispose();
  }
}

/** `--feature-layers 0,-2`: a list of integers, or undefined when not given. */
function featureLayersOption(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const layers = value.split(',').map((v) => (/^-?\d+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN));
  if (layers.length === 0 || layers.some((l) => !Number.isInteger(l)) || value.trim() === '')
    throw new CliError(
      `--feature-layers must be integers separated by commas (e.g. -2 or 0,-2); got "${value}"`,
      2,
    );
  return layers;
}

/** The shapes world's question kinds, which `--kind-weights` may name (the compiler checks all are here). */
const QUESTION_KINDS = Object.keys({
  exists: true,
  count: true,
  color: true,
  shape: true,
  size: true,
  position: true,
  relation: true,
  background: true,
} satisfies Record<QuestionKind, true>);

/** `--kind-weights exists=3,count=2`: a positive weight per named question kind. */
function kindWeightsOption(value: string | undefined): Record<string, number> | undefined {
  if (value === undefined) return undefined;
  const weights: Record<string, number> = {};
  for (const part of value.split(',')) {
    const [kind, w, extra] = part.split('=').map((x) => x.trim());
    const n = w === undefined ? Number.NaN : decimal(w);
    if (!kind || w === undefined || extra !== undefined || !(n > 0) || !Number.isFinite(n))
      throw new CliError(
        `--kind-weights takes kind=weight pairs with positive weights (e.g. exists=3,count=2); got "${value}"`,
        2,
      );
    if (!QUESTION_KINDS.includes(kind))
      throw new CliError(
        `--kind-weights: unknown question kind "${kind}" (kinds: ${QUESTION_KINDS.join(', ')})`,
        2,
      );
    weights[kind] = n;
  }
  return weights;
}

/** What the VLM's conversations ask: `--balance-answers`, `--kind-weights`, `--questions`, `--no-caption`. */
function picksOptions(ctx: CommandContext): VlmPicks {
  const kindWeights = kindWeightsOption(ctx.string('kind-weights'));
  const questions = ctx.string('questions');
  return {
    ...(ctx.options['balance-answers'] === true ? { balanceAnswers: true } : {}),
    ...(kindWeights ? { kindWeights } : {}),
    ...(questions !== undefined ? { questionsPerImage: positiveInt('questions', questions, 6) } : {}),
    ...(ctx.options['no-caption'] === true ? { captionTurn: false } : {}),
  };
}

/** One run of `vl train`, its options parsed and checked, ready to train. */
interface PreparedRun {
  ctx: CommandContext;
  kind: Kind;
  settings: TrainSettings;
  featureLayers: number[] | undefined;
  groundSteps: number;
  text: { textSteps: number; textLr?: number; alignSteps: number; alignLr?: number };
  picks: VlmPicks;
  /** `--resume`: continue the stopped run in `--init` exactly, from its state and step. */
  resume?: TrainRunOptions['resume'];
}

/**
 * Parses and checks one run's options (the command's, or a `--stage`'s) without training; a stage
 * passes the run's folder data (`folder`) instead of reading the folder again.
 */
async function prepareRun(ctx: CommandContext, k: Kind, folder?: CaptionData): Promise<PreparedRun> {
  if (ctx.options['tune-tower'] === true && k !== 'vlm')
    throw new CliError(`train ${k}: --tune-tower is for vl train vlm only`, 2);
  const featureLayers = featureLayersOption(ctx.string('feature-layers'));
  if (featureLayers !== undefined && (k !== 'vlm' || ctx.string('init')))
    throw new CliError(
      k === 'vlm'
        ? "train vlm: --feature-layers applies to a fresh VLM; with --init the folder's config decides"
        : `train ${k}: --feature-layers is for vl train vlm only`,
      2,
    );
  const vlmOnly = [
    'ground-steps',
    'text-steps',
    'text-lr',
    'align-steps',
    'align-lr',
    'kind-weights',
    'questions',
  ];
  for (const name of vlmOnly)
    if (ctx.string(name) !== undefined && k !== 'vlm')
      throw new CliError(`train ${k}: --${name} is for vl train vlm only`, 2);
  for (const name of ['balance-answers', 'no-caption'])
    if (ctx.options[name] === true && k !== 'vlm')
      throw new CliError(`train ${k}: --${name} is for vl train vlm only`, 2);
  const picks = picksOptions(ctx);
  const groundSteps = nonNegativeInt('ground-steps', ctx.string('ground-steps'), 0);
  const textSteps = nonNegativeInt('text-steps', ctx.string('text-steps'), 0);
  const textLr = ctx.string('text-lr');
  const alignLr = ctx.string('align-lr');
  const text = {
    textSteps,
    ...(textLr !== undefined ? { textLr: positiveNumber('text-lr', textLr, 0) } : {}),
    alignSteps: nonNegativeInt('align-steps', ctx.string('align-steps'), 0),
    ...(alignLr !== undefined ? { alignLr: positiveNumber('align-lr', alignLr, 0) } : {}),
  };
  if (groundSteps > 0 && ctx.string('init'))
    throw new CliError(
      'train vlm: --ground-steps prepares the tower of a fresh VLM; with --init its decoder already reads the tower as it is',
      2,
    );
  const out = ctx.string('out');
  if (!out) throw new CliError('train: give the output folder with --out <folder>', 2);
  checkFolders(ctx, k, out);
  const dataName = ctx.string('data') ?? 'shapes';
  if (dataName !== 'shapes') checkDataFolder(ctx, k, dataName);
  const clipOption = ctx.string('clip');
  if (k === 'vlm' && clipOption !== undefined) {
    try {
      locateModel('clip', clipOption, ctx.cwd, '--clip');
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      throw new CliError(e.message, 2); // a wrong --clip is bad usage, found before any work
    }
  }
  const seed = nonNegativeInt('seed', ctx.string('seed'), 0);
  const imageSize = sizeOption(ctx, k, out);
  const data: CaptionData =
    dataName === 'shapes'
      ? shapesCaptionData(seed, imageSize) // the stream depends on the seed
      : (folder ?? (await folderCaptionData(resolve(ctx.cwd, dataName), dataName)));
  if (k === 'clip') checkVocabulary(ctx, out, data);
  const d = DEFAULTS[k];
  const settings: TrainSettings = {
    data,
    out: resolve(ctx.cwd, out),
    steps: positiveInt('steps', ctx.string('steps'), d.steps),
    batchSize: positiveInt('batch', ctx.string('batch'), d.batch),
    lr: positiveNumber('lr', ctx.string('lr'), d.lr),
    seed,
    imageSize,
    backend: await ctx.backend({ training: true }),
  };
  return { ctx, kind: k, settings, featureLayers, groundSteps, text, picks };
}

/** `--data <folder>`: an existing folder, and not for vl train vlm (which learns from the shapes world's questions). */
function checkDataFolder(ctx: CommandContext, k: Kind, data: string): void {
  if (k === 'vlm')
    throw new CliError(
      `train vlm: only --data shapes has questions and answers to learn from; got --data ${data}`,
      2,
    );
  const info = statSync(resolve(ctx.cwd, data), { throwIfNoEntry: false });
  if (!info)
    throw new CliError(
      `--data ${data}: no such folder; give shapes or a folder of image + .txt caption pairs`,
      2,
    );
  if (!info.isDirectory())
    throw new CliError(`--data ${data} is a file; give shapes or a folder of image + .txt caption pairs`, 2);
}

/**
 * The square image size a checkpoint folder was trained at: its vl.json's `imageSize` (what vl train
 * writes), else its config.json's vision tower (a CLIP's, or a VLM's); undefined when neither says.
 */
function recordedImageSize(folder: string): number | undefined {
  const read = (file: string): Record<string, unknown> | undefined => {
    try {
      return JSON.parse(readFileSync(join(folder, file), 'utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };
  const fromDefaults = read('vl.json')?.imageSize;
  if (typeof fromDefaults === 'number') return fromDefaults;
  const vision = read('config.json')?.vision_config as { image_size?: unknown } | undefined;
  return typeof vision?.image_size === 'number' ? vision.image_size : undefined;
}

/**
 * `--size`: by default the size of the model continued (--init) or, for vl train vlm, of its --clip
 * (else 64). A CLIP's or a VLM's vision tower takes one size only, so another is bad usage; a dVAE
 * is convolutional and may continue at another size.
 */
function sizeOption(ctx: CommandContext, k: Kind, out: string): number {
  const init = ctx.string('init');
  const clip = ctx.string('clip');
  // A stage continues --out, which its run writes first: the run's size comes down with its options.
  const continuesRun =
    ctx.isDerived && init !== undefined && resolve(ctx.cwd, init) === resolve(ctx.cwd, out);
  const [option, folder] =
    init !== undefined && !continuesRun
      ? ['--init', init]
      : k === 'vlm' && init === undefined
        ? ['--clip', clip ?? 'shapes']
        : [undefined, undefined];
  let recorded: number | undefined;
  if (option === '--clip') {
    const location = locateModel('clip', folder!, ctx.cwd, '--clip');
    recorded = location.remote ? undefined : recordedImageSize(location.source);
  } else if (option !== undefined) recorded = recordedImageSize(resolve(ctx.cwd, folder!));
  const imageSize = positiveInt('size', ctx.string('size'), recorded ?? 64);
  if (imageSize % 8 !== 0) throw new CliError(`--size ${imageSize} must be a multiple of 8`, 2);
  if (recorded !== undefined && imageSize !== recorded && k !== 'dvae')
    throw new CliError(
      `--size ${imageSize}: ${option} ${folder} takes ${recorded}px images (its vision tower has one size); leave --size out, or give --size ${recorded}`,
      2,
    );
  return imageSize;
}

/**
 * vl train clip --init: the folder's vocabulary must be the data's, word for word (the text tower's
 * embeddings are rows of it); continuing on other captions is bad usage, found before training.
 */
function checkVocabulary(ctx: CommandContext, out: string, data: CaptionData): void {
  const init = ctx.string('init');
  if (init === undefined) return;
  const initPath = resolve(ctx.cwd, init);
  if (ctx.isDerived && initPath === resolve(ctx.cwd, out)) return; // a stage: the run's own data
  let saved: Record<string, number>;
  try {
    saved = JSON.parse(readFileSync(join(initPath, 'vocab.json'), 'utf8')) as Record<string, number>;
  } catch {
    return; // not a folder vl train wrote: its loader says what is wrong
  }
  const wanted = wordVocabularyFiles(data.vocabulary).vocab;
  const [n, m] = [Object.keys(saved).length, Object.keys(wanted).length];
  if (n !== m || Object.entries(wanted).some(([token, id]) => saved[token] !== id))
    throw new CliError(
      `--init ${init}: its vocabulary (${n} tokens) is not the one of --data ${data.name}'s captions (${m} tokens); continue it on the data it was trained on`,
      2,
    );
}

/**
 * Fails before any training when its end could not be written or --init could not be read: --out
 * must be a folder (or not exist yet) not holding another kind of model; --init a folder of this kind.
 */
function checkFolders(ctx: CommandContext, k: Kind, out: string): void {
  const outPath = resolve(ctx.cwd, out);
  if (existsSync(outPath)) {
    if (!statSync(outPath).isDirectory())
      throw new CliError(`--out ${out} is a file; give a folder (it is made if missing)`, 2);
    const found = checkpointKind(outPath);
    if (found !== undefined && found !== k)
      throw new CliError(`--out ${out} holds a ${found} checkpoint; write the ${k} to another folder`, 2);
    // A trained model is not replaced by accident (hours of training): continuing it in place
    // (--init naming the same folder, as stages do) or --overwrite says so.
    const continued = ctx.string('init') !== undefined && resolve(ctx.cwd, ctx.string('init')!) === outPath;
    if (
      existsSync(join(outPath, 'config.json')) &&
      !continued &&
      !ctx.isDerived &&
      ctx.options.overwrite !== true
    )
      throw new CliError(
        `--out ${out} already holds a ${k} checkpoint; --overwrite replaces it, --init ${out} continues it`,
        2,
      );
  }
  checkOutWritable(ctx, out, outPath);
  const init = ctx.string('init');
  if (init === undefined) return;
  const initPath = resolve(ctx.cwd, init);
  // A stage's --init is the run's --out, which exists once the run before it has trained.
  if (initPath === outPath && ctx.isDerived) return;
  if (!existsSync(initPath) || !statSync(initPath).isDirectory())
    throw new CliError(`--init ${init}: no such checkpoint folder`, 2);
  if (!existsSync(join(initPath, 'config.json')))
    throw new CliError(`--init ${init} has no config.json; give a folder vl train wrote`, 2);
  const found = checkpointKind(initPath);
  if (found !== undefined && found !== k)
    throw new CliError(`--init ${init} is a ${found} checkpoint; vl train ${k} continues a ${k} one`, 2);
}

/**
 * --out must be a folder that can be made and written: its nearest existing folder (itself, when it
 * exists) must be a folder, not a file, and writable. The trainers make and write it only when
 * training is done, so without this check a typo (`--out notes.txt/model`) or a folder without write
 * permission would fail after the whole run, its weights lost.
 */
function checkOutWritable(ctx: CommandContext, out: string, outPath: string): void {
  let existing = outPath;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const shown = isAbsolute(out) ? existing : relative(ctx.cwd, existing) || '.';
  if (!statSync(existing).isDirectory())
    throw new CliError(`--out ${out}: ${shown} is a file, so the folder cannot be made in it`, 2);
  try {
    accessSync(existing, constants.W_OK);
  } catch {
    throw new CliError(`--out ${out}: the folder ${shown} is not writable`, 2);
  }
}

/** A run's settings in one line, as a stage announces them (everything it did not name is a default). */
function describeRun({ kind, settings: s, picks, ctx }: PreparedRun): string {
  const named = [
    `steps ${s.steps}`,
    `batch ${s.batchSize}`,
    `lr ${s.lr}`,
    `seed ${s.seed}`,
    ...(kind === 'vlm' ? [ctx.options['tune-tower'] === true ? 'tower trained' : 'tower fixed'] : []),
    ...Object.entries(picks).map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`),
  ];
  return named.join(', ');
}

/**
 * Trains one prepared run and writes its `training.json`; resolves to that record and a summary.
 * Interrupted (Ctrl-C) after some steps, it records them (`stoppedAfter`) before passing the stop on.
 */
async function executeRun(
  run: PreparedRun,
  signal: AbortSignal,
  staged: boolean,
): Promise<{ record: TrainingRecord; summary?: string }> {
  const { ctx, kind: k, settings, featureLayers, groundSteps, text, picks, resume } = run;
  const start = performance.now();
  let result: { quality?: object; summary?: string };
  let stopped: TrainingStopped | undefined;
  try {
    result = await runKind(
      ctx,
      k,
      settings,
      signal,
      { featureLayer: featureLayers, groundSteps, text, picks },
      resume,
    );
  } catch (e) {
    if (e instanceof TrainingStopped) stopped = e;
    else if (signal.aborted)
      throw new CliError(
        `interrupted before the first step was done: nothing was written to ${settings.out}`,
        130,
      );
    else throw e;
    result = {};
  }
  const { quality, summary } = result;
  const seconds = Math.round((performance.now() - start) / 1000);
  const { data, backend, out: _, ...options } = settings;
  const record: TrainingRecord = {
    kind: k,
    data: data.name,
    // Where the folder is, whatever the working folder of a later --resume.
    ...(data.name !== 'shapes' ? { dataPath: resolve(ctx.cwd, data.name) } : {}),
    ...options,
    ...(ctx.string('init') ? { init: ctx.string('init') } : {}),
    ...(resume ? { resumedAt: resume.steps } : {}),
    ...(k === 'vlm' ? { tuneTower: ctx.options['tune-tower'] === true } : {}),
    ...(featureLayers !== undefined ? { featureLayers } : {}),
    ...(k === 'vlm' ? { groundSteps, ...text, ...picks } : {}),
    backend: backend.name,
    backendKind: backend.kind, // what --resume runs on, so that it goes on exactly
    seconds,
    ...(stopped ? { stoppedAfter: stopped.steps } : {}),
    ...(quality ? { heldOut: quality } : {}),
  };
  await writeTrainingRecord(settings.out, record);
  if (stopped) {
    // A stopped run (not a stage of several, which --resume does not take) keeps its optimizer
    // state, written last: a state file always goes with the weights and record beside it.
    if (stopped.state && !staged) {
      await writeOptimizerState(settings.out, stopped.state);
      stopped = new TrainingStopped(stopped.out, stopped.steps, stopped.of, { resumable: k });
    }
    stopped.record = record;
    throw stopped;
  }
  return { record, ...(summary ? { summary } : {}) };
}

/**
 * `vl train clip|dvae|vlm --data shapes|<folder> --out <folder>`: trains a model from scratch with
 * the project's own training code and writes a checkpoint folder that `--model <folder>` loads.
 * Also writes `training.json` (options, time taken, and held-out quality on the shapes world).
 * Each `--stage "<options>"` continues the result as one more stage, as `--init <out>` would.
 */
export async function train(ctx: CommandContext): Promise<void> {
  const [kind, ...rest] = ctx.positionals;
  if (kind === undefined || !(KINDS as readonly string[]).includes(kind) || rest.length > 0)
    throw new CliError(
      `train: usage is \`vl train ${KINDS.join('|')} --data shapes|<folder> --out <folder>\``,
      2,
    );
  if (ctx.string('model') !== undefined)
    throw new CliError(
      'train: --model is not read here; --init <folder> continues a model this command wrote, and --clip <folder> gives vl train vlm its CLIP',
      2,
    );
  const k = kind as Kind;
  const resumed = ctx.string('resume');
  const first = resumed !== undefined ? await prepareResume(ctx, k, resumed) : await prepareRun(ctx, k);
  // Every stage is checked before the first one trains: a typo must not surface hours in.
  const runs = [first];
  const folder = first.settings.data.name === 'shapes' ? undefined : first.settings.data;
  for (const { text, options } of stageOptions(ctx, first.settings.out, first.settings.seed)) {
    try {
      // The run's size, which may have come from its --init or --clip rather than --size.
      const size = `${first.settings.imageSize}`;
      runs.push(await prepareRun(ctx.derive({ ...options, size }), k, folder));
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      throw new CliError(`--stage "${text}": ${e.message}`, e.exitCode);
    }
  }
  const records: TrainingRecord[] = [];
  // Ctrl-C stops training after its current step and writes what was trained (a second one quits).
  const interrupt = abortOnInterrupt(ctx.io);
  try {
    await runStages(ctx, runs, records, interrupt.signal);
  } finally {
    interrupt.release();
  }
  const out = first.settings.out;
  const result = records.length === 1 ? records[0]! : stagedRecord(records);
  if (ctx.json) ctx.printJson({ out, ...result });
  else if (records.length > 1)
    ctx.print(`trained ${kind} in ${records.length} stages, ${result.seconds} s in all`);
}

/**
 * What `--resume` may be given with: the rest comes from the stopped run's training.json (`--data`
 * for its folder moved elsewhere, `--backend` for another than the recorded one).
 */
const RESUME_OPTIONS = new Set(['resume', 'data', 'backend', 'json']);

/** The optimizers each kind's trainer saves (see its saveState). */
const RESUME_OPTIMIZERS: Record<Kind, string[]> = {
  clip: ['adamw'],
  dvae: ['decoder', 'encoder'],
  vlm: ['adamw'], // the optimizer of the stage the run stopped in
};

/**
 * Checks that a stopped run's optimizer state (the bytes of its file) is whole, is a `k` trainer's,
 * and is not past the step the record says the run stopped at (so it belongs to the weights beside
 * it); read on a plain CPU backend and freed.
 */
async function checkOptimizerState(
  bytes: Uint8Array,
  shown: string,
  k: Kind,
  stoppedAfter: number,
): Promise<void> {
  const fail = (why: string) =>
    new CliError(
      `--resume ${shown}: its ${OPTIMIZER_STATE_FILE} ${why}; --init ${shown} continues its weights with a fresh optimizer`,
      2,
    );
  let state: LoadedOptimizerState;
  try {
    state = await loadOptimizerState(bytes, { backend: new CpuBackend() });
  } catch (e) {
    throw fail(`cannot be read (${withoutCaller(e)})`);
  }
  try {
    const names = Object.keys(state.optimizers).sort();
    if (names.join() !== RESUME_OPTIMIZERS[k].join())
      throw fail(`is not a ${k} trainer's (it holds ${names.join(', ') || 'nothing'})`);
    const ahead = Object.values(state.optimizers).find((o) => o.stepCount > stoppedAfter);
    if (ahead)
      throw fail(`has taken ${ahead.stepCount} steps, more than the ${stoppedAfter} training.json records`);
  } finally {
    state.dispose();
  }
}

/**
 * `--resume <folder>`: the run a Ctrl-C stopped there, prepared to go on exactly: its settings from
 * its `training.json`, its weights and optimizer state from the folder, written back to it.
 */
async function prepareResume(ctx: CommandContext, k: Kind, folder: string): Promise<PreparedRun> {
  const given = Object.keys(ctx.options).filter(
    (n) => ctx.options[n] !== undefined && !RESUME_OPTIONS.has(n),
  );
  if (given.length > 0)
    throw new CliError(
      `--resume takes the stopped run's settings from its training.json and writes back to its folder; leave out ${given.map((n) => `--${n}`).join(', ')}`,
      2,
    );
  const path = resolve(ctx.cwd, folder);
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(readFileSync(join(path, 'training.json'), 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CliError(
      `--resume ${folder}: cannot read its training.json (${(e as Error).message}); vl train writes one into --out`,
      2,
    );
  }
  if (record.kind !== k)
    throw new CliError(
      `--resume ${folder} holds a ${String(record.kind)} run; vl train ${k} resumes a ${k} one`,
      2,
    );
  if (Array.isArray(record.stages))
    throw new CliError(
      `--resume ${folder}: a run in --stage stages cannot be resumed; --init ${folder} continues its weights`,
      2,
    );
  const stoppedAfter = record.stoppedAfter;
  if (typeof stoppedAfter !== 'number')
    throw new CliError(
      `--resume ${folder}: the run was not stopped (it did all its ${String(record.steps)} steps); --init ${folder} trains it further with a fresh optimizer`,
      2,
    );
  if (!existsSync(join(path, OPTIMIZER_STATE_FILE)))
    throw new CliError(
      `--resume ${folder}: no ${OPTIMIZER_STATE_FILE} beside the weights (a run stopped by an older vl, or the file was removed); --init ${folder} continues its weights with a fresh optimizer`,
      2,
    );
  const state = await readOptimizerState(path, folder); // once: the check, then the trainer
  await checkOptimizerState(state, folder, k, stoppedAfter);
  const recordedData = typeof record.dataPath === 'string' ? record.dataPath : String(record.data);
  if (ctx.string('data') === undefined && recordedData !== 'shapes' && !existsSync(recordedData))
    throw new CliError(
      `--resume ${folder}: the run's data folder ${recordedData} (training.json) is not there; give its new place with --data`,
      2,
    );
  const recordedBackend =
    record.backendKind === 'cpu' || record.backendKind === 'webgpu' ? record.backendKind : undefined;
  // The recorded backend unless --backend names one: on another the resumed steps differ from the
  // unbroken run's in the last bits. Set on the command's own context, whose backend the run uses.
  if (ctx.options.backend === undefined && recordedBackend) ctx.options.backend = recordedBackend;
  const options: OptionValues = {
    data: ctx.string('data') ?? recordedData,
    out: folder,
    init: folder,
    steps: String(record.steps),
    batch: String(record.batchSize),
    lr: String(record.lr),
    seed: String(record.seed),
    size: String(record.imageSize),
  };
  for (const name of ['backend', 'json'])
    if (ctx.options[name] !== undefined) options[name] = ctx.options[name];
  if (record.tuneTower === true) options['tune-tower'] = true;
  const prepared = await prepareRun(ctx.derive(options), k);
  // A VLM's stages and question picks as recorded (the tower's grounding, before the stages, is done).
  const run: PreparedRun =
    k === 'vlm'
      ? { ...prepared, groundSteps: 0, text: recordedStages(record), picks: recordedPicks(record) }
      : prepared;
  const total = run.settings.steps + (k === 'vlm' ? run.text.textSteps + run.text.alignSteps : 0);
  ctx.io.stderr.write(`vl: train: resuming ${folder} at step ${stoppedAfter} of ${total}\n`);
  const kind = run.settings.backend.kind;
  if (recordedBackend && kind !== recordedBackend)
    ctx.io.stderr.write(
      `vl: train: warning: the run trained on ${recordedBackend} and goes on on ${kind}: it will not end exactly where the unbroken run would have\n`,
    );
  return { ...run, resume: { state, steps: stoppedAfter } };
}

/** A VLM run's word and alignment stages, as its training.json records them. */
function recordedStages(record: Record<string, unknown>): PreparedRun['text'] {
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const textLr = num(record.textLr);
  const alignLr = num(record.alignLr);
  return {
    textSteps: num(record.textSteps) ?? 0,
    ...(textLr !== undefined ? { textLr } : {}),
    alignSteps: num(record.alignSteps) ?? 0,
    ...(alignLr !== undefined ? { alignLr } : {}),
  };
}

/** A VLM run's question picks, as its training.json records them. */
function recordedPicks(record: Record<string, unknown>): VlmPicks {
  return {
    ...(record.balanceAnswers === true ? { balanceAnswers: true } : {}),
    ...(typeof record.kindWeights === 'object' && record.kindWeights !== null
      ? { kindWeights: record.kindWeights as VlmPicks['kindWeights'] }
      : {}),
    ...(typeof record.questionsPerImage === 'number' ? { questionsPerImage: record.questionsPerImage } : {}),
    ...(record.captionTurn === false ? { captionTurn: false } : {}),
  };
}

/** Trains the runs one after another, each stage continuing the one before. */
async function runStages(
  ctx: CommandContext,
  runs: readonly PreparedRun[],
  records: TrainingRecord[],
  signal: AbortSignal,
): Promise<void> {
  for (const [i, run] of runs.entries()) {
    const stage = runs.length > 1 ? `stage ${i + 1}/${runs.length}: ` : '';
    if (runs.length > 1) ctx.io.stderr.write(`${stage}${describeRun(run)}\n`);
    let done: { record: TrainingRecord; summary?: string };
    try {
      done = await executeRun(run, signal, runs.length > 1);
    } catch (e) {
      // A stage cut short is the record's last stage.
      if (e instanceof TrainingStopped && e.record && runs.length > 1) {
        records.push(e.record as TrainingRecord);
        await writeTrainingRecord(run.settings.out, stagedRecord(records));
      }
      throw e;
    }
    const { record, summary } = done;
    records.push(record);
    // After each stage the folder's record lists the stages so far (a run cut short says so).
    if (runs.length > 1) await writeTrainingRecord(run.settings.out, stagedRecord(records));
    if (ctx.json) continue;
    ctx.print(
      `${stage}trained ${run.kind} in ${record.seconds} s (including the held-out check); wrote ${run.settings.out}`,
    );
    if (summary) ctx.print(`${stage}held-out: ${summary}`);
  }
}
