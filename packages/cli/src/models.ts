import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shapesModel } from '@vl/shapes';
import { hubFileUrl } from '@vl/tensor';
import { CliError } from './io.js';

/** The model families the CLI loads. */
export type ModelKind = 'clip' | 'dvae' | 'vlm';

/** Task defaults a checkpoint folder may carry in `vl.json` (written by `vl train`). */
export interface ModelDefaults {
  /** Labels `vl classify` uses when `--labels` is not given. */
  labels?: string[];
  /** Prompt templates with `{}` for the label. */
  templates?: string[];
  /** Square image size the model was trained on. */
  imageSize?: number;
}

/** Where a `--model` value points: a local folder or a URL, plus its `vl.json` defaults. */
export interface ModelLocation {
  source: string;
  defaults: ModelDefaults;
  /** An http(s) URL: its `vl.json` is fetched by {@link fetchDefaults}. */
  remote?: boolean;
}

/**
 * Resolves `--model`: `shapes` is the embedded model trained on the shapes world, an http(s) URL
 * or a Hugging Face Hub address (`hf://org/name`) is passed through, anything else is a folder
 * relative to the working directory.
 */
export function locateModel(
  kind: ModelKind,
  model: string,
  cwd: string,
  /** The option that named it, for the messages (`--clip` for vl train vlm's CLIP). */
  option = '--model',
): ModelLocation {
  if (model.trim() === '')
    throw new CliError(`${option} is empty; give shapes, a checkpoint folder or a URL`, 2);
  if (/^hf:/i.test(model)) {
    try {
      hubFileUrl(model); // hf://org/name[@revision]
    } catch (e) {
      throw new CliError(`${option} ${(e as Error).message}`, 2);
    }
  }
  if (/^(https?|hf):\/\//i.test(model)) return { source: model, defaults: {}, remote: true };
  let folder: string;
  if (model === 'shapes') {
    folder = fileURLToPath(shapesModel(kind));
    if (!existsSync(join(folder, 'config.json'))) {
      throw new CliError(
        `the embedded shapes ${kind} model is missing from ${folder}; train it with \`vl train ${kind} --data shapes --out <folder>\``,
      );
    }
  } else {
    folder = resolve(cwd, model);
    const info = existsSync(folder) ? statSync(folder) : undefined;
    if (!info) throw new CliError(`${option}: no such checkpoint folder: ${model}`);
    if (!info.isDirectory())
      throw new CliError(`${option}: ${model} is a file; expected a checkpoint folder`);
    if (!existsSync(join(folder, 'config.json')))
      throw new CliError(`${option}: ${model} has no config.json; is it a ${kind} checkpoint folder?`);
    const found = checkpointKind(folder);
    if (found !== undefined && found !== kind)
      throw new CliError(`${option} ${model} is a ${found} checkpoint; this command needs a ${kind} one`, 2);
  }
  return { source: folder, defaults: readDefaults(folder) };
}

/**
 * The family of the checkpoint in `folder`, from its config.json (HF `model_type`, or the dVAE's
 * encoder/decoder pair); undefined when unreadable or not recognized (its loader then decides).
 */
export function checkpointKind(folder: string): ModelKind | undefined {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const type = String(config.model_type ?? '');
  if (type === 'llava' || type.startsWith('llava_')) return 'vlm';
  if (type.startsWith('clip')) return 'clip';
  if (!type && typeof config.encoder === 'object' && typeof config.decoder === 'object') return 'dvae';
  return undefined;
}

/**
 * The `vl.json` defaults of a model at a URL (absent: none). Fetched beside its config.json, so that
 * a folder served over HTTP behaves as the same folder on disk.
 */
export async function fetchDefaults(url: string): Promise<ModelDefaults> {
  const target = hubFileUrl(`${url.replace(/\/+$/, '')}/vl.json`);
  let response: Response;
  try {
    response = await fetch(target);
  } catch {
    return {}; // unreachable: the checkpoint's own load reports that, with its cause
  }
  if (!response.ok) return {};
  try {
    return JSON.parse(await response.text()) as ModelDefaults;
  } catch (e) {
    throw new CliError(`${target} is not valid JSON: ${(e as Error).message}`);
  }
}

function readDefaults(folder: string): ModelDefaults {
  const path = join(folder, 'vl.json');
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ModelDefaults;
  } catch (e) {
    throw new CliError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * What identifies the weights behind a `--model` value, for caches of its outputs (`vl search
 * --index`): a URL as itself; a folder by its absolute path and the size and time of each config and
 * weights file in it, so retraining into the same folder is a different model.
 */
export function modelFingerprint(location: ModelLocation): string {
  if (location.remote) return location.source;
  const files = readdirSync(location.source)
    .filter((f) => /\.(json|safetensors)$/.test(f))
    .sort()
    .map((f) => {
      const { size, mtimeMs } = statSync(join(location.source, f));
      return `${f}:${size}:${Math.round(mtimeMs)}`;
    });
  return `${location.source} ${files.join(' ')}`;
}
