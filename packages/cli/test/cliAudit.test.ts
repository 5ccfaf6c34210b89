// What an audit of the `vl` command line found, each fixed: files that are not a command's to
// overwrite, sizes and options refused before a model loads (exit 2), messages that name the option
// the user gave, warnings for words a model does not know and for an image path that is not there,
// and progress bars that stay quiet when the work takes no time.
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePng, heldOutShapes, shapesModel, writeShapesFolder } from '@vl/shapes';
import { beforeAll, describe, expect, test } from 'vitest';
import { vlIn } from './vlIn.js';
import { withoutCaller } from '../src/io.js';
import { ProgressBar } from '../src/progress.js';

const work = mkdtempSync(join(tmpdir(), 'vl-cli-audit-'));

const vl = vlIn(work);

/** A dVAE folder with the shapes dVAE's config and vl.json but no weights: loading it fails (exit 1). */
const noWeights = join(work, 'dvae-no-weights');

beforeAll(async () => {
  mkdirSync(join(work, 'pics'));
  heldOutShapes(3, { size: 48 }).forEach((s, i) => {
    writeFileSync(join(work, 'pics', `s${i}.png`), encodePng(s.image));
  });
  copyFileSync(join(work, 'pics', 's0.png'), join(work, 'photo.png'));
  writeFileSync(join(work, 'notes.json'), '{"mine": true}\n');
  mkdirSync(noWeights);
  for (const f of ['config.json', 'vl.json'])
    copyFileSync(join(fileURLToPath(shapesModel('dvae')), f), join(noWeights, f));
  await writeShapesFolder(join(work, 'captions'), 4, { size: 32 });
});

describe('search --index', () => {
  test('an existing file that is not an index, or an indexed image, is refused (exit 2) and kept', async () => {
    for (const file of ['photo.png', 'notes.json']) {
      const before = readFileSync(join(work, file));
      const r = await vl('search', 'pics', 'a red circle', '--index', file);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(
        `vl: search: --index ${file} is not an index vl wrote; remove it or pick another name`,
      );
      expect(r.err).not.toMatch(/loading clip|rebuilt/);
      expect(readFileSync(join(work, file)).equals(before)).toBe(true);
    }
    const own = await vl('search', 'pics', 'a red circle', '--index', './pics/s1.png');
    expect(own.code).toBe(2);
    expect(own.err).toMatch(/--index .\/pics\/s1.png is one of the images being indexed/);
  });

  test('an --index in a folder that does not exist is refused before indexing (exit 2)', async () => {
    const r = await vl('search', 'pics', 'a red circle', '--index', 'no/such/pics.index');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/vl: search: --index no\/such\/pics.index: the folder no\/such does not exist/);
  });

  test.skipIf(process.getuid?.() === 0)(
    'an --index in a folder that cannot be written is refused before indexing (exit 2)',
    async () => {
      mkdirSync(join(work, 'locked'));
      chmodSync(join(work, 'locked'), 0o555);
      const r = await vl('search', 'pics', 'a red circle', '--index', 'locked/pics.index');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/vl: search: --index locked\/pics.index: the folder locked is not writable/);
    },
  );

  test('an index that cannot be saved still prints the matches, then fails (exit 1) in one line', async () => {
    // The index is written beside its name first: a folder in that place makes the write fail.
    mkdirSync(join(work, `blocked.index.${process.pid}.tmp`));
    const r = await vl('search', 'pics', 'a red circle', '--index', 'blocked.index');
    expect(r.code, r.err).toBe(1);
    expect(r.out.trim().split('\n')).toHaveLength(3);
    expect(r.err).toMatch(/vl: search: could not save --index blocked.index: EISDIR/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(existsSync(join(work, 'blocked.index'))).toBe(false);
  });
});

describe('reconstruct', () => {
  test('--size is parsed and bounded before the model loads (exit 2)', async () => {
    const abc = await vl('reconstruct', 'pics/s0.png', '-o', 'r.png', '--size', 'abc', '--model', noWeights);
    expect(abc.code, abc.err).toBe(2);
    expect(abc.err).toMatch(/--size must be a positive integer; got "abc"/);
    // Every integer option, seeds and step counts too.
    for (const [option, odd] of [
      ['--seed', '0x10'],
      ['--ground-steps', '1e2'],
      ['--text-steps', ' 3'],
    ]) {
      const r = await vl('train', 'vlm', '--out', 'never', option!, odd!);
      expect([r.code, r.err], `${option} ${odd}`).toEqual([
        2,
        expect.stringContaining(`${option} must be a non-negative integer; got "${odd}"`),
      ]);
    }
    // Number() reads these as 3, 100 and 2; as a count they are typos.
    for (const odd of ['0x3', '1e2', ' 2']) {
      const r = await vl('reconstruct', 'pics/s0.png', '-o', 'r.png', '--size', odd, '--model', noWeights);
      expect([r.code, r.err], odd).toEqual([
        2,
        expect.stringContaining(`--size must be a positive integer; got "${odd}"`),
      ]);
    }
    const huge = await vl(
      'reconstruct',
      'pics/s0.png',
      '-o',
      'r.png',
      '--size',
      '4096',
      '--model',
      noWeights,
    );
    expect(huge.code, huge.err).toBe(2);
    expect(huge.err).toMatch(/--size 4096 is too large: at most 512, 8 times this model's 64 px/);
    // The same folder loads (and fails, exit 1) once the options are right: the checks came first.
    const loads = await vl('reconstruct', 'pics/s0.png', '-o', 'r.png', '--model', noWeights);
    expect(loads.code).toBe(1);
  });

  test('an existing -o is replaced only with --overwrite; a folder gets the folder message', async () => {
    const before = readFileSync(join(work, 'photo.png'));
    const r = await vl('reconstruct', 'pics/s0.png', '-o', 'photo.png');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/-o photo.png exists; --overwrite replaces it/);
    expect(readFileSync(join(work, 'photo.png')).equals(before)).toBe(true);
    const folder = await vl('reconstruct', 'pics/s0.png', '-o', 'pics');
    expect(folder.code).toBe(2);
    expect(folder.err).toMatch(/-o pics is a folder; give a file name such as pics\/reconstruction.png/);
    mkdirSync(join(work, 'again'));
    copyFileSync(join(work, 'photo.png'), join(work, 'again', 'rec.png'));
    const over = await vl('reconstruct', 'pics/s0.png', '-o', 'again/rec.png', '--overwrite');
    expect(over.code, over.err).toBe(0);
    expect(readFileSync(join(work, 'again', 'rec.png')).equals(before)).toBe(false);
    expect((await vl('reconstruct', '--help')).out).toMatch(/--overwrite/);
    // A dangling link passes the checks; the write's failure is one vl line, not a raw Node error.
    symlinkSync(join(work, 'no-such-folder', 'rec.png'), join(work, 'dangling.png'));
    const dangling = await vl('reconstruct', 'pics/s0.png', '-o', 'dangling.png');
    expect(dangling.code).toBe(1);
    expect(dangling.err).toMatch(/\nvl: reconstruct: cannot write -o dangling\.png: ENOENT[^\n]*\n$/);
  }, 60_000);
});

describe('train', () => {
  const shapesClip = fileURLToPath(shapesModel('clip'));

  test('--init decides the default --size; another size, or another vocabulary, is refused (exit 2)', async () => {
    const size = await vl(
      'train',
      'clip',
      '--init',
      shapesClip,
      '--size',
      '32',
      '--out',
      'c1',
      '--steps',
      '1',
    );
    expect(size.code, size.err).toBe(2);
    expect(size.err).toMatch(/--size 32: --init .* takes 64px images .*give --size 64/);
    const vocabulary = await vl('train', 'clip', '--init', shapesClip, '--data', 'captions', '--out', 'c2');
    expect(vocabulary.code, vocabulary.err).toBe(2);
    expect(vocabulary.err).toMatch(
      /--init .*: its vocabulary \(\d+ tokens\) is not the one of --data captions/,
    );
    expect(size.err + vocabulary.err).not.toMatch(/backend:/); // refused before a backend was made
  });

  test('vl train vlm names --clip in its messages and checks it up front (exit 2)', async () => {
    const dvae = await vl('train', 'vlm', '--clip', fileURLToPath(shapesModel('dvae')), '--out', 'v1');
    expect(dvae.code, dvae.err).toBe(2);
    expect(dvae.err).toMatch(/vl: --clip .* is a dvae checkpoint; this command needs a clip one/);
    const nope = await vl('train', 'vlm', '--clip', '/nope', '--out', 'v1');
    expect(nope.code, nope.err).toBe(2);
    expect(nope.err).toMatch(/vl: --clip: no such checkpoint folder: \/nope/);
    expect(dvae.err + nope.err).not.toMatch(/backend:/);
  });

  test('--data is checked up front: a missing folder, a file, or a folder for vl train vlm (exit 2)', async () => {
    const vlm = await vl('train', 'vlm', '--data', 'captions', '--out', 'v2');
    expect(vlm.code, vlm.err).toBe(2);
    expect(vlm.err).toMatch(/train vlm: only --data shapes has questions and answers/);
    const missing = await vl('train', 'clip', '--data', '/nope', '--out', 'c3');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/vl: --data \/nope: no such folder/);
    const file = await vl('train', 'clip', '--data', 'photo.png', '--out', 'c3');
    expect(file.code).toBe(2);
    expect(file.err).toMatch(/vl: --data photo.png is a file/);
    expect(vlm.err + missing.err + file.err).not.toMatch(/backend:|readCaptionFolder|ENOENT/);
  });

  test('`vl` alone prints the help to stderr (bad usage, exit 2); `vl --help` to stdout', async () => {
    const plain = vlIn(work, []);
    const run = (argv: string[]) => plain(...argv);
    const bare = await run([]);
    expect([bare.code, bare.out]).toEqual([2, '']);
    expect(bare.err).toMatch(/vl <command> --help/);
    const asked = await run(['--help']);
    expect([asked.code, asked.err]).toEqual([0, '']);
    expect(asked.out).toBe(bare.err);
  });

  test('withoutCaller strips a caller written `name: ` as well as `name(): `', () => {
    expect(withoutCaller(new Error('loadClip: no such file'))).toBe('no such file');
    expect(withoutCaller(new Error('readCaptionFolder(): empty'))).toBe('empty');
    expect(withoutCaller(new Error('ENOENT: no such file'))).toBe('ENOENT: no such file');
    expect(withoutCaller(new Error('cat.png: not a PNG'))).toBe('cat.png: not a PNG');
  });
});

describe('ask', () => {
  test('a question too long for the context is bad usage (exit 2) that counts the tokens', async () => {
    const r = await vl('ask', 'pics/s0.png', Array.from({ length: 300 }, () => 'red').join(' '));
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(
      /vl: ask: the question is \d+ tokens with the image's 64; the model's context is 256: shorten the question/,
    );
  });

  test('a question that holds the image placeholder is bad usage (exit 2), not a failure of the model', async () => {
    const r = await vl('ask', 'pics/s0.png', 'what is <image>?');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(
      /vl: ask: the question holds "<image>", the model's image placeholder; the image is given as a file: leave it out of the question/,
    );
    expect(r.err).not.toMatch(/ask failed/);
  });

  test('a --temperature generation cannot take is bad usage (exit 2), found before the model loads', async () => {
    for (const t of ['1e39', '1e400', '', 'abc']) {
      const r = await vl('ask', 'pics/s0.png', 'what color is the circle?', '--temperature', t);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(`vl: --temperature must be a number from 0 to 3.4e+38; got "${t}"`);
      expect(r.err).not.toMatch(/loading/);
    }
  });

  test('--seed picks the sampled answer: one seed gives one answer, other seeds others', async () => {
    const answer = async (seed: string) => {
      const r = await vl(
        'ask',
        'pics/s0.png',
        'what color is the circle?',
        '--temperature',
        '5',
        '--seed',
        seed,
        '--max-tokens',
        '3',
      );
      expect(r.code, r.err).toBe(0);
      return r.out;
    };
    const answers = [];
    for (const seed of ['1', '2', '3', '4', '5', '6']) answers.push(await answer(seed));
    expect(new Set(answers).size).toBeGreaterThan(1);
    expect(await answer('3')).toBe(answers[2]);
    const bad = await vl('ask', 'pics/s0.png', 'what color is the circle?', '--seed', '1.5');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch('vl: --seed must be a non-negative integer; got "1.5"');
  });

  test('a checkpoint without a chat template is said to be one, in the words of the command line', async () => {
    const folder = join(work, 'vlm-no-template');
    mkdirSync(folder);
    const shapes = fileURLToPath(shapesModel('vlm'));
    for (const f of readdirSync(shapes)) copyFileSync(join(shapes, f), join(folder, f));
    const config = JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8'));
    delete config.chat_template;
    writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify(config));
    const r = await vl('ask', 'pics/s0.png', 'what color is the circle?', '--model', 'vlm-no-template');
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(
      /vl: ask: this checkpoint has no chat template \(tokenizer_config.json chat_template, or chat_template.jinja\), so it cannot frame a question/,
    );
  });
});

describe('unknown words and image paths', () => {
  test('classify, embed and search say which words the shapes CLIP does not know (a warning)', async () => {
    const classify = await vl('classify', 'pics/s0.png', '--labels', 'a hue circle,a red circle');
    expect(classify.code, classify.err).toBe(0);
    expect(classify.err).toMatch(/vl: classify: this model does not know the word "hue"/);
    const embed = await vl('embed', '--text', 'a teal blob', '--text', 'a red circle');
    expect(embed.code, embed.err).toBe(0);
    expect(embed.err).toMatch(/vl: embed: this model does not know the words "teal", "blob"/);
    const search = await vl('search', 'pics', 'a magenta circle?');
    expect(search.code, search.err).toBe(0);
    expect(search.err).toMatch(/vl: search: this model does not know the word "magenta"/);
    const known = await vl('search', 'pics', 'a red circle');
    expect(known.err).not.toMatch(/does not know/);
    // Words of the vocabulary the merges spell in pieces ("squares": squ, ar, e, s</w>) are known:
    // the model was trained on those pieces.
    const plural = await vl('search', 'pics', 'two blue squares and three triangles');
    expect(plural.err).not.toMatch(/does not know/);
  });

  test('search warns of an image path that is not there, and leaves the query image out of its hits', async () => {
    const missing = await vl('search', 'pics', './missing.png');
    expect(missing.code, missing.err).toBe(0);
    expect(missing.err).toMatch(/vl: search: there is no file .\/missing.png; searching for it as a text/);
    const self = await vl('search', 'pics', 'pics/s1.png', '--json', '--top', '5');
    expect(self.code, self.err).toBe(0);
    const { hits } = JSON.parse(self.out) as { hits: { path: string; score: number }[] };
    expect(hits.map((h) => h.path).sort()).toEqual(['pics/s0.png', 'pics/s2.png']);
  });
});

describe('progress', () => {
  const capture = () => {
    const lines: string[] = [];
    return { lines, io: { stdout: { write: () => true }, stderr: { write: (s: string) => lines.push(s) } } };
  };

  test('work done within a second prints nothing, its closing line included', () => {
    const { lines, io } = capture();
    const bar = new ProgressBar(io, 'loading clip shapes', { bytes: true });
    for (let i = 0; i <= 12; i++) bar.update(i * 1e5, 12e5);
    bar.finish();
    expect(lines).toEqual([]);
  });

  test('after the quiet time it prints as before; quietMs 0 prints from the start', async () => {
    const { lines, io } = capture();
    const bar = new ProgressBar(io, 'slow', { quietMs: 30 });
    bar.update(1, 10);
    await new Promise((done) => setTimeout(done, 50));
    bar.update(2, 10);
    bar.finish();
    expect(lines).toEqual([
      expect.stringMatching(/^slow: 20% 2\/10/),
      expect.stringMatching(/^slow: done in/),
    ]);
    const eager = capture();
    const training = new ProgressBar(eager.io, 'training', { quietMs: 0 });
    training.update(1, 10);
    training.finish();
    expect(eager.lines).toHaveLength(2);
  });
});
