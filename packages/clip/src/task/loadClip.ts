import {
  type Backend,
  type SafetensorsProgress,
  type SafetensorsSource,
  type StoredDType,
  type Tensor,
  isNotFound,
  joinSource,
  loadCheckpointTensors,
  loadFileIfExists,
  loadTextIfExists,
  loadJsonIfExists,
  loadSafetensors,
} from '@vl/tensor';
import { preprocessOptionsFromOpenClip } from '../image/openClipPreprocess.js';
import type { PreprocessOptions } from '../image/preprocess.js';
import { preprocessOptionsFromHf } from '../image/preprocessorConfig.js';
import { clipShapes } from '../model/clipModel.js';
import { type ClipConfig, describeValue, notClipConfigReason, readClipConfig } from '../model/config.js';
import { fromOpenClip, isOpenClipCheckpoint } from '../model/openClip.js';
import {
  type OpenClipModelConfig,
  openClipTokenizerName,
  readOpenClipConfig,
  withOpenAiActivation,
} from '../model/openClipConfig.js';
import { checkParams, checkUnusedTensors } from '../model/params.js';
import { storeLinearWeights } from '../model/storedWeights.js';
import { ClipTokenizer } from '../tokenizer/ClipTokenizer.js';
import { markBundled } from '../tokenizer/bundledTokenizers.js';
import { checkCheckpointSource, prepareCheckpointLoad } from './checkpointLoad.js';
import { ClipModel } from './ClipModel.js';
import { checkStrings, checkTemplates } from './taskInputs.js';
import { rewordError } from '../rewordError.js';

/** Options for {@link loadClip}. */
export interface LoadClipOptions {
  /** Where to run; default `createBackend('auto')`, disposed with the model. */
  backend?: Backend;
  /** Byte progress of each file. */
  onProgress?: (progress: SafetensorsProgress) => void;
  signal?: AbortSignal;
  /** One qkv product per block (see {@link ClipModelParts.fuseQkv}); default on. */
  fuseQkv?: boolean;
  /**
   * The dtype the linear layers' weights are kept in (default `'f32'`). `'f16'` and `'bf16'` halve
   * their memory and `'q8'` / `'q4'` (block-quantized, for inference) take 28% / 16% of it; each is
   * converted as it loads and widened inside matmul's kernel. Embeddings, norms, biases and
   * convolutions stay f32, and so does the compute. On the CPU backend
   * each product widens its weight to f32 first (in WebAssembly, threaded, straight into the
   * GEMM's input), so a batch forward there takes 1.1-1.4x the f32 time (the ViT-B/32 image tower
   * on 2 cores: 130-150 ms f32, 150 bf16, 170-190 q8/q4/f16);
   * a one-token decode step with q8 or q4 runs on the packed blocks, reading 3.5x / 6.4x fewer bytes.
   */
  weightDtype?: StoredDType;
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
  /** Zero-shot prompt templates of this model (see {@link ClipModel.templates}). */
  templates?: readonly string[];
}

/** Rethrows an error from a file read under loadClip's name (the reads share @vl/tensor's loaders). */
function asLoadClipError(e: unknown): unknown {
  if (!(e instanceof Error) || e.name === 'AbortError') return e;
  // The reader's own name (loadSafetensors(), loadJsonIfExists(), ...) gives way to loadClip's.
  const message = e.message.replace(
    /^(loadSafetensors|loadFile|loadJson|loadFileIfExists|loadJsonIfExists|loadTextIfExists)\(\): /,
    '',
  );
  const Kind = e instanceof TypeError ? TypeError : e instanceof SyntaxError ? SyntaxError : Error;
  const wrapped = new Kind(`loadClip: ${message}`, { cause: e });
  if (isNotFound(e)) wrapped.name = e.name;
  return wrapped;
}

async function readText(
  folder: string | URL,
  name: string,
  io: { signal?: AbortSignal },
): Promise<string | undefined> {
  try {
    return await loadTextIfExists(joinSource(folder, name), io);
  } catch (e) {
    throw asLoadClipError(e);
  }
}

async function readJson(folder: string | URL, name: string, io: { signal?: AbortSignal }): Promise<unknown> {
  try {
    return await loadJsonIfExists(joinSource(folder, name), io);
  } catch (e) {
    throw asLoadClipError(e);
  }
}

/**
 * The zero-shot templates a checkpoint's `vl.json` names (`vl train clip` writes them, and the
 * shapes models ship them), or undefined without a file or the field.
 */
function templatesOf(vl: unknown, file: string): readonly string[] | undefined {
  if (vl === undefined) return undefined;
  if (vl === null || typeof vl !== 'object' || Array.isArray(vl))
    throw new TypeError(`loadClip: ${file} must hold a JSON object, got ${describeValue(vl)}`);
  const { templates } = vl as { templates?: unknown };
  if (templates === undefined) return undefined;
  checkStrings(templates, `loadClip: ${file}`, 'template');
  checkTemplates(templates, `loadClip: ${file}`);
  return templates;
}

/** A checkpoint's tokenizer; `bundled` when it is the package's openai/CLIP vocabulary, for want of one. */
interface LoadedTokenizer {
  tokenizer: ClipTokenizer;
  bundled: boolean;
}

async function tokenizerFrom(folder: string | URL, io: { signal?: AbortSignal }): Promise<LoadedTokenizer> {
  const text = (name: string) => readText(folder, name, io);
  const json = await text('tokenizer.json');
  if (json !== undefined) {
    const file = String(joinSource(folder, 'tokenizer.json'));
    return { tokenizer: parseIn(file, () => ClipTokenizer.fromTokenizerJson(json)), bundled: false };
  }
  const [vocab, merges] = await Promise.all([text('vocab.json'), text('merges.txt')]);
  if (vocab !== undefined && merges !== undefined) {
    const files = `${String(folder)} (vocab.json and merges.txt)`;
    return { tokenizer: parseIn(files, () => ClipTokenizer.fromHfFiles({ vocab, merges })), bundled: false };
  }
  if (vocab !== undefined || merges !== undefined) {
    throw new Error(
      `loadClip: ${String(folder)} has ${vocab !== undefined ? 'vocab.json but no merges.txt' : 'merges.txt but no vocab.json'}; ` +
        'an HF tokenizer needs both (or tokenizer.json)',
    );
  }
  // No tokenizer files: openai/CLIP's own vocabulary, shipped with the package.
  return { tokenizer: markBundled(await ClipTokenizer.load()), bundled: true };
}

/**
 * Refuses an open_clip text tower that reads another tokenizer's ids (`text_cfg.hf_tokenizer_name`:
 * MetaCLIP 2's XLM-V or mT5) unless the checkpoint brings a tokenizer of its vocabulary size: the
 * bundled CLIP BPE would give ids that mean nothing to it.
 */
function checkTokenizerName(cfg: OpenClipModelConfig, config: ClipConfig, loaded: LoadedTokenizer): void {
  const name = openClipTokenizerName(cfg);
  const vocab = config.text_config.vocab_size;
  if (name === undefined || (!loaded.bundled && loaded.tokenizer.vocabSize === vocab)) return;
  const has = loaded.bundled
    ? `only the bundled CLIP BPE (${loaded.tokenizer.vocabSize} tokens)`
    : `a tokenizer of ${loaded.tokenizer.vocabSize} tokens`;
  throw new Error(
    `loadClip: open_clip config: model_cfg.text_cfg.hf_tokenizer_name is ${JSON.stringify(name)}: the text tower reads that tokenizer's ids (vocab_size ${vocab}), and the checkpoint has ${has}; ` +
      `give the checkpoint a BPE tokenizer of ${vocab} tokens (tokenizer.json, or checkpoint.tokenizer)`,
  );
}

/** The model classes loadClip loads, and the towers each holds. */
const ARCHITECTURES: Record<string, { text: boolean; vision: boolean }> = {
  CLIPModel: { text: true, vision: true },
  CLIPTextModelWithProjection: { text: true, vision: false },
  CLIPVisionModelWithProjection: { text: false, vision: true },
};

function towersOf(raw: unknown): { text: boolean; vision: boolean } {
  const architectures = (raw as { architectures?: unknown }).architectures;
  if (architectures === undefined || architectures === null) return { text: true, vision: true };
  if (!Array.isArray(architectures) || !architectures.every((a) => typeof a === 'string')) {
    throw new TypeError(
      `CLIP config: architectures must be an array of class names, got ${describeValue(architectures)}`,
    );
  }
  const arch = (architectures[0] as string | undefined) ?? 'CLIPModel';
  const towers = ARCHITECTURES[arch];
  if (towers) return towers;
  if (arch === 'CLIPTextModel' || arch === 'CLIPVisionModel') {
    // Supporting them would mean embeddings outside the joint space (no projection), which
    // zeroShot and image-text search cannot use; their towers run through clipTextForward /
    // clipVisionForward on the tensors themselves.
    const projection = arch === 'CLIPTextModel' ? 'text_projection' : 'visual_projection';
    throw new TypeError(
      `CLIP config: architectures ${arch} has no ${projection}, so its pooled output is not in the joint image-text embedding space loadClip's model works in; ` +
        `load a ${arch}WithProjection or CLIPModel checkpoint (or run the tower with ${arch === 'CLIPTextModel' ? 'clipTextForward' : 'clipVisionForward'} on its tensors)`,
    );
  }
  throw new TypeError(
    `CLIP config: architectures ${JSON.stringify(arch)} is not a CLIP model class loadClip loads (${Object.keys(ARCHITECTURES).join(', ')})`,
  );
}

function isWeightsSource(weights: unknown): boolean {
  return (
    typeof weights === 'string' ||
    weights instanceof URL ||
    weights instanceof Map ||
    weights instanceof ArrayBuffer ||
    ArrayBuffer.isView(weights) ||
    (typeof Blob !== 'undefined' && weights instanceof Blob)
  );
}

/** Rejects a source that is neither a folder nor {@link ClipCheckpoint} parts, before anything loads. */
function checkSource(source: unknown): void {
  checkCheckpointSource(source, 'loadClip');
  if (typeof source === 'string' || source instanceof URL) return;
  const parts = source as Partial<ClipCheckpoint>;
  if (!isWeightsSource(parts.weights)) {
    throw new TypeError(
      `loadClip: checkpoint.weights must be a safetensors source (a path, URL, Blob or bytes) or a Map of tensors, got ${describeValue(parts.weights)}`,
    );
  }
  if (parts.format !== undefined && parts.format !== 'hf' && parts.format !== 'open_clip') {
    throw new TypeError(
      `loadClip: checkpoint.format must be 'hf' or 'open_clip', got ${describeValue(parts.format)}`,
    );
  }
  if (parts.tokenizer !== undefined && !(parts.tokenizer instanceof ClipTokenizer)) {
    throw new TypeError(
      `loadClip: checkpoint.tokenizer must be a ClipTokenizer, got ${describeValue(parts.tokenizer)}`,
    );
  }
}

/** Runs a config parser, naming the file the config came from in its error. */
function parseIn<T>(file: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    // A tokenizer's errors start with its own name, which the file's replaces.
    throw rewordError(e, `loadClip: ${file}: ${e.message.replace(/^ClipTokenizer: /, '')}`);
  }
}

/** The weights of a folder; a folder without them says which files it looked for. */
async function folderWeights(
  folder: string | URL,
  file: string,
  configFile: string,
  options: Parameters<typeof loadCheckpointTensors>[1],
): Promise<Map<string, Tensor>> {
  try {
    return await loadCheckpointTensors(folder, { ...options, file });
  } catch (e) {
    if (!isNotFound(e)) throw e;
    // Not found may be a shard the index names (passed on as itself) or no weights at all.
    const io = options.signal ? { signal: options.signal } : {};
    if ((await loadFileIfExists(joinSource(folder, `${file}.index.json`), io)) !== undefined) throw e;
    const pickle = file === 'model.safetensors' ? 'pytorch_model.bin' : 'open_clip_pytorch_model.bin';
    throw new Error(
      `loadClip: ${String(folder)} has ${configFile} but no weights: looked for ${file} and ${file}.index.json (sharded); ` +
        `loadClip reads safetensors only, so a folder with ${pickle} alone needs it converted to ${file} first (safetensors.torch.save_file)`,
      { cause: e },
    );
  }
}

/**
 * A folder's config: `config.json` when it is a transformers CLIP config, else
 * `open_clip_config.json` (timm's hub repos ship a timm `config.json` next to the open_clip files);
 * a `config.json` that is neither CLIP's nor next to an open_clip config is refused, saying why.
 */
async function folderConfig(
  folder: string | URL,
  io: { signal?: AbortSignal },
): Promise<{ format: 'hf' | 'open_clip'; file: string; config: unknown; preprocess?: unknown }> {
  const hf = await readJson(folder, 'config.json', io);
  // A config.json that is no object at all is left to parseClipConfig, which names the problem.
  const isObject = hf !== null && typeof hf === 'object' && !Array.isArray(hf);
  const notClip = isObject ? notClipConfigReason(hf as Record<string, unknown>) : undefined;
  if (hf !== undefined && notClip === undefined) return { format: 'hf', file: 'config.json', config: hf };
  const oc = await readJson(folder, 'open_clip_config.json', io);
  if (oc === undefined) {
    if (hf === undefined) {
      throw new Error(
        `loadClip: ${String(folder)} has neither config.json (HF) nor open_clip_config.json (open_clip)`,
      );
    }
    throw new TypeError(
      `loadClip: ${String(joinSource(folder, 'config.json'))}: not a transformers CLIP config (${notClip}), and there is no open_clip_config.json next to it`,
    );
  }
  const file = 'open_clip_config.json';
  if (oc === null || typeof oc !== 'object' || Array.isArray(oc)) {
    throw new TypeError(
      `loadClip: ${String(joinSource(folder, file))}: expected a JSON object, got ${describeValue(oc)}`,
    );
  }
  const { model_cfg, preprocess_cfg } = oc as { model_cfg?: unknown; preprocess_cfg?: unknown };
  return { format: 'open_clip', file, config: model_cfg, preprocess: preprocess_cfg ?? null };
}

/**
 * Loads a CLIP checkpoint: an HF folder (`config.json`, `model.safetensors` or a sharded index,
 * tokenizer files, `preprocessor_config.json`) or an open_clip folder (`open_clip_config.json`,
 * `open_clip_model.safetensors`), by path or URL (a Hugging Face model as `hf://org/name[@revision]`
 * or its page URL), or a {@link ClipCheckpoint}. Tensors that do not
 * match the config are reported by name with both shapes.
 *
 * @example
 * ```ts
 * const clip = await loadClip('hf://openai/clip-vit-base-patch32', {
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
  checkSource(source);
  const { backend, ownsBackend, io, weightDtype, loadOptions } = await prepareCheckpointLoad(
    options,
    'loadClip',
    [],
    typeof source === 'object' && !(source instanceof URL) ? source.weights : undefined,
  );
  let tensors: ReadonlyMap<string, Tensor> | undefined;
  try {
    let rawConfig: unknown;
    let format: 'hf' | 'open_clip';
    let loadWeights: () => Promise<ReadonlyMap<string, Tensor>>;
    let loadTokenizer: () => Promise<LoadedTokenizer>;
    let preprocess: PreprocessOptions | undefined;
    let openClipPreprocess: unknown;
    let templates: readonly string[] | undefined;
    let configFile = 'checkpoint.config';
    if (typeof source === 'string' || source instanceof URL) {
      const found = await folderConfig(source, io);
      format = found.format;
      rawConfig = found.config;
      configFile = String(joinSource(source, found.file));
      if (format === 'hf') {
        loadWeights = () => folderWeights(source, 'model.safetensors', 'config.json', loadOptions);
        preprocess = preprocessOptionsFromHf(await readJson(source, 'preprocessor_config.json', io));
      } else {
        loadWeights = () =>
          folderWeights(source, 'open_clip_model.safetensors', 'open_clip_config.json', loadOptions);
        openClipPreprocess = found.preprocess;
      }
      loadTokenizer = () => tokenizerFrom(source, io);
      templates = templatesOf(await readJson(source, 'vl.json', io), String(joinSource(source, 'vl.json')));
    } else {
      rawConfig = source.config;
      const { weights } = source;
      // Tensors handed over belong to the model from here on, and are freed if loading fails.
      if (weights instanceof Map) tensors = weights;
      loadWeights = async () => {
        if (weights instanceof Map) return weights;
        try {
          return (await loadSafetensors(weights as SafetensorsSource, loadOptions)).tensors;
        } catch (e) {
          if (!isNotFound(e)) throw e;
          throw new Error(`loadClip: checkpoint.weights: ${(e as Error).message}`, { cause: e });
        }
      };
      format = source.format ?? 'hf';
      const { tokenizer } = source;
      loadTokenizer = async () => ({
        tokenizer: tokenizer ?? markBundled(await ClipTokenizer.load()),
        bundled: !tokenizer,
      });
      preprocess = source.preprocess;
      templates = source.templates;
    }
    // The config is checked before any weights load, so a bad one fails fast and by name.
    let config: ClipConfig = parseIn(configFile, () =>
      format === 'open_clip'
        ? readOpenClipConfig(rawConfig as OpenClipModelConfig)
        : readClipConfig(rawConfig),
    );
    if (openClipPreprocess !== undefined || (format === 'open_clip' && !preprocess)) {
      const size = config.vision_config.image_size;
      preprocess = parseIn(configFile, () => preprocessOptionsFromOpenClip(openClipPreprocess, size));
    }
    const towers =
      format === 'open_clip' ? { text: true, vision: true } : parseIn(configFile, () => towersOf(rawConfig));
    const loaded = await loadTokenizer();
    if (format === 'open_clip') checkTokenizerName(rawConfig as OpenClipModelConfig, config, loaded);
    tensors = await loadWeights();
    let params: ReadonlyMap<string, Tensor>;
    if (format === 'open_clip' || isOpenClipCheckpoint(tensors.keys())) {
      if (format === 'open_clip') {
        const names = tensors.keys();
        config = parseIn(configFile, () =>
          withOpenAiActivation(config, rawConfig as OpenClipModelConfig, names),
        );
      }
      const mapped = fromOpenClip(tensors, config);
      const used = new Set(mapped.values());
      for (const t of tensors.values()) if (!used.has(t)) t.dispose();
      tensors = mapped;
      params = mapped;
    } else {
      params = tensors;
    }
    // Weights that did not load as weightDtype (open_clip's q/k/v slices, tensors handed over).
    params = tensors = storeLinearWeights(params, weightDtype);
    const expected = clipShapes(config, towers);
    checkParams(params, expected);
    checkUnusedTensors(params.keys(), expected);
    return new ClipModel({
      config,
      params,
      tokenizer: loaded.tokenizer,
      backend,
      ownsBackend,
      ...(preprocess ? { preprocess } : {}),
      ...(templates ? { templates } : {}),
      ...(options.fuseQkv !== undefined ? { fuseQkv: options.fuseQkv } : {}),
    });
  } catch (e) {
    if (tensors) for (const t of new Set(tensors.values())) t.dispose();
    if (ownsBackend) backend.dispose();
    throw e;
  }
}
