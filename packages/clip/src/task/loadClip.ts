import {
  type Backend,
  type SafetensorsProgress,
  type SafetensorsSource,
  type Tensor,
  createBackend,
  joinSource,
  loadCheckpointTensors,
  loadTextIfExists,
  loadJsonIfExists,
  loadSafetensors,
} from '@vl/tensor';
import type { PreprocessOptions } from '../image/preprocess.js';
import { preprocessOptionsFromHf } from '../image/preprocessorConfig.js';
import { clipShapes } from '../model/clipModel.js';
import { type ClipConfig, parseClipConfig } from '../model/config.js';
import {
  type OpenClipModelConfig,
  fromOpenClip,
  isOpenClipCheckpoint,
  openClipConfig,
} from '../model/openClip.js';
import { checkParams } from '../model/params.js';
import { ClipTokenizer } from '../tokenizer/ClipTokenizer.js';
import { ClipModel } from './ClipModel.js';

/** Options for {@link loadClip}. */
export interface LoadClipOptions {
  /** Where to run; default `createBackend('auto')`, disposed with the model. */
  backend?: Backend;
  /** Byte progress of each file. */
  onProgress?: (progress: SafetensorsProgress) => void;
  signal?: AbortSignal;
  /** One qkv product per block (see {@link ClipModelParts.fuseQkv}); default on. */
  fuseQkv?: boolean;
}

/** A checkpoint given as parts instead of a folder. */
export interface ClipCheckpoint {
  /** An HF `config.json` object (or open_clip's `model_cfg` when `format` is `open_clip`). */
  config: unknown;
  /** A safetensors source, or tensors already loaded (ownership passes to the model). */
  weights: SafetensorsSource | ReadonlyMap<string, Tensor>;
  format?: 'hf' | 'open_clip';
  tokenizer?: ClipTokenizer;
  preprocess?: PreprocessOptions;
}

async function tokenizerFrom(folder: string | URL, io: { signal?: AbortSignal }): Promise<ClipTokenizer> {
  const text = (name: string) => loadTextIfExists(joinSource(folder, name), io);
  const json = await text('tokenizer.json');
  if (json !== undefined) return ClipTokenizer.fromTokenizerJson(json);
  const [vocab, merges] = await Promise.all([text('vocab.json'), text('merges.txt')]);
  if (vocab !== undefined && merges !== undefined) return ClipTokenizer.fromHfFiles({ vocab, merges });
  if (vocab !== undefined || merges !== undefined) {
    throw new Error(
      `loadClip: ${String(folder)} has ${vocab !== undefined ? 'vocab.json but no merges.txt' : 'merges.txt but no vocab.json'}; ` +
        'an HF tokenizer needs both (or tokenizer.json)',
    );
  }
  // No tokenizer files: openai/CLIP's own vocabulary, shipped with the package.
  return ClipTokenizer.load();
}

function towersOf(raw: unknown): { text: boolean; vision: boolean } {
  const arch = (raw as { architectures?: string[] } | undefined)?.architectures?.[0] ?? 'CLIPModel';
  if (arch.startsWith('CLIPVisionModel')) return { text: false, vision: true };
  if (arch.startsWith('CLIPTextModel')) return { text: true, vision: false };
  return { text: true, vision: true };
}

/**
 * Loads a CLIP checkpoint: an HF folder (`config.json`, `model.safetensors` or a sharded index,
 * tokenizer files, `preprocessor_config.json`) or an open_clip folder (`open_clip_config.json`,
 * `open_clip_model.safetensors`), by path or URL, or a {@link ClipCheckpoint}. Tensors that do not
 * match the config are reported by name with both shapes.
 *
 * @example
 * ```ts
 * const clip = await loadClip('https://huggingface.co/openai/clip-vit-base-patch32/resolve/main', {
 *   onProgress: ({ file, loaded, total }) => console.log(file, loaded, total),
 * });
 * const [embedding] = await clip.embedTexts(['a photo of a cat']);
 * clip.dispose();
 * ```
 */
export async function loadClip(
  source: string | URL | ClipCheckpoint,
  options: LoadClipOptions = {},
): Promise<ClipModel> {
  const ownsBackend = options.backend === undefined;
  const backend = options.backend ?? (await createBackend('auto'));
  const io = { ...(options.signal ? { signal: options.signal } : {}) };
  const loadOptions = {
    backend,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...io,
  };
  let tensors: ReadonlyMap<string, Tensor> | undefined;
  try {
    let rawConfig: unknown;
    let format: 'hf' | 'open_clip';
    let loadWeights: () => Promise<ReadonlyMap<string, Tensor>>;
    let tokenizer: ClipTokenizer;
    let preprocess: PreprocessOptions | undefined;
    if (typeof source === 'string' || source instanceof URL) {
      const hf = await loadJsonIfExists(joinSource(source, 'config.json'), io);
      const oc =
        hf === undefined
          ? await loadJsonIfExists(joinSource(source, 'open_clip_config.json'), io)
          : undefined;
      if (hf === undefined && oc === undefined) {
        throw new Error(
          `loadClip: ${String(source)} has neither config.json (HF) nor open_clip_config.json (open_clip)`,
        );
      }
      format = hf !== undefined ? 'hf' : 'open_clip';
      rawConfig = hf ?? (oc as { model_cfg?: unknown }).model_cfg;
      if (format === 'hf') {
        loadWeights = () => loadCheckpointTensors(source, loadOptions);
        preprocess = preprocessOptionsFromHf(
          await loadJsonIfExists(joinSource(source, 'preprocessor_config.json'), io),
        );
      } else {
        loadWeights = () =>
          loadCheckpointTensors(source, { ...loadOptions, file: 'open_clip_model.safetensors' });
        const pc = (oc as { preprocess_cfg?: { mean?: number[]; std?: number[] } }).preprocess_cfg;
        if (pc) preprocess = { ...(pc.mean ? { mean: pc.mean } : {}), ...(pc.std ? { std: pc.std } : {}) };
      }
      tokenizer = await tokenizerFrom(source, io);
    } else {
      rawConfig = source.config;
      const { weights } = source;
      loadWeights = async () =>
        weights instanceof Map
          ? weights
          : (await loadSafetensors(weights as SafetensorsSource, loadOptions)).tensors;
      format = source.format ?? 'hf';
      tokenizer = source.tokenizer ?? (await ClipTokenizer.load());
      preprocess = source.preprocess;
    }
    tensors = await loadWeights();
    let config: ClipConfig;
    let params: ReadonlyMap<string, Tensor>;
    if (format === 'open_clip' || isOpenClipCheckpoint(tensors.keys())) {
      config =
        format === 'open_clip'
          ? openClipConfig(rawConfig as OpenClipModelConfig)
          : parseClipConfig(rawConfig);
      const mapped = fromOpenClip(tensors, config);
      const used = new Set(mapped.values());
      for (const t of tensors.values()) if (!used.has(t)) t.dispose();
      tensors = mapped;
      params = mapped;
    } else {
      config = parseClipConfig(rawConfig);
      params = tensors;
    }
    checkParams(params, clipShapes(config, towersOf(rawConfig)));
    return new ClipModel({
      config,
      params,
      tokenizer,
      backend,
      ownsBackend,
      ...(preprocess ? { preprocess } : {}),
      ...(options.fuseQkv !== undefined ? { fuseQkv: options.fuseQkv } : {}),
    });
  } catch (e) {
    if (tensors) for (const t of new Set(tensors.values())) t.dispose();
    if (ownsBackend) backend.dispose();
    throw e;
  }
}
