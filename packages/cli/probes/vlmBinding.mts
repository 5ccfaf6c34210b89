// Probe of what a fresh shapes-VLM decoder (and projector) learns of one question kind, on the
// shipped VLM's grounded tower, scored by the first answer token on 100 held-out scenes with their
// own image and with another scene's (packages/shapes/models/README.md, session 11). Not a test.
//
//   cd packages/cli && node --conditions=source --import tsx probes/vlmBinding.mts \
//     phases=textexists:400,exists:300 noimage=1 lr=1e-3
//
// phases: kind:steps,... trained in turn; kinds are the shapes world's (exists, count, background,
//   ...), echo (an exists question answered by its shape word) and textexists (the canonical caption,
//   then an exists question). Questions are balanced per scene: an answer first, then a question.
// noimage=1: textexists phases without image tokens (no tower). mask=ti: kv head 0 and its query
//   heads attend to text keys only, kv head 1 to image keys only. Also lr, batch, seed, every
//   (evaluation interval), keep=1 (start from the shipped decoder), tower=<safetensors> (another
//   grounded tower), model=<VLM folder> (another VLM than the shipped one, e.g. a `vl train vlm`
//   run; with keep=1 and one step, `phases=exists:1 every=1`, its decoder is scored as it is),
//   qfirst=1 (the question before the image, `USER: {question} <image> ASSISTANT:`, so that image
//   tokens can attend to the question's words; session 14: balanced existence stayed at chance for
//   200 steps at lr 1e-3 with a fresh decoder, as with the image first).
import { preprocessToTensor } from '@vl/clip';
import {
  type QuestionAnswer,
  createRandom,
  generateShapes,
  hashSeed,
  heldOutShapes,
  trainingSeed,
} from '@vl/shapes';
import {
  AdamW,
  type Tensor,
  clipGradNorm,
  createBackend,
  crossEntropy,
  loadSafetensors,
  reshape,
  tensor,
  tidy,
  valueAndGrad,
} from '@vl/tensor';
import {
  IGNORE_INDEX,
  initLlavaParams,
  linearAt,
  llamaForward,
  llavaInputEmbeddings,
  llavaVisionFeatures,
  loadVlm,
  matmulActivationOf,
  packVlmExamples,
} from '@vl/vlm';
import { conversationSegments } from '../src/train/conversations.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=') as [string, string]));
// phases=echo:60,exists:150 trains kinds in turn (echo: an exists question answered by its shape word).
const phases = (args.phases ?? `${args.kind ?? 'exists'}:${args.steps ?? 100}`).split(',').map((p) => {
  const [k, n] = p.split(':');
  return { kind: k!, steps: Number(n) };
});
let kind = phases[0]!.kind;
const batch = Number(args.batch ?? 64);
const lr = Number(args.lr ?? 3e-3);
const maskMode = args.mask ?? 'none';
const seed = Number(args.seed ?? 5);
const evalEvery = Number(args.every ?? 25);
const keepDecoder = args.keep === '1';
// noimage=1: the textexists phases run text-only conversations (no image tokens, no tower).
const noImage = () => args.noimage === '1' && kind === 'textexists';

const backend = await createBackend('cpu');
const model = await loadVlm(args.model ?? '../shapes/models/vlm', { backend });
const config = model.config;
const tokenizer = model.tokenizer;
const tower = new Map([...model.params].filter(([n]) => n.startsWith('vision_tower.')));
if (args.tower) {
  const loaded = await loadSafetensors(args.tower, { backend });
  for (const [n, t] of loaded.tensors) tower.set(n, t);
}
const params = keepDecoder
  ? new Map(model.params)
  : initLlavaParams(config, { backend, seed, visionTower: tower });
const frozen = new Map([...params].filter(([n]) => n.startsWith('vision_tower.')));
const tree: Record<string, Tensor> = Object.fromEntries(
  [...params].filter(([n]) => !n.startsWith('vision_tower.')),
);
const preprocess = { ...model.preprocess, size: 64, crop: 64 };
const act = matmulActivationOf(config.projector_hidden_act);
const pad = config.text_config.pad_token_id ?? 0;
const V = config.text_config.vocab_size;
const Hq = config.text_config.num_attention_heads;
const Hkv = config.text_config.num_key_value_heads;

/** A question of `kind` with its answer drawn uniformly among the answers the scene has. */
function pick(
  questions: readonly QuestionAnswer[],
  r: ReturnType<typeof createRandom>,
  caption = '',
): QuestionAnswer | undefined {
  if (kind === 'textexists') {
    // The scene told in words before the question: matching two words of the text, no image needed.
    const q = pick2(
      questions.filter((x) => x.kind === 'exists'),
      r,
    );
    return q && { ...q, question: `${caption} ${q.question}` };
  }
  if (kind === 'echo') {
    const q = pick2(
      questions.filter((x) => x.kind === 'exists'),
      r,
    );
    return q && { ...q, answer: q.question.replace(/^is there an? /, '').replace('?', '') };
  }
  return pick2(
    questions.filter((q) => q.kind === kind),
    r,
  );
}
function pick2(
  of: readonly QuestionAnswer[],
  r: ReturnType<typeof createRandom>,
): QuestionAnswer | undefined {
  if (of.length === 0) return undefined;
  const answers = [...new Set(of.map((q) => q.answer))];
  const a = r.pick(answers);
  return r.pick(of.filter((q) => q.answer === a));
}

function segments(question: string, answer: string) {
  const qfirst = args.qfirst === '1' && !noImage();
  if (!noImage() && !qfirst) return conversationSegments(tokenizer, [{ question, answer }]);
  // Without the image, or with it after the question (image tokens can then look at its words).
  const eos = tokenizer.tokenToId('</s>')!;
  return [
    {
      ids: [
        tokenizer.tokenToId('<s>')!,
        ...tokenizer.encode(`USER: ${question}`, { addSpecialTokens: false }),
        ...(qfirst ? [config.image_token_index] : []),
        ...tokenizer.encode('ASSISTANT:', { addSpecialTokens: false }),
      ],
    },
    { ids: [...tokenizer.encode(answer, { addSpecialTokens: false }), eos], learn: true },
  ];
}

function modalityMask(ids: readonly Int32Array[]): Tensor | undefined {
  if (maskMode === 'none' || noImage()) return undefined;
  const T = ids[0]!.length;
  const image = ids[0]!.map((id) => (id === config.image_token_index ? 1 : 0));
  for (const row of ids)
    for (let t = 0; t < T; t++)
      if ((row[t] === config.image_token_index ? 1 : 0) !== image[t])
        throw new Error('image positions differ');
  const m = new Uint8Array(Hq * T * T);
  const group = Hq / Hkv;
  for (let h = 0; h < Hq; h++) {
    const kvh = Math.floor(h / group);
    const wantImage = maskMode === 'ti' ? kvh === 1 : false;
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++) m[(h * T + i) * T + j] = (image[j] === 1) === wantImage ? 1 : 0;
  }
  return tensor(m, [1, Hq, T, T], { backend, dtype: 'bool' });
}

function logitsOf(
  p: Map<string, Tensor>,
  feats: Tensor | undefined,
  ids: Int32Array[],
  mask: Tensor | undefined,
): Tensor {
  const hidden = feats && linearAt(p, 'multi_modal_projector.linear_1', feats, act);
  const img = hidden && linearAt(p, 'multi_modal_projector.linear_2', hidden); // [N, P, C]
  const embeds = llavaInputEmbeddings(p, ids, img, config);
  return llamaForward(p, embeds, config.text_config, mask ? { mask } : {}); // [B, T, V]
}

const current = () => new Map<string, Tensor>([...frozen, ...Object.entries(tree)]);

async function features(images: Parameters<typeof preprocessToTensor>[0]): Promise<Tensor | undefined> {
  if (noImage()) return undefined;
  const pixels = preprocessToTensor(images, backend, preprocess);
  const f = tidy(() => llavaVisionFeatures(frozen, pixels, config));
  pixels.dispose();
  return f;
}

// Held-out: 100 scenes, one balanced question each; scored by the first answer token, teacher forced.
let held: { s: ReturnType<typeof generateShapes>; q: QuestionAnswer | undefined }[] = [];
const heldFor = () =>
  heldOutShapes(200, { size: 64 })
    .map((s) => ({ s, q: pick(s.questions, createRandom(hashSeed(s.seed, 77)), s.captions[0]) }))
    .filter((x) => x.q)
    .slice(0, 100);
async function evaluate(): Promise<string> {
  const out: string[] = [];
  for (const shuffled of [false, true]) {
    let right = 0;
    for (let i0 = 0; i0 < held.length; i0 += 50) {
      const chunk = held.slice(i0, i0 + 50);
      const { inputIds, labels } = packVlmExamples(
        chunk.map((x) => segments(x.q!.question, x.q!.answer)),
        config,
        { padTokenId: pad },
      );
      const images = chunk.map((x, j) => (shuffled ? chunk[(j + 1) % chunk.length]!.s.image : x.s.image));
      const feats = await features(images);
      const mask = modalityMask(inputIds);
      const logits = tidy(() => logitsOf(current(), feats, inputIds, mask));
      const data = (await logits.read()) as Float32Array;
      const T = inputIds[0]!.length;
      chunk.forEach((_, b) => {
        const t = labels[b]!.findIndex((y) => y !== IGNORE_INDEX); // first answer token at t
        let best = 0;
        for (let v = 1; v < V; v++)
          if (data[(b * T + t - 1) * V + v]! > data[(b * T + t - 1) * V + best]!) best = v;
        if (best === labels[b]![t]) right++;
      });
      logits.dispose();
      feats?.dispose();
      mask?.dispose();
    }
    out.push(`${shuffled ? 'other image' : 'own image'} ${right}/${held.length}`);
  }
  return out.join(', ');
}

const opt = new AdamW({ lr: (s) => lr * Math.min(1, (s + 1) / 10), betas: [0.9, 0.98], weightDecay: 0 });
held = heldFor();
console.log(`${args.phases ?? kind} mask=${maskMode} batch=${batch} lr=${lr}; step 0: ${await evaluate()}`);
const t0 = performance.now();
let index = 0;
const steps = phases.reduce((a, p) => a + p.steps, 0);
for (let step = 1, phase = 0, left = phases[0]!.steps; step <= steps; step++) {
  if (left === 0) {
    phase++;
    kind = phases[phase]!.kind;
    left = phases[phase]!.steps;
    held = heldFor();
    console.log(`-> ${kind}: ${await evaluate()}`);
  }
  left--;
  const samples: { image: ReturnType<typeof generateShapes>['image']; q: QuestionAnswer }[] = [];
  while (samples.length < batch) {
    const s = generateShapes(trainingSeed(seed + 1000, index++), { size: 64 });
    const q = pick(s.questions, createRandom(hashSeed(s.seed, 99)), s.captions[0]);
    if (q) samples.push({ image: s.image, q });
  }
  const { inputIds, labels } = packVlmExamples(
    samples.map((x) => segments(x.q.question, x.q.answer)),
    config,
    { padTokenId: pad },
  );
  const feats = await features(samples.map((x) => x.image));
  const mask = modalityMask(inputIds);
  const B = inputIds.length;
  const T = inputIds[0]!.length;
  const targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) targets[b * T + t] = labels[b]![t + 1]!;
  const loss = tidy(() => {
    const y = tensor(targets, [B * T], { backend, dtype: 'i32' });
    const { value, grads } = valueAndGrad(
      () =>
        crossEntropy(reshape(logitsOf(current(), feats, inputIds, mask), [B * T, V]), y, {
          ignoreIndex: IGNORE_INDEX,
        }),
      tree,
    );
    clipGradNorm(grads, 1);
    opt.step(tree, grads);
    return value;
  });
  const l = await loss.item();
  loss.dispose();
  feats?.dispose();
  mask?.dispose();
  if (step % evalEvery === 0 || step === steps)
    console.log(
      `step ${step} loss ${l.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(0)} s): ${await evaluate()}`,
    );
}
backend.dispose();
