// Trained parameters as the checkpoint folder loadDvae reads: config.json plus one safetensors
// file per half, with dall_e's tensor names.
import { saveSafetensors } from '@vl/tensor';
import { type DvaeConfig, parseDvaeConfig } from '../config.js';
import { checkConfigArg, checkParamsPair } from '../checkArguments.js';
import { checkParamsAgainst, decoderShapes, type DvaeParams, encoderShapes } from '../dvaeShapes.js';

/**
 * The files of a dVAE checkpoint folder, by file name.
 *
 * @example
 * ```ts
 * const files: DvaeCheckpointFiles = await dvaeCheckpointFiles(config, trainer.params);
 * ```
 */
export interface DvaeCheckpointFiles {
  /** `{ encoder, decoder, logit_laplace_eps }` as {@link parseDvaeConfig} reads it. */
  'config.json': string;
  /** The encoder's tensors (`blocks.input.w`, ...), F32. */
  'encoder.safetensors': Uint8Array;
  /** The decoder's tensors, F32. */
  'decoder.safetensors': Uint8Array;
}

/**
 * Serializes dVAE parameters and their config into the folder layout {@link loadDvae} reads
 * (`config.json`, `encoder.safetensors`, `decoder.safetensors`), with the original dall_e tensor
 * names. The params are checked against the config first, and the config must be one
 * {@link parseDvaeConfig} (so {@link loadDvae}) accepts. Write the files anywhere (a folder in
 * Node, OPFS or a download in browsers).
 *
 * @example
 * ```ts
 * const files = await dvaeCheckpointFiles(config, trainer.params);
 * for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
 * const dvae = await loadDvae(dir, { backend });
 * ```
 */
export async function dvaeCheckpointFiles(
  config: DvaeConfig,
  params: { readonly encoder: DvaeParams; readonly decoder: DvaeParams },
): Promise<DvaeCheckpointFiles> {
  const caller = 'dvaeCheckpointFiles';
  checkConfigArg(caller, config);
  checkParamsPair(caller, 'params', params);
  checkParamsAgainst(caller, 'params.encoder', params.encoder, encoderShapes(config.encoder), 'encoder');
  checkParamsAgainst(caller, 'params.decoder', params.decoder, decoderShapes(config.decoder), 'decoder');
  const json = {
    encoder: { ...config.encoder },
    decoder: { ...config.decoder },
    logit_laplace_eps: config.logit_laplace_eps,
  };
  try {
    parseDvaeConfig(JSON.parse(JSON.stringify(json))); // what loadDvae will read
  } catch (e) {
    // A config built by hand (halves of two vocabularies, eps out of range) would save fine and fail to load.
    const Kind = e instanceof RangeError ? RangeError : TypeError;
    throw new Kind(`dvaeCheckpointFiles: the config would not load back: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return {
    'config.json': `${JSON.stringify(json, null, 2)}\n`,
    'encoder.safetensors': await saveSafetensors(params.encoder, { format: 'pt' }),
    'decoder.safetensors': await saveSafetensors(params.decoder, { format: 'pt' }),
  };
}
