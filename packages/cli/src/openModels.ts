import { type ClipModel, loadClip } from '@vl/clip';
import { type DvaeModel, loadDvae } from '@vl/dvae';
import { STORED_DTYPES, type StoredDType } from '@vl/tensor';
import { type VlmModel, loadVlm } from '@vl/vlm';
import type { CommandContext } from './context.js';
import { CliError, withoutCaller } from './io.js';
import { type ModelDefaults, type ModelKind, fetchDefaults, locateModel } from './models.js';
import { ProgressBar } from './progress.js';

/** Loads the `--model` of `kind` with a progress bar, wrapping load errors with the model's name. */
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
): Promise<{ model: M; defaults: ModelDefaults }> {
  const name = ctx.string('model') ?? 'shapes';
  const location = locateModel(kind, name, ctx.cwd);
  const { source } = location;
  const defaults = location.remote ? await fetchDefaults(source) : location.defaults;
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

/** The dVAE of `--model`. */
export function openDvae(ctx: CommandContext): Promise<{ model: DvaeModel; defaults: ModelDefaults }> {
  return openModel(ctx, 'dvae', (source, options) => loadDvae(source, options));
}

/** The VLM of `--model`. */
export function openVlm(ctx: CommandContext): Promise<{ model: VlmModel; defaults: ModelDefaults }> {
  const stored = weightDtype(ctx);
  return openModel(ctx, 'vlm', (source, options) => loadVlm(source, { ...options, ...stored }));
}
