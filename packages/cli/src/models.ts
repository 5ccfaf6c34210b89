import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shapesModel } from '@vl/shapes';
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
}

/**
 * Resolves `--model`: `shapes` is the embedded model trained on the shapes world, an http(s) URL is
 * passed through, anything else is a folder relative to the working directory.
 */
export function locateModel(kind: ModelKind, model: string, cwd: string): ModelLocation {
  if (/^https?:\/\//i.test(model)) return { source: model, defaults: {} };
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
    if (!info) throw new CliError(`--model: no such checkpoint folder: ${model}`);
    if (!info.isDirectory()) throw new CliError(`--model: ${model} is a file; expected a checkpoint folder`);
    if (!existsSync(join(folder, 'config.json')))
      throw new CliError(`--model: ${model} has no config.json; is it a ${kind} checkpoint folder?`);
  }
  return { source: folder, defaults: readDefaults(folder) };
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
