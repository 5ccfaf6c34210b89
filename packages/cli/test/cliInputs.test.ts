// The `vl` command line given what users really give it: a bad file among good ones, empty or
// too-long text, an output path that would overwrite the input, folders where files go, a checkpoint
// of another family, a model served over HTTP. Each is refused before any work with exit 2, or goes
// on past the one bad input and exits 1, and says which input and why in one line.
import {
  copyFileSync,
  cpSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePng, heldOutShapes, shapesModel } from '@vl/shapes';
import { beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../src/index.js';
import { vlIn } from './vlIn.js';

const work = mkdtempSync(join(tmpdir(), 'vl-cli-inputs-'));

const vl = vlIn(work);

/**
 * Serves `folder` over HTTP on 127.0.0.1 under any first path segment (`<url>/clip/config.json`),
 * counting the requests of each path.
 */
async function serveFolder(
  folder: string,
): Promise<{ url: string; requests: Record<string, number>; close: () => Promise<void> }> {
  const requests: Record<string, number> = {};
  const server = createServer((req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    requests[path] = (requests[path] ?? 0) + 1;
    const file = join(folder, decodeURIComponent(path).replace(/^\/[^/]+\//, ''));
    if (!existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200);
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** One `vl:` line on stderr for the failure, and no stack trace. */
function oneLine(err: string): void {
  expect(err).not.toMatch(/\n\s+at /);
}

beforeAll(() => {
  mkdirSync(join(work, 'pics'));
  heldOutShapes(3, { size: 48 }).forEach((s, i) => {
    writeFileSync(join(work, 'pics', `s${i}.png`), encodePng(s.image));
  });
  writeFileSync(join(work, 'pics', '._s0.png'), 'resource fork, not an image'); // as macOS leaves them
  mkdirSync(join(work, 'pics', 'album.png')); // a folder named like an image
  const png = readFileSync(join(work, 'pics', 's1.png'));
  writeFileSync(join(work, 'cut.png'), png.subarray(0, png.length >> 1));
  writeFileSync(join(work, 'a-file'), 'x');
});

describe('images', () => {
  test('a label too long for the context, in any template, is bad usage (exit 2) named with its template', async () => {
    const long = Array.from({ length: 40 }, () => 'red').join(' ');
    const r = await vl(
      'classify',
      'pics/s0.png',
      '--labels',
      `${long},a circle`,
      '--template',
      'a photo of {}.',
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /vl: the label "red red .*" in the template "a photo of \{\}\." is \d+ tokens long \(start and end included\), more than this model's context of \d+; shorten the label/,
    );
    const template = await vl('classify', 'pics/s0.png', '--labels', 'a,b', '--template', 'no placeholder');
    expect(template.code).toBe(2);
    expect(template.err).not.toMatch(/loading clip/); // refused before the model loads
  });

  test('classify goes on past an unreadable image, then exits 1 naming it', async () => {
    const r = await vl('classify', 'pics/s0.png', 'cut.png', 'pics/s1.png');
    expect(r.code).toBe(1);
    expect(
      r.out
        .trim()
        .split('\n')
        .map((l) => l.split(':')[0]),
    ).toEqual(['pics/s0.png', 'pics/s1.png']);
    expect(r.err).toMatch(/vl: cannot read cut.png: a truncated or corrupt PNG file \(the decoder says: /);
    expect(r.err).toMatch(/vl: classify: 1 image could not be read \(see above\)/);
    oneLine(r.err);
  });

  test('search skips the files of the folder it cannot read, and names paths as given', async () => {
    const r = await vl('search', 'pics', 'a red circle', '--json', '--top', '10');
    expect(r.code, r.err).toBe(0);
    const { hits } = JSON.parse(r.out) as { hits: { path: string }[] };
    expect(hits.map((h) => h.path).sort()).toEqual(['pics/s0.png', 'pics/s1.png', 'pics/s2.png']);
    expect(r.err).toMatch(/vl: search: skipped a file: cannot read pics\/\._s0.png: not a PNG or JPEG file/);
    const empty = await vl('search', 'pics', '  ');
    expect(empty.code).toBe(2);
    expect(empty.err).toMatch(/search: the query is empty/);
  });

  test('search --index keeps the embeddings: unchanged images are reused, changed ones embedded again', async () => {
    const folder = join(work, 'library');
    mkdirSync(folder);
    for (const f of ['s0.png', 's1.png', 's2.png']) copyFileSync(join(work, 'pics', f), join(folder, f));
    const run = () => vl('search', 'library', 'a red circle', '--json', '--top', '3', '--index', 'lib.index');
    const first = await run();
    expect(first.code, first.err).toBe(0);
    expect(first.err).toMatch(/0 of 3 images reused from lib.index, 3 embedded; saved/);
    const again = await run();
    expect(again.err).toMatch(/3 of 3 images reused from lib.index, 0 embedded; saved/);
    expect(JSON.parse(again.out)).toEqual(JSON.parse(first.out));
    // A changed file (another image under the same name) is embedded again.
    copyFileSync(join(work, 'pics', 's0.png'), join(folder, 's2.png'));
    const changed = await run();
    expect(changed.err).toMatch(/2 of 3 images reused from lib.index, 1 embedded; saved/);
    const scores = (JSON.parse(changed.out) as { hits: { path: string; score: number }[] }).hits;
    const byPath = new Map(scores.map((h) => [h.path, h.score]));
    expect(byPath.get('library/s2.png')).toBeCloseTo(byPath.get('library/s0.png')!, 5);
    // Another model's index, or a file that is not one, is rebuilt (and said so).
    const q8 = await vl('search', 'library', 'a red circle', '--index', 'lib.index', '--weights', 'q8');
    expect(q8.err).toMatch(/lib.index was made by another model .*; it will be rebuilt/);
    // A model folder retrained in place (its files' times change) is another model too.
    const copy = join(work, 'my-clip');
    cpSync(fileURLToPath(shapesModel('clip')), copy, { recursive: true });
    const mine = () => vl('search', 'library', 'a red circle', '--index', 'mine.index', '--model', 'my-clip');
    expect((await mine()).err).toMatch(/0 of 3 images reused/);
    expect((await mine()).err).toMatch(/3 of 3 images reused/);
    utimesSync(join(copy, 'config.json'), new Date(), new Date(Date.now() + 5000));
    expect((await mine()).err).toMatch(
      /mine.index was made by another model .*rebuilt[\s\S]*0 of 3 images reused/,
    );
    // A file gone between listing and reading (here: a link to nothing) is skipped, as unreadable ones are.
    symlinkSync(join(work, 'no-such.png'), join(folder, 'gone.png'));
    const dangling = await run();
    expect(dangling.code, dangling.err).toBe(0);
    expect(dangling.err).toMatch(/skipped a file: cannot read library\/gone.png/);
    // A file that is not an index is not vl's to overwrite: refused before any model loads.
    writeFileSync(join(work, 'lib.index'), 'not an index');
    const junk = await run();
    expect(junk.code, junk.err).toBe(2);
    expect(junk.err).toMatch(/--index .*lib.index is not an index vl wrote; remove it or pick another name/);
    expect(readFileSync(join(work, 'lib.index'), 'utf8')).toBe('not an index');
  });

  test('reconstruct refuses to overwrite its input, or to write into a folder or a missing one', async () => {
    const same = await vl('reconstruct', 'pics/s0.png', '-o', './pics/s0.png');
    expect(same.code).toBe(2);
    expect(same.err).toMatch(/-o .\/pics\/s0.png is the input image itself/);
    const folder = await vl('reconstruct', 'pics/s0.png', '-o', 'pics/album.png');
    expect(folder.code).toBe(2);
    expect(folder.err).toMatch(/-o pics\/album.png is a folder/);
    const missing = await vl('reconstruct', 'pics/s0.png', '-o', 'no/such/out.png');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/-o no\/such\/out.png: the folder no\/such does not exist/);
    expect(
      readFileSync(join(work, 'pics', 's0.png')).equals(encodePng(heldOutShapes(3, { size: 48 })[0]!.image)),
    ).toBe(true);
  });
});

describe('text', () => {
  test('labels that are all blank are refused; repeated ones are counted once', async () => {
    for (const labels of ['', ',, ,']) {
      const r = await vl('classify', 'pics/s0.png', '--labels', labels);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--labels holds no label/);
    }
    const twice = await vl('classify', 'pics/s0.png', '--labels', 'a red circle,a red circle', '--json');
    expect(twice.code, twice.err).toBe(0);
    expect((JSON.parse(twice.out) as { labels: unknown[] }).labels).toHaveLength(1);
  });

  test('a text longer than the context is an error that offers --truncate, which cuts it', async () => {
    const long = Array.from({ length: 60 }, () => 'red').join(' ');
    const r = await vl('embed', '--text', long);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /--text is 62 tokens long \(start and end included\), more than this model's context of \d+; shorten it, or add --truncate/,
    );
    const cut = await vl('embed', '--text', long, '--truncate', '--json');
    expect(cut.code, cut.err).toBe(0);
    const search = await vl('search', 'pics', long);
    expect(search.code).toBe(2);
    expect(search.err).toMatch(/the query is 62 tokens long/);
  });

  test('ask says which words the model does not know, and when its answer is empty', async () => {
    const r = await vl('ask', 'pics/s0.png', 'what hue is the circle?', '--max-tokens', '4');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/vl: ask: this model does not know the word "hue"; it reads it as unknown/);
    const british = await vl('ask', 'pics/s0.png', 'what colour is the circle?', '--max-tokens', '4');
    expect(british.err).not.toMatch(/does not know/); // its tokenizer reads colour as color
    // Punctuation is its own token: the unknown word is named without it.
    const quoted = await vl('ask', 'pics/s0.png', 'what "hue" is the circle?', '--max-tokens', '4');
    expect(quoted.err).toMatch(/does not know the word "hue"; it reads it as unknown/);
  });

  test('an error no check foresaw is still one line (its stack only with VL_DEBUG=1)', async () => {
    // Writing the answer fails (a full disk, say): nothing in classify expects that.
    let err = '';
    const code = await runCli(['classify', 'pics/s0.png', '--backend', 'cpu'], {
      stdout: {
        write: () => {
          throw new Error('no space left on device');
        },
      },
      stderr: { write: (s: string) => (err += s) },
      cwd: work,
    });
    expect(code).toBe(1);
    expect(err).toMatch(/vl: classify failed: no space left on device/);
    oneLine(err);
  });

  test('a question too long for the context is bad usage, said before generating', async () => {
    // The shapes VLM's context is 256 positions; its image takes 64 of them.
    const r = await vl('ask', 'pics/s0.png', Array.from({ length: 300 }, () => 'red').join(' '));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /vl: ask: the question is \d+ tokens with the image's 64; the model's context is 256: shorten the question/,
    );
    oneLine(r.err);
  });
});

describe('options and models', () => {
  test('unknown options and option values that look like options are explained', async () => {
    const unknown = await vl('classify', 'pics/s0.png', '--colour', 'red');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/vl: classify: unknown option --colour \(--help lists the options\)/);
    const negative = await vl('classify', 'pics/s0.png', '--top', '-1');
    expect(negative.code).toBe(2);
    expect(negative.err).toMatch(/--top's value starts with "-": write it as --top=<value>/);
    const help = await vl('reconstruct', '--help');
    expect(help.out).toMatch(/--model shapes\|<folder>\|<URL>/);
    const version = await vl('--version');
    expect(version.out).toMatch(/^vl \d+\.\d+\.\d+/);
  });

  test('--weights keeps the linear weights smaller; the held-out shapes keep their top label', async () => {
    const top = async (...extra: string[]) => {
      const r = await vl(
        'classify',
        'pics/s0.png',
        'pics/s1.png',
        'pics/s2.png',
        '--top',
        '1',
        '--json',
        ...extra,
      );
      expect(r.code, r.err).toBe(0);
      return r.out
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { labels: { label: string }[] }).labels[0]!.label);
    };
    expect(await top('--weights', 'q8')).toEqual(await top());
    const bad = await vl('ask', 'pics/s0.png', 'what is it?', '--weights', 'int8');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--weights must be one of f32, f16, bf16, q8, q4; got "int8"/);
  });

  test('an empty --model, or a checkpoint of another family, is refused by name', async () => {
    const empty = await vl('classify', 'pics/s0.png', '--model', '');
    expect(empty.code).toBe(2);
    expect(empty.err).toMatch(/--model is empty/);
    const dvae = fileURLToPath(shapesModel('dvae'));
    const wrong = await vl('classify', 'pics/s0.png', '--model', dvae);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/is a dvae checkpoint; this command needs a clip one/);
  });

  test('a model folder served over HTTP brings its vl.json defaults, as on disk', async () => {
    const folder = fileURLToPath(shapesModel('clip'));
    const server = await serveFolder(folder);
    try {
      const remote = await vl(
        'classify',
        'pics/s0.png',
        '--model',
        `${server.url}/clip-${process.pid}-${Date.now()}`, // a URL no earlier run cached
        '--json',
      );
      expect(remote.code, remote.err).toBe(0);
      const local = await vl('classify', 'pics/s0.png', '--model', folder, '--json');
      expect(JSON.parse(remote.out)).toEqual(JSON.parse(local.out)); // the shapes labels of vl.json
    } finally {
      await server.close();
    }
  });

  test('reconstruct with a model served over HTTP fetches each of its files once', async () => {
    const folder = fileURLToPath(shapesModel('dvae'));
    const server = await serveFolder(folder);
    try {
      // A path of this run's own: the download cache (~/.cache/vl) outlives runs, and a port is
      // reused, so another run's files at the same URL could be in it.
      const at = `/dvae-${process.pid}-${Date.now()}`;
      const remote = await vl(
        'reconstruct',
        'pics/s0.png',
        '-o',
        'remote.png',
        '--model',
        `${server.url}${at}`,
        '--json',
      );
      expect(remote.code, remote.err).toBe(0);
      expect(server.requests).toEqual({
        [`${at}/vl.json`]: 1, // read for the default --size, and handed on to the loader
        [`${at}/config.json`]: 1,
        [`${at}/encoder.safetensors`]: 1,
        [`${at}/decoder.safetensors`]: 1,
      });
      // The default --size is the served vl.json's, as from the folder on disk.
      const local = await vl('reconstruct', 'pics/s0.png', '-o', 'local.png', '--model', folder, '--json');
      expect(local.code, local.err).toBe(0);
      const { output: _r, ...fromUrl } = JSON.parse(remote.out) as { output: string; size: number };
      const { output: _l, ...fromDisk } = JSON.parse(local.out) as { output: string; size: number };
      expect(fromUrl.size).toBe(64);
      expect(fromUrl).toEqual(fromDisk);
    } finally {
      await server.close();
    }
  });
});

describe('train', () => {
  test('bad --out, --init and --stage are refused before any training', async () => {
    const file = await vl('train', 'dvae', '--out', 'a-file', '--steps', '1');
    expect(file.code).toBe(2);
    expect(file.err).toMatch(/--out a-file is a file; give a folder/);
    copyFileSync(join(fileURLToPath(shapesModel('dvae')), 'config.json'), join(work, 'config.json'));
    const other = await vl('train', 'clip', '--out', '.', '--steps', '1');
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/--out . holds a dvae checkpoint; write the clip to another folder/);
    const init = await vl('train', 'clip', '--out', 'c', '--init', 'nowhere');
    expect(init.code).toBe(2);
    expect(init.err).toMatch(/--init nowhere: no such checkpoint folder/);
    const kind = await vl('train', 'clip', '--out', 'c', '--init', fileURLToPath(shapesModel('vlm')));
    expect(kind.code).toBe(2);
    expect(kind.err).toMatch(/is a vlm checkpoint; vl train clip continues a clip one/);
    const blank = await vl('train', 'dvae', '--out', 'd', '--stage', ' ');
    expect(blank.code).toBe(2);
    expect(blank.err).toMatch(/--stage " " names nothing/);
    const twice = await vl('train', 'dvae', '--out', 'd', '--stage', 'steps=2 steps=3');
    expect(twice.code).toBe(2);
    expect(twice.err).toMatch(/--stage "steps=2 steps=3" names steps twice/);
    for (const folder of ['c', 'd']) expect(existsSync(join(work, folder))).toBe(false);
    // An --out that cannot be made (under a file) is found before training, not when the weights
    // are written at its end.
    const under = await vl('train', 'dvae', '--out', 'a-file/model', '--steps', '1');
    expect(under.code).toBe(2);
    expect(under.err).toMatch(/--out a-file\/model: a-file is a file, so the folder cannot be made in it/);
    expect(under.err).not.toMatch(/training/);
    oneLine(under.err);
    // A folder that holds a checkpoint of this kind is not retrained over by accident.
    const again = await vl('train', 'dvae', '--out', '.', '--steps', '1');
    expect(again.code).toBe(2);
    expect(again.err).toMatch(
      /--out . already holds a dvae checkpoint; --overwrite replaces it, --init . continues it/,
    );
  });
});
