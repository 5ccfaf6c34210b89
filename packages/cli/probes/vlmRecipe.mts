// Probe of a `vl train vlm` recipe over many steps: trains in segments (each a trainVlm call that
// continues the last one's checkpoint, with its own warm-up and cosine schedule and new scenes) and
// scores the held-out split after each, so one run shows where a recipe goes. Not a test; used on
// a lent GPU (`probes/vlmRecipes-gpu.sh`) to search recipes that the CPU then trains in one command
// (packages/shapes/models/README.md, session 14).
//
//   cd packages/cli && NAME=D CLIP=/tmp/gclip TEXT=1000 BALANCE=1 SEG=400 MINUTES=5 \
//     node --conditions=source --import tsx probes/vlmRecipe.mts
//
// Env: NAME (the result file RES/NAME.txt, default RES=/tmp/vlm-recipes), BACKEND (default
// webgpu), INIT (a VLM folder to continue) or CLIP (a CLIP folder for a fresh decoder), SEG (steps
// per segment, default 500), SEGMENTS and MINUTES (stop after either), BATCH, LR (default 1e-3),
// BALANCE=1, QPI (questions per image), CAPTION=0, WEIGHTS (kind=weight,...), TEXT and TEXTLR (word
// steps, first segment only), HIDDEN and LAYERS (decoder sizes of a fresh decoder).
import { appendFileSync, mkdirSync } from 'node:fs';
import { createBackend } from '@vl/tensor';
import { evaluateVlmOnShapes } from '../src/train/evaluateVlm.js';
import { trainVlm } from '../src/train/trainVlm.js';

const env = process.env;
const num = (k: string): number | undefined => (env[k] !== undefined ? Number(env[k]) : undefined);
const res = env.RES ?? '/tmp/vlm-recipes';
const name = env.NAME ?? 'recipe';
mkdirSync(res, { recursive: true });
const log = (s: string) => {
  console.log(s);
  appendFileSync(`${res}/${name}.txt`, `${s}\n`);
};

const KEYS = [
  'INIT',
  'CLIP',
  'SEG',
  'BATCH',
  'LR',
  'BALANCE',
  'QPI',
  'CAPTION',
  'WEIGHTS',
  'TEXT',
  'TEXTLR',
  'HIDDEN',
  'LAYERS',
];
const backend = await createBackend((env.BACKEND ?? 'webgpu') as 'webgpu' | 'cpu');
log(
  `${name}: ${KEYS.filter((k) => env[k] !== undefined)
    .map((k) => `${k}=${env[k]}`)
    .join(' ')}`,
);
const weights = env.WEIGHTS
  ? Object.fromEntries(env.WEIGHTS.split(',').map((p) => [p.split('=')[0]!, Number(p.split('=')[1])]))
  : undefined;
const seg = num('SEG') ?? 500;
const t0 = performance.now();
let init = env.INIT;
for (
  let i = 0;
  i < (num('SEGMENTS') ?? 100) && (performance.now() - t0) / 60000 < (num('MINUTES') ?? 1e9);
  i++
) {
  const out = `/tmp/vlm-recipe-${name}-${i}`;
  let last = 0;
  const start = performance.now();
  const model = await trainVlm({
    clip: env.CLIP ?? '../shapes/models/clip',
    ...(init ? { init } : {}),
    out,
    steps: seg,
    batchSize: num('BATCH') ?? 32,
    lr: num('LR') ?? 1e-3,
    seed: 100 + i,
    imageSize: 64,
    backend,
    io: { stdout: process.stdout, stderr: process.stderr },
    balanceAnswers: env.BALANCE === '1',
    ...(num('QPI') ? { questionsPerImage: num('QPI')! } : {}),
    ...(env.CAPTION === '0' ? { captionTurn: false } : {}),
    ...(weights ? { kindWeights: weights } : {}),
    ...(i === 0 && num('TEXT') ? { textSteps: num('TEXT')!, textLr: num('TEXTLR') ?? 1e-3 } : {}),
    ...(num('HIDDEN') ? { sizes: { hidden: num('HIDDEN')!, layers: num('LAYERS') ?? 3 } } : {}),
    onStep: (_step, loss) => {
      last = loss;
    },
  });
  const msPerStep = (performance.now() - start) / seg;
  const q = await evaluateVlmOnShapes(model, { size: 64 });
  const kinds = Object.entries(q.byKind)
    .map(([k, v]) => `${k} ${v.right}/${v.total}`)
    .join(', ');
  const minutes = (performance.now() - t0) / 60000;
  log(
    `${name} seg ${i} (${(i + 1) * seg} steps, ${msPerStep.toFixed(0)} ms/step, loss ${last.toFixed(3)}): exact ${(100 * q.exactMatch).toFixed(1)}% (${kinds}) at ${minutes.toFixed(1)} min`,
  );
  model.dispose();
  init = out;
}
backend.dispose();
