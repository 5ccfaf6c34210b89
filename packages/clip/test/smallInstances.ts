// Small, real instances of the package's classes for the wrong-argument test, and valid arguments
// for each of their calls: the clip-tiny model (with a tokenizer that fits its 512-id text tower),
// the bundled tokenizer, a 4-dim index, and a trainer of a tiny config. No downloads.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Backend, type Tensor, tensor } from '@vl/tensor';
import {
  type BpeVocabulary,
  type ClipBatch,
  type ClipModel,
  ClipTokenizer,
  ClipTrainer,
  EmbeddingIndex,
  initClipParams,
  loadBpeVocabulary,
  loadClip,
  wordVocabularyFiles,
} from '../src/index.node.js';
import { clipTinyDir } from './clipTinyReference.js';
import { tinyClipConfig } from './tinyClipConfig.js';

export interface SmallInstances {
  model: ClipModel;
  tokenizer: ClipTokenizer;
  index: EmbeddingIndex<number>;
  trainer: ClipTrainer;
  /** Valid arguments by call (`ClipTokenizer.load`, `model.zeroShot`), a factory per position. */
  validArgs: Record<string, (() => unknown)[]>;
  dispose(): void;
}

/**
 * clip-tiny's text tower reads 512 ids, its start and end tokens being 510 and 511: the 256 byte
 * tokens, the word ends of all but bytes 0xFE and 0xFF (which UTF-8 never holds), then the two.
 * Every text tokenizes byte by byte.
 */
function clipTinyVocabulary(): BpeVocabulary {
  const { vocab } = wordVocabularyFiles([]);
  const tokens = Object.entries(vocab)
    .sort((a, b) => a[1] - b[1])
    .map(([token]) => token)
    .filter((token) => token !== 'þ</w>' && token !== 'ÿ</w>');
  return { vocab: tokens, merges: [] };
}

/** The instances, on `backend`; `dispose()` frees them. */
export async function smallInstances(backend: Backend): Promise<SmallInstances> {
  const bpeText = await loadBpeVocabulary();
  const hfFiles = wordVocabularyFiles(['a', 'cat', 'dog']);

  const tinyTokenizer = new ClipTokenizer(clipTinyVocabulary(), { contextLength: 16 });
  const config = JSON.parse(readFileSync(join(clipTinyDir, 'config.json'), 'utf8'));
  const weights = join(clipTinyDir, 'model.safetensors');
  const model = await loadClip({ config, weights, tokenizer: tinyTokenizer }, { backend });
  const { bos_token_id, eos_token_id } = model.config.text_config;
  if (tinyTokenizer.startId !== bos_token_id || tinyTokenizer.endId !== eos_token_id)
    throw new Error('smallInstances: the tokenizer does not fit clip-tiny');
  const S = model.config.vision_config.image_size;
  const image = { data: new Uint8Array(S * S * 3).fill(128), width: S, height: S, channels: 3 as const };
  const pixels = () => tensor(new Float32Array(3 * S * S), [1, 3, S, S], { backend });
  const ids = tinyTokenizer.encode('a cat');
  const inputIds = () => tensor(Int32Array.from(ids), [1, ids.length], { backend, dtype: 'i32' });
  const mask = () => tensor(new Int32Array(ids.length).fill(1), [1, ids.length], { backend, dtype: 'i32' });
  // The model fuses each block's q, k and v weights on its first forward pass and keeps them: run
  // one of each now, so the tensors a failed call leaves behind are counted as that call's.
  for (const [x, run] of [
    [pixels(), (t: Tensor) => model.encodeImage(t)],
    [inputIds(), (t: Tensor) => model.encodeText(t)],
  ] as const) {
    run(x).dispose();
    x.dispose();
  }

  const tokenizer = await ClipTokenizer.load();

  const index = new EmbeddingIndex<number>(4);
  index.add([
    [1, 0, 0, 0],
    [0, 1, 0, 0],
  ]);
  const indexBytes = index.save();

  const trainTokenizer = ClipTokenizer.fromHfFiles(hfFiles, { contextLength: 8 });
  const trainConfig = tinyClipConfig({
    text: {
      vocab_size: 600,
      max_position_embeddings: 8,
      bos_token_id: trainTokenizer.startId,
      eos_token_id: trainTokenizer.endId,
    },
  });
  const trainer = new ClipTrainer(initClipParams(trainConfig, { backend, seed: 1 }), trainConfig);
  const encoded = trainTokenizer.encodeBatch(['a cat', 'a dog']);
  const batch: Required<ClipBatch> = {
    pixelValues: tensor(new Float32Array(2 * 3 * 16 * 16).fill(0.5), [2, 3, 16, 16], { backend }),
    inputIds: tensor(encoded.inputIds, encoded.shape, { backend, dtype: 'i32' }),
    attentionMask: tensor(encoded.attentionMask, encoded.shape, { backend, dtype: 'i32' }),
  };
  const trainerState = await trainer.saveState();

  const validArgs: Record<string, (() => unknown)[]> = {
    ClipModel: [() => ({ config: model.config, params: model.params, tokenizer: tinyTokenizer, backend })],
    ClipTokenizer: [clipTinyVocabulary, () => ({})],
    'ClipTokenizer.load': [() => new TextEncoder().encode(bpeText), () => ({})],
    'ClipTokenizer.fromBpeVocabulary': [() => bpeText, () => ({})],
    'ClipTokenizer.fromHfFiles': [() => hfFiles, () => ({})],
    'ClipTokenizer.fromTokenizerJson': [
      () => ({ model: { type: 'BPE', vocab: hfFiles.vocab, merges: hfFiles.merges.split('\n') } }),
      () => ({}),
    ],
    ClipTrainer: [() => model.params, () => model.config, () => ({})],
    EmbeddingIndex: [() => 4, () => 8],
    'EmbeddingIndex.load': [() => indexBytes],
    FusedQkvParams: [() => model.params, () => true, () => ({})],

    'model.encodeImage': [pixels],
    'model.encodeText': [inputIds, mask],
    'model.pixelValues': [() => [image]],
    'model.embedImages': [() => [image], () => ({})],
    'model.embedTexts': [() => ['a cat'], () => ({})],
    'model.labelEmbeddings': [() => ['cat'], () => ['a {}']],
    'model.zeroShot': [() => image, () => ['cat', 'dog'], () => ({ templates: ['a {}'] })],
    'model.tuneWebGpu': [() => ({})],

    'tokenizer.tokenize': [() => 'a cat'],
    'tokenizer.tokenId': [() => 'cat</w>'],
    'tokenizer.encode': [() => 'a cat'],
    'tokenizer.encodeBatch': [() => ['a cat'], () => ({})],
    'tokenizer.decode': [() => tokenizer.encode('a cat'), () => ({})],

    'index.add': [() => [[0, 0, 1, 0]], () => [7]],
    'index.save': [() => ({})],
    'index.entry': [() => 0],
    'index.search': [() => [1, 0, 0, 0], () => 1],

    'trainer.loss': [() => batch, () => trainer.params],
    'trainer.step': [() => batch],
    'trainer.loadState': [() => trainerState],
  };

  return {
    model,
    tokenizer,
    index,
    trainer,
    validArgs,
    dispose() {
      model.dispose();
      const trained: Tensor[] = [...trainer.params.values()];
      trainer.dispose();
      for (const t of [...trained, ...Object.values(batch)]) t.dispose();
    },
  };
}
