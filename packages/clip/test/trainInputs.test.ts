// What callers pass to the training APIs, checked before any work: a malformed ClipTrainer or
// fineTuneClip batch is named by field (it used to fail with "reading 'rank'"), a misspelt option
// is named with every key accepted, and an abort while batches() is pending takes no step. For
// linearProbe: typed-array labels, a flat vector where rows were expected, a misspelt option, a
// disposed probe; and a long run gives the event loop turns, reports progress and can be aborted.
// Every error path frees what it allocated.
import { type Backend, type Tensor, TrainingInterruptedError, createBackend, tensor, tidy } from '@vl/tensor';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  type ClipBatch,
  ClipTokenizer,
  ClipTrainer,
  fineTuneClip,
  initClipParams,
  linearProbe,
  wordVocabularyFiles,
} from '../src/index.js';
import { tinyClipConfig } from './tinyClipConfig.js';

const S = 16;
const config = tinyClipConfig({ text: { vocab_size: 600, max_position_embeddings: 8 } });
const texts = ['a red cat', 'a blue dog', 'a cat', 'a dog'];

let backend: Backend;
let tokenizer: ClipTokenizer;
beforeAll(async () => {
  backend = await createBackend('cpu');
  tokenizer = ClipTokenizer.fromHfFiles(wordVocabularyFiles(['a', 'red', 'blue', 'cat', 'dog']));
  config.text_config.bos_token_id = tokenizer.startId;
  config.text_config.eos_token_id = tokenizer.endId;
});
afterAll(() => backend.dispose());

let seed = 7;
const rand = () => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32 - 0.5;
};

function makeBatch(): ClipBatch & { attentionMask: Tensor } {
  const enc = tokenizer.encodeBatch(texts, { contextLength: 8 });
  return tidy(() => ({
    pixelValues: tensor(
      Float32Array.from({ length: texts.length * 3 * S * S }, rand),
      [texts.length, 3, S, S],
      {
        backend,
      },
    ),
    inputIds: tensor(enc.inputIds, enc.shape, { backend, dtype: 'i32' }),
    attentionMask: tensor(enc.attentionMask, enc.shape, { backend }),
  }));
}

const disposeAll = (tensors: Iterable<Tensor>) => {
  for (const t of tensors) t.dispose();
};

test('fineTuneClip: an abort while batches(step) is pending takes no step on that batch, and disposes it', async () => {
  const live = backend.stats().liveTensors;
  // After the first update: the error hands back the params of the steps done, not one more.
  const params = initClipParams(config, { backend, seed: 1 });
  const controller = new AbortController();
  const made: ClipBatch[] = [];
  const seen: number[] = [];
  const stopped = await fineTuneClip(
    params,
    config,
    async (step) => {
      made.push(makeBatch());
      if (step === 1) controller.abort(new Error('user stop'));
      return made[step]!;
    },
    { steps: 4, signal: controller.signal, onProgress: (p) => seen.push(p.step) },
  ).catch((e: unknown) => e);
  expect(stopped).toBeInstanceOf(TrainingInterruptedError);
  const err = stopped as TrainingInterruptedError<Map<string, Tensor>>;
  expect([err.name, err.steps, (err.cause as Error).message]).toEqual(['AbortError', 1, 'user stop']);
  expect(seen).toEqual([1]); // used to be [1, 2]: a full step ran on the batch fetched during the abort
  expect(made.flatMap((b) => Object.values(b)).every((t: Tensor) => t.isDisposed)).toBe(true);
  disposeAll(err.params.values());

  // Before the first update: the abort is thrown as it is and the caller's params are untouched.
  const fresh = initClipParams(config, { backend, seed: 1 });
  const controller2 = new AbortController();
  const pending = makeBatch();
  await expect(
    fineTuneClip(
      fresh,
      config,
      async () => {
        controller2.abort(new Error('stop at once'));
        return pending;
      },
      { steps: 2, signal: controller2.signal },
    ),
  ).rejects.toThrow(/^stop at once$/);
  expect([...fresh.values()].some((t) => t.isDisposed)).toBe(false);
  expect(Object.values(pending).every((t: Tensor) => t.isDisposed)).toBe(true);
  disposeAll(fresh.values());
  expect(backend.stats().liveTensors).toBe(live);
});

test('ClipTrainer.step and fineTuneClip name a malformed batch: the field and what it held', async () => {
  const live = backend.stats().liveTensors;
  const params = initClipParams(config, { backend, seed: 2 });
  const trainer = new ClipTrainer(params, config);
  const good = makeBatch();
  const gone = tensor(new Int32Array(4 * 8), [4, 8], { backend, dtype: 'i32' });
  gone.dispose();
  try {
    const bad: [unknown, string][] = [
      [undefined, 'ClipTrainer.step: the batch is undefined, not a batch (an object { pixelValues, inputIds'],
      [{}, "ClipTrainer.step: the batch's pixelValues is undefined, not a Tensor"],
      [
        { pixelValues: good.pixelValues },
        "ClipTrainer.step: the batch's inputIds is undefined, not a Tensor",
      ],
      [
        { ...good, attentionMask: new Int32Array(32) },
        "ClipTrainer.step: the batch's attentionMask is an Int32Array of length 32, not a Tensor",
      ],
      [
        { ...good, inputIds: gone },
        "ClipTrainer.step: the batch's inputIds is a disposed Tensor i32[4, 8], not a live Tensor",
      ],
    ];
    for (const [batch, message] of bad)
      await expect(trainer.step(batch as ClipBatch)).rejects.toThrow(message);
    expect(() => trainer.loss({} as ClipBatch)).toThrow(
      "ClipTrainer.loss: the batch's pixelValues is undefined",
    );
    expect(trainer.stepCount).toBe(0);
  } finally {
    trainer.dispose();
    disposeAll([...Object.values(good), ...trainer.params.values()]);
  }

  // fineTuneClip names the call that returned it; before any update the params are untouched.
  const fresh = initClipParams(config, { backend, seed: 2 });
  await expect(fineTuneClip(fresh, config, () => undefined as never, { steps: 2 })).rejects.toThrow(
    'fineTuneClip: batches(0) returned undefined, not a batch',
  );
  await expect(fineTuneClip(fresh, config, undefined as never, { steps: 2 })).rejects.toThrow(
    'fineTuneClip: batches must be a function of the step index, got undefined',
  );
  expect([...fresh.values()].some((t) => t.isDisposed)).toBe(false);
  // After an update: wrapped with the trained params, and the half batch is freed by the loop.
  const half = makeBatch();
  const failed = await fineTuneClip(
    fresh,
    config,
    (step) => (step === 0 ? makeBatch() : ({ pixelValues: half.pixelValues } as ClipBatch)),
    { steps: 3 },
  ).catch((e: unknown) => e);
  expect(failed).toBeInstanceOf(TrainingInterruptedError);
  const err = failed as TrainingInterruptedError<Map<string, Tensor>>;
  expect((err.cause as Error).message).toBe(
    'fineTuneClip: batches(1) returned a batch whose inputIds is undefined, not a Tensor',
  );
  expect(err.steps).toBe(1);
  expect(half.pixelValues.isDisposed).toBe(true);
  disposeAll([half.inputIds, half.attentionMask, ...err.params.values()]);
  expect(backend.stats().liveTensors).toBe(live);
});

test('ClipTrainer and fineTuneClip name a misspelt option with every key they accept', async () => {
  const live = backend.stats().liveTensors;
  const params = initClipParams(config, { backend, seed: 3 });
  // Used to be AdamW's message, which lists neither maxGradNorm nor fineTuneClip's own keys.
  expect(() => new ClipTrainer(params, config, { maxGradnorm: 0.1 } as never)).toThrow(
    'ClipTrainer: unknown option "maxGradnorm" (expected lr, betas, eps, weightDecay, groups, maxGradNorm)',
  );
  await expect(
    fineTuneClip(params, config, makeBatch, { steps: 1, learningRate: 1 } as never),
  ).rejects.toThrow(
    'fineTuneClip: unknown option "learningRate" (expected steps, onProgress, signal, resumeFrom, lr, betas, eps, weightDecay, groups, maxGradNorm)',
  );
  expect([...params.values()].some((t) => t.isDisposed)).toBe(false);
  disposeAll(params.values());
  expect(backend.stats().liveTensors).toBe(live);
});

// Two classes told apart by the sign of the first feature.
const probeX = Array.from({ length: 40 }, (_, i) => [i % 2 ? 1 : -1, rand(), rand()]);
const probeY = probeX.map((_, i) => i % 2);

test('linearProbe takes labels as any array or typed array of integers, copied, and refuses others by name', async () => {
  const live = backend.stats().liveTensors;
  const reference = await linearProbe(probeX, probeY, 2, { backend, steps: 30 });
  const expected = [...(await reference.weight.read())];
  reference.dispose();
  for (const labels of [Int32Array.from(probeY), Uint8Array.from(probeY), Float64Array.from(probeY)]) {
    const before = Array.from(labels);
    const probe = await linearProbe(probeX, labels, 2, { backend, steps: 30 }); // used to throw "40 feature rows but 40 labels"
    expect([...(await probe.weight.read())]).toEqual(expected);
    expect(await probe.predict(probeX.slice(0, 4))).toEqual([0, 1, 0, 1]);
    expect(Array.from(labels)).toEqual(before);
    probe.dispose();
  }
  const halves = Float64Array.from(probeY);
  halves[3] = 1.5;
  await expect(linearProbe(probeX, halves, 2, { backend })).rejects.toThrow(
    'linearProbe: label 1.5 at row 3 is not an integer in [0, 2)',
  );
  await expect(linearProbe(probeX, 'ab'.repeat(20) as never, 2, { backend })).rejects.toThrow(
    'linearProbe: labels must be an array or typed array of class ids, got a string of length 40',
  );
  expect(backend.stats().liveTensors).toBe(live);
});

test('linearProbe names a flat vector given for rows, a misspelt option and a disposed probe, briefly', async () => {
  const live = backend.stats().liveTensors;
  await expect(linearProbe(new Float32Array(12) as never, [0, 1, 0, 1], 2, { backend })).rejects.toThrow(
    'linearProbe: features must be an array of rows (got a Float32Array of length 12; wrap one row in [ ])',
  );
  // `step` (for `steps`) used to be ignored: 300 steps were trained.
  await expect(linearProbe(probeX, probeY, 2, { backend, step: 1 } as never)).rejects.toThrow(
    'linearProbe: unknown option "step" (expected backend, steps, lr, weightDecay, seed, signal, onProgress)',
  );
  const probe = await linearProbe(probeX, probeY, 2, { backend, steps: 5 });
  // One row not wrapped in [ ]: the message used to hold every value of it.
  const row = Float32Array.from([0.123456789, 0.5, 0.25]);
  const err = await probe.predict(row as never).catch((e: Error) => e);
  expect((err as Error).message).toBe(
    'linearProbe.predict: features must be an array of rows (got a Float32Array of length 3; wrap one row in [ ])',
  );
  probe.dispose();
  // Used to fail inside matmul ("input 1 ... was disposed").
  await expect(probe.predict(probeX)).rejects.toThrow('linearProbe: predict() after dispose()');
  expect(backend.stats().liveTensors).toBe(live);
});

test('linearProbe gives the event loop turns while it trains, reports progress, and stops on an abort', async () => {
  const live = backend.stats().liveTensors;
  const N = 256;
  const x = Array.from({ length: N }, (_, i) =>
    Float32Array.from({ length: 32 }, (_, j) => (j === i % 4 ? 1 : 0) + rand()),
  );
  const y = x.map((_, i) => i % 4);
  // Callbacks queued before the call: they run only if training yields (it used to run to the end).
  let timerRan = false;
  setTimeout(() => {
    timerRan = true;
  }, 0);
  let turns = 0;
  let counting = true;
  const turn = () => {
    turns++;
    if (counting) setImmediate(turn);
  };
  setImmediate(turn);
  const progress: number[] = [];
  const probe = await linearProbe(x, y, 4, { backend, steps: 64, onProgress: (p) => progress.push(p.step) });
  const [timerBefore, turnsBefore] = [timerRan, turns];
  counting = false;
  expect(timerBefore).toBe(true);
  expect(turnsBefore).toBeGreaterThanOrEqual(3); // at least one turn every 16 steps
  expect(progress).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
  probe.dispose();

  // An abort from elsewhere (here, another callback) stops training at its next turn.
  const controller = new AbortController();
  setImmediate(() => controller.abort(new Error('stop probe')));
  const seen: number[] = [];
  await expect(
    linearProbe(x, y, 4, {
      backend,
      steps: 300,
      signal: controller.signal,
      onProgress: (p) => seen.push(p.step),
    }),
  ).rejects.toThrow(/^stop probe$/);
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.length).toBeLessThan(300);
  // Already aborted: nothing is trained.
  await expect(linearProbe(x, y, 4, { backend, signal: controller.signal })).rejects.toThrow(/^stop probe$/);
  expect(backend.stats().liveTensors).toBe(live);
});
