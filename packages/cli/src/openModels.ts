import { type ClipModel, loadClip } from '@vl/clip';
import { type DvaeModel, loadDvae } from '@vl/dvae';
import { STORED_DTYPES, type StoredDType } from '@vl/tensor';
import { type VlmModel, loadVlm } from '@vl/vlm';
import type { CommandContext } from './context.js';
import { CliError, withoutCaller } from './io.js';
import { type ModelDefaults, type ModelKind, fetchDefaults, locateModel } from './models.js';
import { ProgressBar } from './progress.js';

/** A `--model` value located, with the task defaults of its `vl.json`. */
export interface LocatedModel {
  /** The `--model` value as given (`shapes` when absent), for messages. */
  name: string;
  /** The folder or URL its loader reads. */
  source: string;
  defaults: ModelDefaults;
}

/**
 * Locates the `--model` of `kind` and reads its `vl.json` defaults: from the folder, or fetched (once)
 * for a URL. A command that needs the defaults before loading passes the result on to
 * {@link openModel}, which then reads nothing again.
 */
export async function findModel(ctx: CommandContext, kind: ModelKind): Promise<LocatedModel> {
  const name = ctx.string('model') ?? 'shapes';
  const location = locateModel(kind, name, ctx.cwd);
  const { source } = location;
  const defaults = location.remote ? await fetchDefaults(source) : location.defaults;
  return { name, source, defaults };
}

/**
 * Loads the `--model` of `kind` (or the one `located` by {@link findModel}) with a progress bar,
 * wrapping load errors with the model's name.
 */
export async function openModel<M>(
  ctx: CommandContext,
  kind: ModelKind,
  load: (
    source: string,
    options: {
      backend: Awaited<ReturnType<CommandContext['backend']>>;
      onProgress: (p: { loaded: number; total?: number }) => void;
    },
  ) => Promise<M>,
  located?: LocatedModel,
): Promise<{ model: M; defaults: ModelDefaults }> {
  const { name, source, defaults } = located ?? (await findModel(ctx, kind));
  const backend = await ctx.backend();
  const bar = new ProgressBar(ctx.io, `loading ${kind} ${name}`, { bytes: true });
  try {
    const model = await load(source, {
      backend,
      onProgress: ({ loaded, total }) => bar.update(loaded, total ?? loaded),
    });
    bar.finish();
    return { model, defaults };
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot load the ${kind} model "${name}": ${withoutCaller(e)}`);
  }
}

/** `--weights`: the dtype loadClip / loadVlm keep the linear weights in. */
function weightDtype(ctx: CommandContext): { weightDtype?: StoredDType } {
  const value = ctx.string('weights');
  if (value === undefined) return {};
  if (!STORED_DTYPES.includes(value as StoredDType))
    throw new CliError(`--weights must be one of ${STORED_DTYPES.join(', ')}; got "${value}"`, 2);
  return { weightDtype: value as StoredDType };
}

/** The CLIP of `--model`. */
export function openClip(ctx: CommandContext): Promise<{ model: ClipModel; defaults: ModelDefaults }> {
  const stored = weightDtype(ctx);
  return openModel(ctx, 'clip', (source, options) => loadClip(source, { ...options, ...stored }));
}

/** The dVAE of `--model` (already `located` by {@link findModel}, when given). */
export function openDvae(
  ctx: CommandContext,
  located?: LocatedModel,
): Promise<{ model: DvaeModel; defaults: ModelDefaults }> {
  return openModel(ctx, 'dvae', (source, options) => loadDvae(source, options), located);
}

/** The VLM of `--model`. */
export function openVlm(ctx: CommandContext): Promise<{ model: VlmModel; defaults: ModelDefaults }> {
  const stored = weightDtype(ctx);
  return openModel(ctx, 'vlm', (source, options) => loadVlm(source, { ...options, ...stored }));
}
