#!/usr/bin/env node
// `npm run demo`: every model family at work on held-out images of the shapes world, with the models
// the project trained itself and ships in @vl/shapes (no network, no downloads). Renders a few
// images, classifies them with CLIP, answers questions with the VLM, reconstructs one through the
// dVAE, and writes the images and an HTML report under out/demo/.

import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const load = (pkg) => import(pathToFileURL(join(root, 'packages', pkg, 'dist', 'index.node.js')).href);
const { createBackend, tensor } = await load('tensor');
const { loadClip } = await load('clip');
const { loadDvae } = await load('dvae');
const { loadVlm } = await load('vlm');
const shapes = await load('shapes');
const { heldOutShapes, shapeLabels, shapesModel, encodePng, createRandom, pickQuestion } = shapes;

const out = join(root, 'out', 'demo');
await mkdir(out, { recursive: true });
const backend = await createBackend('auto');
console.log(
  `backend: ${backend.name}` +
    (backend.kind === 'webgpu'
      ? " (a GPU's WebGPU adapter was found)"
      : " (no GPU's WebGPU adapter, only a software one or none, which the CPU outruns: running on the CPU)"),
);

const modelFolder = (kind) => fileURLToPath(shapesModel(kind));
const shipped = (kind) => existsSync(join(modelFolder(kind), 'config.json'));
/**
 * What `vl train` recorded for a shipped model (options, time, held-out quality); for a model trained
 * in stages (`--init`), the last stage's record.
 */
const trainingRecord = async (kind) => {
  const record = JSON.parse(await readFile(join(modelFolder(kind), 'training.json'), 'utf8'));
  return record.stages ? record.stages.at(-1) : record;
};
const esc = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

// 1. Held-out images (never seen in training), rendered by the seeded generator.
const samples = heldOutShapes(6);
const rows = [];
for (const [i, s] of samples.entries()) {
  const file = `image-${i}.png`;
  await writeFile(join(out, file), encodePng(s.image));
  rows.push({ file, caption: s.canonicalCaption, sample: s });
}
console.log(
  `\nrendered ${samples.length} held-out shapes-world images (${samples[0].image.width}x${samples[0].image.height})`,
);

// 2. CLIP: zero-shot over the 48 color+shape labels, and caption retrieval among the six captions.
let clipNote = 'not shipped yet';
if (shipped('clip')) {
  const clip = await loadClip(modelFolder('clip'), { backend });
  const templates = ['{}', 'a picture of {}'];
  const captions = rows.map((r) => r.caption);
  const captionEmbeddings = await clip.embedTexts(captions);
  const imageEmbeddings = await clip.embedImages(rows.map((r) => r.sample.image));
  console.log('\nCLIP (zero-shot over 48 labels; caption retrieval among these six captions):');
  for (const [i, r] of rows.entries()) {
    r.labels = (await clip.zeroShot(r.sample.image, shapeLabels(), { templates })).slice(0, 3);
    const sims = captionEmbeddings.map((c) => c.reduce((a, v, j) => a + v * imageEmbeddings[i][j], 0));
    r.retrieved = captions[sims.indexOf(Math.max(...sims))];
    console.log(
      `  ${r.file}: "${r.caption}"\n    labels: ${r.labels.map((l) => `${l.label} ${(100 * l.score).toFixed(0)}%`).join(', ')}\n` +
        `    best caption: "${r.retrieved}" ${r.retrieved === r.caption ? '(right)' : '(wrong)'}`,
    );
  }
  clipNote = 'shapes CLIP';
  const record = await trainingRecord('clip');
  if (record.heldOut) {
    clipNote += `, held-out zero-shot ${(100 * record.heldOut.zeroShot).toFixed(0)}%`;
    console.log(
      `  (held-out zero-shot ${(100 * record.heldOut.zeroShot).toFixed(1)}% (gate 95%), ` +
        `caption R@1 ${(100 * record.heldOut.retrievalR1).toFixed(0)}% (gate 90%); see packages/shapes/models/README.md)`,
    );
  }
  clip.dispose();
} else
  console.log(
    '\nCLIP: the shapes model is not shipped yet (vl train clip --data shapes --out packages/shapes/models/clip)',
  );

/**
 * Two questions of different kinds about a sample, drawn as the held-out evaluation draws them
 * (sceneQuestions lists the circle questions first, which most images answer with "zero" / "no").
 */
const twoQuestions = (sample, i) => {
  const random = createRandom(7000 + i);
  const picked = [];
  let pool = sample.questions;
  while (picked.length < 2 && pool.length > 0) {
    const q = pickQuestion(pool, random);
    picked.push(q);
    pool = pool.filter((other) => other.kind !== q.kind);
  }
  return picked;
};

// 3. VLM: two questions per image, answered token by token.
if (shipped('vlm')) {
  const vlm = await loadVlm(modelFolder('vlm'), { backend });
  console.log('\nVLM (questions about each image):');
  for (const [i, r] of rows.entries()) {
    r.qa = [];
    for (const { question, answer } of twoQuestions(r.sample, i)) {
      let got = '';
      const messages = [
        {
          role: 'user',
          content: [
            { type: 'image', image: r.sample.image },
            { type: 'text', text: question },
          ],
        },
      ];
      for await (const { text } of vlm.generate(messages, { maxNewTokens: 8 })) got += text;
      got = got.trim();
      r.qa.push({ question, answer, got });
      console.log(
        `  ${r.file}: ${question} -> ${got} ${got === answer ? '(right)' : `(expected ${answer})`}`,
      );
    }
  }
  const vlmRecord = await trainingRecord('vlm');
  if (vlmRecord.heldOut) {
    const met = vlmRecord.heldOut.exactMatch >= 0.9 ? 'meets' : 'is below';
    console.log(
      `  (held-out exact match ${(100 * vlmRecord.heldOut.exactMatch).toFixed(1)}% of ${vlmRecord.heldOut.n} answers, ${met} the 90% gate; see packages/shapes/models/README.md)`,
    );
  }
  vlm.dispose();
} else
  console.log(
    '\nVLM: the shapes model is not shipped yet (vl train vlm --data shapes --out packages/shapes/models/vlm)',
  );

// 4. dVAE: the first image to a grid of codebook tokens and back.
let recon;
if (shipped('dvae')) {
  const dvae = await loadDvae(modelFolder('dvae'), { backend });
  const { image } = rows[0].sample;
  const { width: w, height: h, data } = image;
  const px = new Float32Array(3 * w * h);
  for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) px[c * w * h + p] = data[p * 4 + c] / 255;
  const x = tensor(px, [1, 3, h, w], { backend });
  const tokens = dvae.encode(x);
  const y = await dvae.decode(tokens);
  const back = await y.read();
  const rgba = new Uint8ClampedArray(4 * w * h);
  let se = 0;
  for (let p = 0; p < w * h; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round(Math.min(1, Math.max(0, back[c * w * h + p])) * 255);
      rgba[p * 4 + c] = v;
      se += (v - data[p * 4 + c]) ** 2;
    }
    rgba[p * 4 + 3] = 255;
  }
  const psnr = 10 * Math.log10((255 * 255) / (se / (3 * w * h)));
  recon = { file: 'reconstruction-0.png', grid: tokens.shape.slice(1).join('x'), psnr };
  await writeFile(join(out, recon.file), encodePng({ data: rgba, width: w, height: h }));
  console.log(`\ndVAE: image-0.png -> ${recon.grid} tokens -> ${recon.file}, PSNR ${psnr.toFixed(1)} dB`);
  const dvaeRecord = await trainingRecord('dvae');
  if (dvaeRecord.heldOut) {
    const met = dvaeRecord.heldOut.psnr >= 28 ? 'meets' : 'is below';
    recon.note = `held-out PSNR ${dvaeRecord.heldOut.psnr.toFixed(1)} dB over ${dvaeRecord.heldOut.n} images, ${met} the 28 dB gate`;
    console.log(`  (${recon.note}; see packages/shapes/models/README.md)`);
  }
  for (const t of [x, tokens, y]) t.dispose();
  dvae.dispose();
} else
  console.log(
    '\ndVAE: the shapes model is not shipped yet (vl train dvae --data shapes --out packages/shapes/models/dvae)',
  );

// 5. The report.
const cell = (r) => {
  const labels = r.labels
    ? `<ol>${r.labels.map((l) => `<li>${esc(l.label)} <small>${(100 * l.score).toFixed(0)}%</small></li>`).join('')}</ol>`
    : '';
  const qa = r.qa
    ? `<ul>${r.qa.map((q) => `<li>${esc(q.question)} <b class="${q.got === q.answer ? 'ok' : 'bad'}">${esc(q.got)}</b>${q.got === q.answer ? '' : ` <small>(expected ${esc(q.answer)})</small>`}</li>`).join('')}</ul>`
    : '';
  return `<tr><td><img src="${r.file}" width="128" height="128"></td><td>${esc(r.caption)}${r.retrieved ? `<br><small>retrieved: ${esc(r.retrieved)}</small>` : ''}</td><td>${labels}</td><td>${qa}</td></tr>`;
};
const html = `<!doctype html><meta charset="utf-8"><title>vl demo</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:70em}img{image-rendering:pixelated;border:1px solid #ccc}td{vertical-align:top;padding:.4em 1em}.ok{color:#080}.bad{color:#b00}</style>
<h1>vl demo: the shapes world</h1>
<p>Backend: <b>${esc(backend.name)}</b>. Held-out images of the shapes world, with the models vl trained itself (${esc(clipNote)}).</p>
<table><tr><th>image</th><th>caption</th><th>CLIP zero-shot (48 labels)</th><th>VLM answers</th></tr>${rows.map(cell).join('\n')}</table>
${recon ? `<h2>dVAE reconstruction</h2><p><img src="${rows[0].file}" width="192"> &rarr; ${recon.grid} tokens &rarr; <img src="${recon.file}" width="192"> PSNR ${recon.psnr.toFixed(1)} dB${recon.note ? ` <small>(${esc(recon.note)})</small>` : ''}</p>` : ''}
`;
await writeFile(join(out, 'index.html'), html);
backend.dispose();
console.log(
  `\nwrote ${rows.length} images${recon ? ', a reconstruction' : ''} and the report: ${relative(process.cwd(), join(out, 'index.html')) || join(out, 'index.html')}`,
);
console.log(
  'try the command line on them: npx vl classify out/demo/image-0.png; npx vl search out/demo "two white circles"',
);
