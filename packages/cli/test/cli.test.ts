// The `vl` command line, run as a function with captured output: arguments, real checkpoints, real
// image files (PNG written here, JPEG from the shared photos), output formats and error exits.
import { mkdtempSync, readFileSync, writeFileSync, existsSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decoderShapes, encoderShapes, loadDvae, parseDvaeConfig } from '@vl/dvae';
import { encodePng, heldOutShapes, writeShapesFolder } from '@vl/shapes';
import { saveSafetensors, tensor, createBackend } from '@vl/tensor';
import { beforeAll, describe, expect, test } from 'vitest';
import { vlIn } from './vlIn.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const work = mkdtempSync(join(tmpdir(), 'vl-cli-'));

const vl = vlIn(work, []);

/** `vl <argv> --model <model> --backend cpu`: a command on a checkpoint, on the CPU. */
const vlOn = (model: string, ...argv: string[]) => vl(...argv, '--model', model, '--backend', 'cpu');

/** `vl train <kind>` on 32 px images from the caption folder (written by beforeAll), into `out`. */
function trainTiny(kind: 'clip' | 'dvae', out: string, steps: number, batch: number, ...extra: string[]) {
  return vl(
    'train',
    kind,
    '--data',
    'captions',
    '--out',
    out,
    '--steps',
    `${steps}`,
    '--batch',
    `${batch}`,
    '--size',
    '32',
    ...extra,
  );
}

/** `vl train dvae` for one step of two images. */
const trainTinyDvae = (out: string, ...extra: string[]) => trainTiny('dvae', out, 1, 2, ...extra);

const images: string[] = [];
beforeAll(async () => {
  heldOutShapes(3, { size: 48 }).forEach((s, i) => {
    const name = `shape${i}.png`;
    writeFileSync(join(work, name), encodePng(s.image));
    images.push(name);
  });
  mkdirSync(join(work, 'photos'));
  copyFileSync(
    join(fixtures, '..', '..', '..', 'clip', 'test', 'fixtures', 'images', 'rocket.jpg'),
    join(work, 'photos', 'rocket.jpg'),
  );
  for (const name of images) copyFileSync(join(work, name), join(work, 'photos', name));
  writeFileSync(join(work, 'not-an-image.png'), 'hello');
  // A CLIP trained for two steps by the command itself: a real checkpoint with its own tokenizer.
  await writeShapesFolder(join(work, 'captions'), 6, { size: 32 });
  const r = await trainTiny('clip', 'clip', 2, 4, '--backend', 'cpu');
  expect(r.code, r.err).toBe(0);
}, 120_000);

const clip = join(work, 'clip');

describe('usage', () => {
  test('help lists every command; no command is a usage error', async () => {
    const help = await vl('--help');
    expect(help.code).toBe(0);
    for (const c of ['classify', 'embed', 'search', 'reconstruct', 'ask', 'train'])
      expect(help.out).toContain(`vl ${c}`);
    expect((await vl()).code).toBe(2);
    // A command's own help gives its options one per line.
    const train = await vl('train', '--help');
    expect(train.code).toBe(0);
    expect(train.out).toMatch(/\n {2}--stage "steps=300 lr=5e-4" +then continue the result/);
    expect(train.out).toMatch(/\n {2}--balance-answers +pick each question's answer first/);
  });

  test('an unknown command, an unknown option and a bad --backend exit 2 and say why', async () => {
    const unknown = await vl('paint');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command "paint"/);
    const option = await vl('classify', images[0]!, '--colour', 'red');
    expect(option.code).toBe(2);
    expect(option.err).toMatch(/--colour/);
    const backend = await vl(
      'classify',
      images[0]!,
      '--labels',
      'a,b',
      '--model',
      clip,
      '--backend',
      'quantum',
    );
    expect(backend.code).toBe(2);
    expect(backend.err).toMatch(/--backend must be one of auto, webgpu, cpu; got "quantum"/);
  });

  test('bad paths and bad images are clear errors with exit 1', async () => {
    const missing = await vlOn(clip, 'classify', 'nope.png', '--labels', 'a,b');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no such image file: nope.png/);
    const bad = await vlOn(clip, 'classify', 'not-an-image.png', '--labels', 'a,b');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/cannot read not-an-image.png: not a PNG or JPEG file \(it starts with bytes/);
    const noModel = await vlOn('no/such/model', 'classify', images[0]!, '--labels', 'a,b');
    expect(noModel.code).toBe(1);
    expect(noModel.err).toMatch(/no such checkpoint folder: no\/such\/model/);
    const noFolder = await vlOn(clip, 'search', 'nowhere', 'a red circle');
    expect(noFolder.err).toMatch(/no such folder: nowhere/);
  });

  test('a checkpoint of another family is refused by name', async () => {
    const r = await vlOn(join(fixtures, 'llava-tiny'), 'classify', images[0]!, '--labels', 'a,b');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/llava-tiny is a vlm checkpoint; this command needs a clip one/);
  });
});

describe('with real checkpoints', () => {
  test('classify prints ranked labels, and JSON with --json, for PNG and JPEG', async () => {
    const text = await vlOn(
      clip,
      'classify',
      images[0]!,
      'photos/rocket.jpg',
      '--labels',
      'a red circle,a blue square,a rocket',
    );
    expect(text.code, text.err).toBe(0);
    const lines = text.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^photos\/rocket.jpg: /);
    const json = await vlOn(clip, 'classify', images[0]!, '--labels', 'x,y', '--top', '2', '--json');
    const row = JSON.parse(json.out) as { image: string; labels: { label: string; score: number }[] };
    expect(row.image).toBe(images[0]);
    expect(row.labels.map((l) => l.label).sort()).toEqual(['x', 'y']);
    expect(row.labels[0]!.score + row.labels[1]!.score).toBeCloseTo(1, 5);
    expect(json.err).toMatch(/backend: cpu/);
  });

  test('embed gives unit vectors for images and texts', async () => {
    const r = await vlOn(clip, 'embed', images[1]!, '--text', 'a red circle', '--json');
    expect(r.code, r.err).toBe(0);
    const rows = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; embedding: number[] });
    expect(rows.map((x) => x.kind)).toEqual(['image', 'text']);
    for (const { embedding } of rows) expect(Math.hypot(...embedding)).toBeCloseTo(1, 4);
  });

  test('search indexes a folder and finds the other images like an image, itself left out', async () => {
    const r = await vlOn(clip, 'search', 'photos', 'photos/rocket.jpg', '--json');
    expect(r.code, r.err).toBe(0);
    const { by, hits } = JSON.parse(r.out) as { by: string; hits: { path: string; score: number }[] };
    expect(by).toBe('image');
    expect(hits).toHaveLength(3); // the folder's 4 images but the query
    expect(hits.some((h) => /rocket.jpg$/.test(h.path))).toBe(false);
    for (let i = 1; i < hits.length; i++) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
    const text = await vlOn(clip, 'search', 'photos', 'a rocket', '--top', '2');
    expect(text.out.trim().split('\n')).toHaveLength(2);
  });

  test('reconstruct writes a PNG of the dVAE round trip', async () => {
    const backend = await createBackend('cpu');
    const config = parseDvaeConfig({
      encoder: { group_count: 2, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
      decoder: { group_count: 2, n_init: 8, n_hid: 8, n_blk_per_group: 1, vocab_size: 16 },
    });
    const dir = join(work, 'dvae');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    let seed = 1;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.2;
    for (const [file, shapes] of [
      ['encoder.safetensors', encoderShapes(config.encoder)],
      ['decoder.safetensors', decoderShapes(config.decoder)],
    ] as const) {
      const tensors = new Map(
        [...shapes].map(([name, shape]) => [
          name,
          tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, random), shape, { backend }),
        ]),
      );
      writeFileSync(join(dir, file), await saveSafetensors(tensors));
      for (const t of tensors.values()) t.dispose();
    }
    backend.dispose();
    const r = await vlOn(dir, 'reconstruct', 'photos/rocket.jpg', '-o', 'out.png', '--size', '32', '--json');
    expect(r.code, r.err).toBe(0);
    const info = JSON.parse(r.out) as {
      grid: number[];
      tokens: number[][];
      distinctTokens: number;
      psnr: number;
    };
    expect(info.grid).toEqual([16, 16]);
    // The token ids themselves, row by row.
    expect(info.tokens.map((row) => row.length)).toEqual(new Array(16).fill(16));
    const ids = info.tokens.flat();
    expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 16)).toBe(true); // vocab_size 16
    expect(new Set(ids).size).toBe(info.distinctTokens);
    expect(Number.isFinite(info.psnr)).toBe(true);
    expect(readFileSync(join(work, 'out.png')).subarray(1, 4).toString()).toBe('PNG');
    const odd = await vlOn(dir, 'reconstruct', images[0]!, '-o', 'x.png', '--size', '33');
    expect(odd.code).toBe(2);
    expect(odd.err).toMatch(/--size 33 must be a multiple of 2/);
    const noOut = await vl('reconstruct', images[0]!, '--model', dir);
    expect(noOut.err).toMatch(/-o out.png/);
  });

  test('ask streams an answer from a LLaVA checkpoint', async () => {
    const r = await vlOn(
      join(fixtures, 'llava-tiny'),
      'ask',
      images[0]!,
      'what color is the circle?',
      '--max-tokens',
      '4',
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const { question, answer } = JSON.parse(r.out) as { question: string; answer: string };
    expect(question).toBe('what color is the circle?');
    expect(typeof answer).toBe('string');
  });

  test('ask --stop ends the answer where the text first appears', async () => {
    const ask = (...more: string[]) =>
      vlOn(
        join(fixtures, 'llava-tiny'),
        'ask',
        images[0]!,
        'what color is the circle?',
        '--max-tokens',
        '12',
        '--json',
        ...more,
      );
    const full = await ask();
    expect(full.code, full.err).toBe(0);
    const { answer } = JSON.parse(full.out) as { answer: string };
    // Two characters from the middle of the answer, not spaces, as the stop text.
    const at = [...answer].findIndex((c, i) => i >= answer.length / 2 && c.trim() !== '');
    expect(at, answer).toBeGreaterThan(0);
    const stop = answer.slice(at, at + 2);
    const cut = await ask('--stop', stop, '--stop', 'a stop string it never says');
    expect(cut.code, cut.err).toBe(0);
    expect((JSON.parse(cut.out) as { answer: string }).answer).toBe(
      answer.slice(0, answer.indexOf(stop)).trim(),
    );
    const empty = await ask('--stop', '');
    expect(empty.code).toBe(2);
    expect(empty.err).toMatch(/--stop needs a text/);
  });

  test('train dvae --init continues from a folder it wrote', async () => {
    const first = await trainTinyDvae('dvae-a', '--backend', 'cpu');
    expect(first.code, first.err).toBe(0);
    const more = await trainTinyDvae('dvae-b', '--init', 'dvae-a', '--seed', '1', '--backend', 'cpu');
    expect(more.code, more.err).toBe(0);
    // One more step moves the weights a little from where they were (a fresh start would not be near).
    const backend = await createBackend('cpu');
    const [a, b] = await Promise.all([
      loadDvae(join(work, 'dvae-a'), { backend }),
      loadDvae(join(work, 'dvae-b'), { backend }),
    ]);
    let moved = 0;
    for (const [name, t] of a.decoderParams) {
      const x = await t.read();
      const y = await b.decoderParams.get(name)!.read();
      let diff = 0;
      let norm = 0;
      for (let i = 0; i < x.length; i++) {
        diff += (x[i]! - y[i]!) ** 2;
        norm += x[i]! ** 2;
      }
      if (name.endsWith('.w')) expect(Math.sqrt(diff / norm), name).toBeLessThan(0.5); // biases start at 0
      moved += diff;
    }
    expect(moved).toBeGreaterThan(0);
    backend.dispose();
    const missing = await trainTinyDvae('x', '--init', 'no-such', '--backend', 'cpu');
    expect(missing.code).toBe(2); // refused before training
    expect(missing.err).toMatch(/--init no-such: no such checkpoint folder/);
  });

  test('train --stage runs the --init continuations in the same command, with the same result', async () => {
    // The chain: a run, then two --init continuations with their own steps, learning rates and seeds.
    const chain = [
      await trainTinyDvae('dvae-chain', '--backend', 'cpu'),
      await trainTinyDvae(
        'dvae-chain',
        '--init',
        'dvae-chain',
        '--lr',
        '1e-3',
        '--seed',
        '1',
        '--backend',
        'cpu',
      ),
      await trainTiny('dvae', 'dvae-chain', 2, 2, '--init', 'dvae-chain', '--seed', '2', '--backend', 'cpu'),
    ];
    for (const r of chain) expect(r.code, r.err).toBe(0);
    const staged = await trainTinyDvae(
      'dvae-staged',
      '--backend',
      'cpu',
      '--stage',
      'steps=1 lr=1e-3',
      '--stage',
      'steps=2',
    );
    expect(staged.code, staged.err).toBe(0);
    expect(staged.out).toMatch(/stage 3\/3: trained dvae/);
    // Each stage says what it runs with: what it named, the run's batch, defaults for the rest.
    expect(staged.err).toMatch(/stage 2\/3: steps 1, batch 2, lr 0\.001, seed 1\n/);
    expect(staged.err).toMatch(/stage 3\/3: steps 2, batch 2, lr 0\.002, seed 2\n/);
    for (const f of ['encoder.safetensors', 'decoder.safetensors'])
      expect(
        readFileSync(join(work, 'dvae-staged', f)).equals(readFileSync(join(work, 'dvae-chain', f))),
        f,
      ).toBe(true);
    const record = JSON.parse(readFileSync(join(work, 'dvae-staged', 'training.json'), 'utf8')) as {
      stages: { steps: number; lr: number; seed: number; seconds: number; init?: string }[];
      seconds: number;
      heldOut?: object;
    };
    expect(record.stages.map((s) => [s.steps, s.lr, s.seed])).toEqual([
      [1, 2e-3, 0],
      [1, 1e-3, 1],
      [2, 2e-3, 2],
    ]);
    expect(record.stages[1]!.init).toBe(join(work, 'dvae-staged'));
    expect(record.seconds).toBe(record.stages.reduce((sum, s) => sum + s.seconds, 0));
    // A bad stage is refused before anything trains, and the message names the stage.
    const unknown = await trainTinyDvae('dvae-bad', '--backend', 'cpu', '--stage', 'data=photos');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/--stage "data=photos": Unknown option '--data'.* naming only steps, lr/);
    const badValue = await trainTinyDvae(
      'dvae-bad',
      '--backend',
      'cpu',
      '--stage',
      'steps=1',
      '--stage',
      'lr=-1',
    );
    expect(badValue.code).toBe(2);
    expect(badValue.err).toMatch(/--stage "lr=-1": --lr must be a positive number; got "-1"/);
    const vlmOnly = await trainTinyDvae('dvae-bad', '--backend', 'cpu', '--stage', 'balance-answers');
    expect(vlmOnly.code).toBe(2);
    expect(vlmOnly.err).toMatch(
      /--stage "balance-answers": train dvae: --balance-answers is for vl train vlm only/,
    );
    expect(existsSync(join(work, 'dvae-bad'))).toBe(false);
  });

  test('train under --backend auto passes over a software WebGPU adapter for the CPU', async () => {
    const r = await trainTinyDvae('dvae-auto');
    expect(r.code, r.err).toBe(0);
    const line = r.err.split('\n').find((l) => l.startsWith('backend: '));
    expect(line, r.err).toBeDefined();
    // A hardware adapter may be used; an emulated one (llvmpipe, lavapipe, SwiftShader) must not be.
    expect(line).not.toMatch(/^backend: webgpu .*(software|llvmpipe|lavapipe|swiftshader)/i);
    if (/software renderer/.test(line!)) expect(line).toMatch(/^backend: cpu /);
  });

  test('train dvae writes a checkpoint folder that reconstruct loads', async () => {
    const r = await trainTinyDvae('dvae-trained', '--backend', 'cpu');
    expect(r.code, r.err).toBe(0);
    for (const f of ['config.json', 'encoder.safetensors', 'decoder.safetensors', 'vl.json', 'training.json'])
      expect(existsSync(join(work, 'dvae-trained', f)), f).toBe(true);
    const rec = await vlOn('dvae-trained', 'reconstruct', images[1]!, '-o', 'trained.png', '--json');
    expect(rec.code, rec.err).toBe(0);
    expect(JSON.parse(rec.out)).toMatchObject({ size: 32, grid: [16, 16] });
  });

  test('train clip writes a checkpoint folder; a folder without captions is refused', async () => {
    for (const f of [
      'config.json',
      'model.safetensors',
      'vocab.json',
      'merges.txt',
      'preprocessor_config.json',
      'vl.json',
      'training.json',
    ])
      expect(existsSync(join(clip, f)), f).toBe(true);
    const record = JSON.parse(readFileSync(join(clip, 'training.json'), 'utf8')) as {
      steps: number;
      data: string;
    };
    expect(record).toMatchObject({ steps: 2, data: 'captions' });
    const more = await trainTiny('clip', 'clip-more', 1, 4, '--init', 'clip', '--backend', 'cpu');
    expect(more.code, more.err).toBe(0);
    expect(readFileSync(join(work, 'clip-more', 'config.json'), 'utf8')).toBe(
      readFileSync(join(clip, 'config.json'), 'utf8'),
    );
    const empty = await vl('train', 'clip', '--data', 'photos', '--out', 'x', '--backend', 'cpu');
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/--data photos: .*without a .txt caption/);
    const gan = await vl('train', 'gan', '--out', 'x');
    expect(gan.code).toBe(2);
    // Options a kind does not take, and bad values, are usage errors that name them.
    for (const [[kind, ...options], message] of [
      [['clip', '--tune-tower'], /train clip: --tune-tower is for vl train vlm only/],
      [['dvae', '--feature-layers', '0,-2'], /train dvae: --feature-layers is for vl train vlm only/],
      [
        ['vlm', '--feature-layers', '0,top'],
        /--feature-layers must be integers separated by commas .* got "0,top"/,
      ],
      [['clip', '--ground-steps', '10'], /train clip: --ground-steps is for vl train vlm only/],
      [['vlm', '--ground-steps', '2.5'], /--ground-steps must be a non-negative integer; got "2.5"/],
      [['vlm', '--init', 'y', '--ground-steps', '5'], /--ground-steps prepares the tower of a fresh VLM/],
      [['dvae', '--text-steps', '10'], /train dvae: --text-steps is for vl train vlm only/],
      [['vlm', '--text-steps=-3'], /--text-steps must be a non-negative integer; got "-3"/],
      [['vlm', '--text-lr', 'fast'], /--text-lr must be a positive number; got "fast"/],
      [['clip', '--align-steps', '10'], /train clip: --align-steps is for vl train vlm only/],
      [['vlm', '--align-steps', 'many'], /--align-steps must be a non-negative integer; got "many"/],
      [['clip', '--balance-answers'], /train clip: --balance-answers is for vl train vlm only/],
      [['vlm', '--questions', '0'], /--questions must be a positive integer; got "0"/],
      [['dvae', '--no-caption'], /train dvae: --no-caption is for vl train vlm only/],
      [
        ['vlm', '--kind-weights', 'exists=0'],
        /--kind-weights takes kind=weight pairs with positive weights .*got "exists=0"/,
      ],
      [
        ['vlm', '--kind-weights', 'colour=2'],
        /--kind-weights: unknown question kind "colour" \(kinds: exists, count, color/,
      ],
    ] as const) {
      const r = await vl('train', kind, '--out', 'x', ...options, '--backend', 'cpu');
      expect(r.code, `train ${kind} ${options.join(' ')}`).toBe(2);
      expect(r.err).toMatch(message);
    }
  });
});
