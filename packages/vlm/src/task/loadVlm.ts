import {
  type PreprocessOptions,
  checkCheckpointSource,
  prepareCheckpointLoad,
  preprocessOptionsFromHf,
  storeLinearWeights,
} from '@vl/clip';
import {
  type Backend,
  type SafetensorsProgress,
  type SafetensorsSource,
  type StoredDType,
  type Tensor,
  joinSource,
  loadCheckpointTensors,
  loadTextIfExists,
  loadJsonIfExists,
  loadSafetensors,
} from '@vl/tensor';
import { checkLlavaConfig, checkObject } from '../checkArguments.js';
import { type LlavaConfig, parseLlavaConfig } from '../model/config.js';
import { checkVlmParams, llavaShapes, normalizeLlavaParams } from '../model/params.js';
import { VlmTokenizer } from '../text/VlmTokenizer.js';
import { VlmModel } from './VlmModel.js';

/** Options for {@link loadVlm}. */
export interface LoadVlmOptions {
  /** Where to run; default `createBackend('auto')`, disposed with the model. */
  backend?: Backend;
  /** Byte progress of each file. */
  onProgress?: (progress: SafetensorsProgress) => void;
  signal?: AbortSignal;
  /** One qkv product per vision-tower block (see {@link VlmModelParts.fuseQkv}); default on. */
  fuseQkv?: boolean;
  /**
   * The dtype the linear layers' weights are kept in (default `'f32'`): `'f16'` or `'bf16'` (half
   * the memory), `'q8'` or `'q4'` (block-quantized, 28% / 16% of it; the decoder's steps, which
   * read every weight once per token, read that much less). Each weight is converted as it loads,
   * so an F16/BF16 checkpoint never sits in memory as f32: LLaVA-1.5-7B needs about 14 GB with
   * `'f16'` (28 GB with f32) and about 5 GB with `'q4'`. Embeddings, norms and biases stay f32,
   * and so does the compute. For inference: train with f32 weights. On the CPU backend
   * each product widens its weight to f32 first (in WebAssembly, threaded, straight into the
   * GEMM's input), so a batch forward there takes 1.1-1.4x the f32 time (the ViT-B/32 image tower
   * on 2 cores: 130-150 ms f32, 150 bf16, 170-190 q8/q4/f16);
   * a one-token decode step with q8 or q4 runs on the packed blocks, reading 3.5x / 6.4x fewer bytes.
   */
  weightDtype?: StoredDType;
}

/** A checkpoint given as parts instead of a folder. */
export interface VlmCheckpoint {
  /** An HF LLaVA `config.json` object. */
  config: unknown;
  /** A safetensors source, or tensors already loaded in any spelling (ownership passes to the model). */
  weights: SafetensorsSource | ReadonlyMap<string, Tensor>;
  tokenizer?: VlmTokenizer;
  preprocess?: PreprocessOptions;
}

/**
 * Reads an HF `preprocessor_config.json` (a `CLIPImageProcessor`) into CLIP preprocessing options;
 * without one, the tower's image size with CLIP's mean and std.
 *
 * @example
 * ```ts
 * preprocessOptionsOf({ crop_size: { height: 336, width: 336 }, size: { shortest_edge: 336 } }, config);
 * ```
 */
export function preprocessOptionsOf(raw: unknown, config: LlavaConfig): PreprocessOptions {
  checkObject('preprocessOptionsOf', 'raw', raw, 'the preprocessor_config.json object or undefined', true);
  checkLlavaConfig('preprocessOptionsOf', config);
  return preprocessOptionsFor(raw, config);
}

/** {@link preprocessOptionsOf} without its argument checks: a file that holds no object is ignored. */
function preprocessOptionsFor(raw: unknown, config: LlavaConfig): PreprocessOptions {
  const S = config.vision_config.image_size;
  return { size: S, crop: S, ...preprocessOptionsFromHf(raw) };
}

async function tokenizerFrom(
  folder: string | URL,
  io: { signal?: AbortSignal },
): Promise<VlmTokenizer | undefined> {
  const text = (name: string) => loadTextIfExists(joinSource(folder, name), io);
  const json = await text('tokenizer.json');
  if (json === undefined) return undefined;
  const config = (await text('tokenizer_config.json')) ?? '{}';
  // Newer checkpoints keep the template in its own file (or in the processor's chat_template.json).
  let template = await text('chat_template.jinja');
  if (template === undefined) {
    const processor = await text('chat_template.json');
    if (processor !== undefined)
      template = (JSON.parse(processor) as { chat_template?: string }).chat_template;
  }
  return VlmTokenizer.fromJson(json, config, template);
}

/**
 * image_token_index must be a token of the decoder's vocabulary and, when the tokenizer knows it,
 * not an ordinary word: its positions in a prompt are taken for image slots.
 */
function checkImageToken(config: LlavaConfig, tokenizer: VlmTokenizer | undefined): void {
  const id = config.image_token_index;
  const V = config.text_config.vocab_size;
  if (id < 0 || id >= V) {
    throw new RangeError(
      `loadVlm: config.image_token_index ${id} is not a token of the vocabulary [0, ${V}) (text_config.vocab_size)`,
    );
  }
  if (!tokenizer) return;
  // Special tokens (the image placeholder among them) decode to nothing when specials are skipped;
  // a placeholder added as an ordinary token (tokenizer.add_tokens(["<image>"])) reads <...>.
  const token = tokenizer.decode([id], { skipSpecialTokens: false });
  const text = tokenizer.decode([id], { skipSpecialTokens: true });
  if (token !== '' && text !== '' && !/^<[^<>\s]+>$/.test(token.trim())) {
    throw new RangeError(
      `loadVlm: config.image_token_index ${id} is the tokenizer's ordinary token ${JSON.stringify(token)}, not a special image placeholder such as "<image>": that word in a prompt would be taken for an image slot`,
    );
  }
}

function eosOf(raw: unknown): number[] | undefined {
  const eos = (raw as { eos_token_id?: unknown } | undefined)?.eos_token_id;
  if (typeof eos === 'number') return [eos];
  if (Array.isArray(eos) && eos.every((e) => Number.isInteger(e))) return eos as number[];
  return undefined;
}

/**
 * Loads an HF LLaVA checkpoint (`LlavaForConditionalGeneration`): a folder or URL (a Hugging Face
 * model as `hf://llava-hf/llava-1.5-7b-hf` or its page URL) with
 * `config.json`, `model.safetensors` or a sharded `model.safetensors.index.json`, and optionally
 * `tokenizer.json` + `tokenizer_config.json` (chat template), `generation_config.json` and
 * `preprocessor_config.json`; or a {@link VlmCheckpoint}. Every tensor-name spelling in use is
 * accepted; a tensor that does not match the config is reported by name with both shapes.
 *
 * @example
 * ```ts
 * const vlm = await loadVlm('/models/llava-1.5-7b-hf', {
 *   onProgress: ({ file, loaded, total }) => console.log(file, loaded, total),
 * });
 * const [answer] = await vlm.generateText({ prompt: 'USER: <image>\nWhat is it? ASSISTANT:', images: [image] });
 * vlm.dispose();
 * ```
 */
export async function loadVlm(
  source: string | URL | VlmCheckpoint,
  options: LoadVlmOptions = {},
): Promise<VlmModel> {
  checkCheckpointSource(source, 'loadVlm');
  // F16/BF16 checkpoints (most LLaVA ones) are widened to f32 as they load, twice their size in
  // memory, except for the linear weights when weightDtype keeps them smaller.
  const { backend, ownsBackend, io, weightDtype, loadOptions } = await prepareCheckpointLoad(
    options,
    'loadVlm',
    [],
    typeof source === 'object' && !(source instanceof URL) ? source.weights : undefined,
  );
  let tensors: ReadonlyMap<string, Tensor> | undefined;
  try {
    let rawConfig: unknown;
    let loadWeights: () => Promise<ReadonlyMap<string, Tensor>>;
    let tokenizer: VlmTokenizer | undefined;
    let rawPreprocess: unknown;
    let preprocess: PreprocessOptions | undefined;
    let eos: number[] | undefined;
    if (typeof source === 'string' || source instanceof URL) {
      rawConfig = await loadJsonIfExists(joinSource(source, 'config.json'), io);
      if (rawConfig === undefined) throw new Error(`loadVlm: ${String(source)} has no config.json`);
      loadWeights = () => loadCheckpointTensors(source, loadOptions);
      tokenizer = await tokenizerFrom(source, io);
      rawPreprocess = await loadJsonIfExists(joinSource(source, 'preprocessor_config.json'), io);
      eos = eosOf(await loadJsonIfExists(joinSource(source, 'generation_config.json'), io));
    } else {
      rawConfig = source.config;
      const { weights } = source;
      loadWeights = async () =>
        weights instanceof Map
          ? weights
          : (await loadSafetensors(weights as SafetensorsSource, loadOptions)).tensors;
      tokenizer = source.tokenizer;
      preprocess = source.preprocess;
    }
    const config = parseLlavaConfig(rawConfig);
    checkImageToken(config, tokenizer);
    tensors = await loadWeights();
    let params = normalizeLlavaParams(tensors);
    // What the spelling map drops (rotary caches some exports saved) is freed now.
    const kept = new Set(params.values());
    for (const t of tensors.values()) if (!kept.has(t)) t.dispose();
    const expected = llavaShapes(config);
    checkVlmParams(params, expected);
    // Tensors the config does not use (an lm_head next to tied embeddings, biases the config turns
    // off) are freed, as transformers ignores unexpected keys.
    for (const [name, t] of params) {
      if (!expected.has(name)) {
        t.dispose();
        params.delete(name);
      }
    }
    // Weights handed over as tensors (or not in a linear layer's spelling at load) are converted here.
    params = storeLinearWeights(params, weightDtype);
    tensors = params;
    return new VlmModel({
      config,
      params,
      backend,
      ownsBackend,
      preprocess: preprocess ?? preprocessOptionsFor(rawPreprocess, config),
      ...(tokenizer ? { tokenizer } : {}),
      ...(eos ? { eosTokenId: eos } : {}),
      ...(options.fuseQkv !== undefined ? { fuseQkv: options.fuseQkv } : {}),
    });
  } catch (e) {
    if (tensors) for (const t of new Set(tensors.values())) t.dispose();
    if (ownsBackend) backend.dispose();
    throw e;
  }
}
