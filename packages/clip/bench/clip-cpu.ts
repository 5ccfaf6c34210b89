// CLIP ViT-B/32 on the CPU, batch 1: our CPU backend against onnxruntime-node (native) and
// onnxruntime-web (WASM, what transformers.js uses on CPU in browsers) running the real HF graphs,
// in one run, timed round-robin, so that every number is a ratio measured side by side. Each
// implementation runs in a process of its own (bench/isolated.ts says why), as it would in an app.
//
//   pnpm bench                                 # both towers and the prompts, every implementation, median of 7
//   pnpm bench --tower image --impl ours       # a subset
//   pnpm bench --runs 3 --warmup-ms 0          # quicker, noisier
//   pnpm bench --shared                        # every implementation in this one process (e.g. under node --cpu-prof)
//
// Cases: `image` and `text` run one tower on one input (the text a full 77 tokens); `prompts`
// embeds 16 ImageNet prompts of one label as an app would: ours through ClipModel.embedTexts
// (tokenizing, and running only up to the longest prompt's end token), the peers on the same ids
// padded to the longest prompt (what transformers.js does with `padding: true`).
//
// impl names: ours (one fused qkv product per block, as ClipModel runs), ours-separate (the three
// q, k, v products; not a default), ort-node-2t, ort-node-1t, ort-web-2t (comma-separated).
//
// With `--shared`, ours pays more than the peers for the company: with two or more peer sessions
// loaded, V8 runs a full mark-compact about once per forward of ours, where alone it runs one per
// ~10 forwards. On a 2-core Zen 5 machine the text tower took 68-75 ms with `--impl ours` or one
// peer and 89-113 ms with all loaded (onnxruntime-web: 95 ms alone, 101-107 loaded).
//
// Weights are random (timing does not depend on their values); the peers get theirs from
// test/fixtures/vit-b32-onnx/make-weights.mjs, cached in the OS temp folder between runs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Backend, type Tensor, createBackend, randomNormal, tensor, tidy } from '@vl/tensor';
import type * as OrtNode from 'onnxruntime-node';
import type * as OrtWeb from 'onnxruntime-web';
import {
  ClipModel,
  ClipTokenizer,
  fillTemplate,
  fuseQkvProjections,
  getImageFeatures,
  getTextFeatures,
  imagenetTemplates,
  initClipParams,
} from '../src/index.js';
import { VIT_B32 } from './vitB32.js';
import { imageTowerFlops, textTowerFlops } from './flops.js';
import { serveRuns, skipCase, timeIsolated } from './isolated.js';
import { type BenchCase, interleaved, median, printTable, warmUp } from './timing.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    warmup: { type: 'string', default: '2' },
    'warmup-ms': { type: 'string', default: '4000' },
    tower: { type: 'string', default: 'all' }, // image | text | prompts, comma-separated, or all
    impl: { type: 'string', default: 'ours,ort-node-2t,ort-node-1t,ort-web-2t' },
    out: { type: 'string' },
    // Every implementation in this one process (the default: each in a process of its own).
    shared: { type: 'boolean', default: false },
    // Internal: a child of the default mode, serving timed runs of one implementation over IPC.
    serve: { type: 'boolean', default: false },
  },
});
const runs = Number(args.runs);
const warmup = Number(args.warmup);
const warmupMs = Number(args['warmup-ms']);
const towers = args.tower === 'all' ? ['image', 'text', 'prompts'] : args.tower!.split(',');
const impls = new Set(args.impl!.split(','));
const loadBefore = loadavg()[0]!;
const cases: BenchCase[] = [];
const isOurs = (c: BenchCase) => c.impl.startsWith('ours');

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '../test/fixtures/vit-b32-onnx');
const config = VIT_B32;
const T = config.text_config.max_position_embeddings;
const { image_size: S, num_channels: C } = config.vision_config;
const flops: Record<string, number> = {
  image: imageTowerFlops(config, 1),
  text: textTowerFlops(config, 1, T),
};

/**
 * onnxruntime's thread pools spin-wait for more work after a run by default. Interleaved with the
 * other implementations on 2 cores, the spinning threads took a core from whichever ran next: ours
 * measured 250 ms beside onnxruntime-node with spinning and 206 ms without (its own runs: 85 and
 * 58 ms). Both peers run without it.
 */
const NO_SPINNING = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };

/** The peer graph with random weights, written once per machine. */
function peerModel(tower: 'vision_model' | 'text_model'): { model: string; weights: string } {
  const dir = join(tmpdir(), 'vl-clip-bench-peer');
  const manifest = JSON.parse(readFileSync(join(fixtures, `${tower}.manifest.json`), 'utf8')) as {
    weights_file: string;
    initializers: { offset: number; length: number }[];
  };
  const size = Math.max(...manifest.initializers.map((t) => t.offset + t.length));
  const weights = join(dir, manifest.weights_file);
  if (!existsSync(weights) || statSync(weights).size !== size || !existsSync(join(dir, `${tower}.onnx`))) {
    mkdirSync(dir, { recursive: true });
    execFileSync(process.execPath, [join(fixtures, 'make-weights.mjs'), tower, '--out', dir], {
      stdio: 'inherit',
    });
  }
  return { model: join(dir, `${tower}.onnx`), weights };
}

async function loadOrtWeb(): Promise<typeof OrtWeb> {
  const ort = await import('onnxruntime-web');
  // In Node the package finds its .wasm next to its own entry only when told where that is.
  const entry = fileURLToPath(import.meta.resolve('onnxruntime-web'));
  ort.env.wasm.wasmPaths = `${dirname(entry)}/`;
  // Read once, when the runtime starts: every onnxruntime-web session here has 2 threads.
  ort.env.wasm.numThreads = 2;
  ort.env.logLevel = 'error';
  return ort;
}

if (!args.shared && !args.serve) {
  // The default: each implementation in a process of its own (see isolated.ts), timed from here.
  for (const tower of towers) {
    const childArgs = (impl: string) => [
      '--serve',
      ...['--tower', tower, '--impl', impl, '--warmup', String(warmup), '--warmup-ms', String(warmupMs)],
    ];
    const timed = await timeIsolated([...impls], childArgs, runs);
    console.log(`${timed[0]?.name ?? tower}:`);
    for (const { name, impl, gflop, runsMs } of timed) recordCase(name, impl, gflop, runsMs);
  }
  printTable(cases, isOurs);
  const ours = cases.find(isOurs)?.impl ?? 'not run';
  writeResults(ours);
  process.exit(0);
}

const backend: Backend = await createBackend('cpu');
if (!args.serve)
  console.log(
    `ours: ${backend.name}; ${cpus().length} logical CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`,
  );
const params = initClipParams(config, { backend, seed: 1 });
const fused = new Map([...params, ...fuseQkvProjections(params)]);

// The same inputs for every implementation.
const pixels = randomNormal([1, C, S, S], { backend, seed: 2 }); // normalized [1, 3, 224, 224]
const pixelData = (await pixels.read()) as Float32Array;
const ids = new Int32Array(T);
for (let t = 0; t < T; t++) ids[t] = t === 0 ? 49406 : t === T - 1 ? 49407 : (t * 7919) % 49405;
const idsTensor = tensor(ids, [1, T], { backend }); // i32 [1, 77]
const mask = tensor(new Int32Array(T).fill(1), [1, T], { backend }); // i32 [1, 77]
const ids64 = BigInt64Array.from(ids, (v) => BigInt(v));

// The prompts case: 16 templates of one label, the peers' ids padded to the longest.
const tokenizer = await ClipTokenizer.load();
const prompts = imagenetTemplates.slice(0, 16).map((t) => fillTemplate(t, 'golden retriever'));
const promptIds = prompts.map((p) => tokenizer.encode(p));
const longest = Math.max(...promptIds.map((p) => p.length));
const promptIds64 = new BigInt64Array(prompts.length * longest); // padded with 0, as openai/CLIP pads
promptIds.forEach((p, i) => {
  promptIds64.set(p.map(BigInt), i * longest);
});
const model = towers.includes('prompts') ? new ClipModel({ config, params, tokenizer, backend }) : undefined;
flops.prompts = textTowerFlops(config, prompts.length, longest);

async function ours(run: () => Tensor): Promise<void> {
  const out = tidy(run);
  await out.read();
  out.dispose();
}

const ortNode =
  impls.has('ort-node-2t') || impls.has('ort-node-1t') ? await import('onnxruntime-node') : undefined;
const ortWeb = impls.has('ort-web-2t') ? await loadOrtWeb() : undefined;

interface Runner {
  impl: string;
  run: () => Promise<unknown>;
  release?: () => Promise<void>;
}

for (const tower of towers) {
  const graph = tower === 'image' ? 'vision_model' : 'text_model';
  const name = `ViT-B/32 ${
    tower === 'image'
      ? 'image tower, batch 1'
      : tower === 'text'
        ? `text tower, ${T} tokens`
        : `${prompts.length} prompts up to ${longest} tokens, embedded`
  }`;
  const gflop = flops[tower]! / 1e9;
  const runners: Runner[] = [];

  // ours: what ClipModel runs (q, k, v as one fused product); ours-separate: the three products.
  for (const [impl, p, label] of [
    ['ours', fused, `ours (${backend.name})`],
    ['ours-separate', params, `ours, separate q/k/v products (${backend.name})`],
  ] as const) {
    if (!impls.has(impl)) continue;
    if (tower === 'prompts') {
      if (impl === 'ours') runners.push({ impl: label, run: () => model!.embedTexts(prompts) });
      continue;
    }
    const run =
      tower === 'image'
        ? () => getImageFeatures(p, pixels, config) // [1, 512]
        : () => getTextFeatures(p, idsTensor, mask, config); // [1, 512]
    runners.push({ impl: label, run: () => ours(run) });
  }

  // Each package has its own Tensor class; a session only accepts its own.
  const feeds = (ort: typeof OrtNode | typeof OrtWeb): Record<string, unknown> =>
    tower === 'image'
      ? { pixel_values: new ort.Tensor('float32', pixelData, [1, C, S, S]) }
      : tower === 'text'
        ? { input_ids: new ort.Tensor('int64', ids64, [1, T]) }
        : { input_ids: new ort.Tensor('int64', promptIds64, [prompts.length, longest]) };
  const peer = peerModel(graph);
  for (const threads of [2, 1]) {
    if (!ortNode || !impls.has(`ort-node-${threads}t`)) continue;
    const session = await ortNode.InferenceSession.create(peer.model, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      extra: NO_SPINNING,
    });
    const input = feeds(ortNode) as OrtNode.InferenceSession.FeedsType;
    runners.push({
      impl: `onnxruntime-node, ${threads} thread${threads > 1 ? 's' : ''}`,
      run: () => session.run(input),
      release: () => session.release(),
    });
  }
  if (ortWeb) {
    const session = await ortWeb.InferenceSession.create(readFileSync(peer.model), {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
      extra: NO_SPINNING,
      externalData: [{ path: `${graph}.weights`, data: readFileSync(peer.weights) }],
    });
    const input = feeds(ortWeb) as OrtWeb.InferenceSession.FeedsType;
    runners.push({
      impl: 'onnxruntime-web (wasm), 2 threads',
      run: () => session.run(input),
      release: () => session.release(),
    });
  }

  if (args.serve) {
    // A child of the default mode: one implementation, timed by the parent.
    if (runners.length === 0) skipCase();
    for (const r of runners) {
      await serveRuns(r.run, { name, impl: r.impl, gflop }, { warmup, warmupMs });
      await r.release?.();
    }
    continue;
  }
  console.log(`${name}:`);
  for (const r of runners) {
    const n = await warmUp(r.run, { warmup, warmupMs });
    console.log(`  ${r.impl}: warmed up in ${n} runs`);
  }
  // Round-robin: a neighbour's burst of work on this shared machine then slows every
  // implementation alike instead of one of them.
  const times = await interleaved(
    runners.map((r) => r.run),
    runs,
  );
  for (const [i, r] of runners.entries()) recordCase(name, r.impl, gflop, times[i]!);
  for (const r of runners) await r.release?.();
}

if (!args.serve) {
  printTable(cases, isOurs);
  writeResults(`ours: ${backend.name}`);
}

model?.dispose();
for (const t of params.values()) t.dispose();
backend.dispose();
// onnxruntime-web's worker threads keep Node alive after its sessions are released.
process.exit(0);

/** Adds one implementation's timed runs of a case to `cases`, and prints its median. */
function recordCase(name: string, impl: string, gflop: number, runsMs: number[]): void {
  const medianMs = median(runsMs);
  cases.push({ name, impl, medianMs, gflops: gflop / (medianMs / 1000), gflop, runsMs });
  console.log(`  ${impl}: ${medianMs.toFixed(1)} ms (runs: ${runsMs.map((t) => t.toFixed(0)).join(', ')})`);
}

/** Writes `cases` to the results file (`--out`, or results/clip-cpu.json), the machine line ending in `which` (ours). */
function writeResults(which: string): void {
  const machine = `${cpus().length}x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${which}`;
  const outFile = args.out ?? join(here, 'results/clip-cpu.json');
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        machine,
        processes: args.shared ? 'all implementations in one process' : 'one process per implementation',
        date: new Date().toISOString(),
        // Other work on a shared machine slows everything: a high load average marks a noisy run.
        loadAverage1m: { before: loadBefore, after: loadavg()[0]! },
        runs,
        warmup,
        warmupMs,
        note: "medianMs: median of `runs` timed runs, implementations interleaved round-robin (each in a process of its own, with 20 ms idle before each run, unless `processes` says one process), after at least `warmup` runs and `warmupMs` of warm-up each (then until 3 runs agree within 15%); gflops: achieved GFLOP/s (2 FLOPs per multiply-add, counted from the config); gflop: work per run (for the prompts, at the peers' padded length)",
        cases: cases.map(({ runsMs, ...c }) => ({
          ...c,
          medianMs: Number(c.medianMs.toFixed(2)),
          gflops: Number(c.gflops?.toFixed(2)),
          runsMs: runsMs?.map((t) => Number(t.toFixed(2))),
        })),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${outFile}`);
}
