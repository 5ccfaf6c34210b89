// ViT-B/32 image embeddings at batch 32 through WebGPU (Dawn, the `webgpu` package) against
// PyTorch eager fp32 (HF `CLIPVisionModelWithProjection`, random weights) on the same GPU, in one
// command so that the two numbers come from the same machine at the same time. Meant for a GPU
// machine; without python3 + torch the PyTorch side is skipped and says so.
//
//   pnpm bench:webgpu                                  # batch 32, median of 7 after 3 warm-ups
//   pnpm bench:webgpu --batch 2 --runs 1 --warmup 1    # a smoke run on a software Vulkan driver
//
// Both sides time the whole call up to results on the host: our read-back of [B, 512], PyTorch's
// `torch.cuda.synchronize()`. PyTorch runs with TF32 off (cuBLAS and cuDNN), i.e. true fp32.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type Backend,
  randomNormal,
  setMatmulWebGpuConfig,
  type Tensor,
  tidy,
  tuneMatmulShapesWebGpu,
  tuneMatmulWebGpu,
} from '@vl/tensor';
import { fuseQkvProjections, getImageFeatures, initClipParams, storeLinearWeights } from '../src/index.js';
import { benchWebGpu } from '../../tensor/bench/benchWebGpu.js';
import { VIT_B32 } from './vitB32.js';
import { imageTowerFlops } from './flops.js';
import { type BenchCase, median, printTable, timeRuns } from './timing.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '32' },
    runs: { type: 'string', default: '7' },
    warmup: { type: 'string', default: '3' },
    'warmup-ms': { type: 'string', default: '2000' },
    // HF's attention implementation for the PyTorch side: `sdpa` (its default) or `eager`.
    'torch-attn': { type: 'string', default: 'sdpa' },
    'skip-ours': { type: 'boolean', default: false },
    'skip-torch': { type: 'boolean', default: false },
    // Also time the forward under each of AB_CONFIGS, and with a submit every 32 dispatches, in
    // the same process.
    ab: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const batch = Number(args.batch);
const runs = Number(args.runs);
const warmup = Number(args.warmup);
const warmupMs = Number(args['warmup-ms']);
const here = dirname(fileURLToPath(import.meta.url));
const config = VIT_B32;
const { image_size: S, num_channels: C } = config.vision_config;
const gflop = imageTowerFlops(config, batch) / 1e9;
const name = `ViT-B/32 image tower, batch ${batch}`;
const cases: BenchCase[] = [];
const notes: string[] = [];

function add(impl: string, times: number[]): void {
  const medianMs = median(times);
  cases.push({ name, impl, medianMs, gflops: gflop / (medianMs / 1000), gflop, runsMs: times });
  console.log(`  ${impl}: ${medianMs.toFixed(2)} ms (runs: ${times.map((t) => t.toFixed(1)).join(', ')})`);
}

/**
 * Matmul configurations timed beside the default with --ab. At batch 32 the attention output
 * product ([1600, 768] x [768, 768]) has 78 large tiles: it runs on the small tile, at a third of
 * the large products' rate on an H200 (clip-webgpu-ops-h200.txt); these are the candidates.
 */
const AB_CONFIGS: [string, Parameters<typeof setMatmulWebGpuConfig>[1]][] = [
  ['without split-K', { splitK: { minK: 2 ** 30 } }],
  ['split-K from K = 512 (the output product too)', { splitK: { minK: 512 } }],
  ['small tile 128x64', { small: { bm: 128, bn: 64, bk: 16, tm: 8, tn: 4 } }],
  ['threads in 4 x 8 blocks (warpLanes)', { large: { warpLanes: true }, small: { warpLanes: true } }],
];

async function ours(): Promise<void> {
  let backend: Backend;
  try {
    backend = await benchWebGpu();
  } catch (e) {
    const why = `ours: skipped, no WebGPU (${(e as Error).message})`;
    console.log(why);
    notes.push(why);
    return;
  }
  console.log(`ours: ${backend.name}`);
  const params = initClipParams(config, { backend, seed: 1 });
  // What ClipModel runs on WebGPU: each block's q, k and v as one fused product.
  const fused = fuseQkvProjections(params);
  const withFused = new Map([...params, ...fused]);
  const pixels = randomNormal([batch, C, S, S], { backend, seed: 2 }); // normalized [B, 3, 224, 224]
  const forwardWith = (p: ReadonlyMap<string, Tensor>) => async () => {
    const out = tidy(() => getImageFeatures(p, pixels, config)); // [B, 512]
    await out.read();
    out.dispose();
  };
  const forward = forwardWith(withFused);
  add(`ours (${backend.name})`, await timeRuns(forward, { runs, warmup, warmupMs }));
  // The A/B of the fused product in the same process: three q, k and v products per block.
  add(
    `ours, separate q/k/v products (${backend.name})`,
    await timeRuns(forwardWith(params), { runs, warmup, warmupMs }),
  );
  if (args.ab) {
    for (const [what, matmulConfig] of AB_CONFIGS) {
      setMatmulWebGpuConfig(backend, matmulConfig);
      add(`ours, ${what} (${backend.name})`, await timeRuns(forward, { runs, warmup, warmupMs }));
      setMatmulWebGpuConfig(backend, undefined);
    }
    // The tile tuneMatmulWebGpu picks for the tower's largest product (the MLP's first).
    const [tuned] = await tuneMatmulWebGpu(backend, { m: batch * 50, n: 3072, k: 768 });
    const label = tuned ? JSON.stringify(tuned.config) : 'none';
    add(
      `ours, tuned large tile ${label} (${backend.name})`,
      await timeRuns(forward, { runs, warmup, warmupMs }),
    );
    setMatmulWebGpuConfig(backend, undefined);
    // Each of the tower's product shapes tuned on its own: tile and K split (benchmark mode).
    for (const r of await tuneMatmulShapesWebGpu(backend, forward)) {
      const line = `${r.key}: ${r.defaultMs.toFixed(3)} -> ${r.ms.toFixed(3)} ms (${r.tflops.toFixed(1)} TFLOP/s) ${r.choice ? JSON.stringify(r.choice) : 'size rules'}`;
      console.log(`  tuned ${line}`);
      notes.push(`tuneMatmulShapesWebGpu ${line}`);
    }
    add(
      `ours, each product's tile and split tuned (${backend.name})`,
      await timeRuns(forward, { runs, warmup, warmupMs }),
    );
    setMatmulWebGpuConfig(backend, undefined);
  }
  if (args.ab) {
    // Linear weights stored as f16 (loadClip's weightDtype), widened inside the GEMM's loads.
    const half = storeLinearWeights(initClipParams(config, { backend, seed: 1 }), 'f16');
    const halfFused = new Map([...half, ...fuseQkvProjections(half)]);
    add(
      `ours, f16 linear weights (${backend.name})`,
      await timeRuns(forwardWith(halfFused), { runs, warmup, warmupMs }),
    );
    for (const t of new Set(halfFused.values())) t.dispose();
  }
  for (const t of [...params.values(), ...fused.values()]) t.dispose();
  pixels.dispose();
  backend.dispose();
  if (args.ab) {
    // The same forward on a backend that submits every 32 dispatches instead of once per read.
    const every32 = await benchWebGpu({ submitEvery: 32 });
    const p1 = initClipParams(config, { backend: every32, seed: 1 });
    const w1 = new Map([...p1, ...fuseQkvProjections(p1)]);
    const x1 = randomNormal([batch, C, S, S], { backend: every32, seed: 2 }); // [B, 3, 224, 224]
    const forward32 = async () => {
      const out = tidy(() => getImageFeatures(w1, x1, config)); // [B, 512]
      await out.read();
      out.dispose();
    };
    add(
      `ours, a submit every 32 dispatches (${every32.name})`,
      await timeRuns(forward32, { runs, warmup, warmupMs }),
    );
    every32.dispose();
  }
}

const TORCH_SCRIPT = `
import json, statistics, sys, time
import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
batch, runs, warmup, attn = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
device = 'cuda' if torch.cuda.is_available() else 'cpu'
torch.manual_seed(0)
config = CLIPVisionConfig()  # HF defaults are ViT-B/32: 768 wide, 12 layers, patch 32, 224 px, projection 512
try:
    model = CLIPVisionModelWithProjection._from_config(config, attn_implementation=attn)
except Exception:  # older transformers (no attn_implementation argument): set it on the config
    config._attn_implementation = attn
    model = CLIPVisionModelWithProjection(config)
model = model.float().to(device).eval()
attn = model.config._attn_implementation  # what actually runs
x = torch.randn(batch, 3, config.image_size, config.image_size, device=device)
sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
times = []
with torch.inference_mode():
    for i in range(warmup + runs):
        sync()
        t0 = time.perf_counter()
        model(pixel_values=x).image_embeds
        sync()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
name = torch.cuda.get_device_name() if device == 'cuda' else 'cpu'
print(json.dumps({'device': name, 'torch': torch.__version__, 'attn': attn, 'times': times}))
`;

function torch(): void {
  const probe = spawnSync('python3', ['-c', 'import torch, transformers'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    const why = 'PyTorch: skipped (python3 -c "import torch, transformers" failed on this machine)';
    console.log(why);
    notes.push(why);
    return;
  }
  const r = spawnSync(
    'python3',
    ['-c', TORCH_SCRIPT, String(batch), String(runs), String(warmup), args['torch-attn']!],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  if (r.status !== 0) throw new Error(`PyTorch side failed:\n${r.stderr}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    device: string;
    torch: string;
    attn: string;
    times: number[];
  };
  console.log(`PyTorch ${result.torch} on ${result.device}`);
  add(`PyTorch ${result.torch} eager fp32 (${result.attn} attention, ${result.device})`, result.times);
}

console.log(`${name}: median of ${runs} after ${warmup} warm-up runs`);
if (!args['skip-ours']) await ours();
if (!args['skip-torch']) torch();
printTable(cases, (c) => c.impl.startsWith('ours'));

const outFile = args.out ?? join(here, 'results/clip-webgpu.json');
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(
  outFile,
  `${JSON.stringify(
    {
      machine: cases.map((c) => c.impl).join('; ') || 'nothing ran',
      date: new Date().toISOString(),
      runs,
      warmup,
      warmupMs,
      notes,
      cases: cases.map(({ runsMs, ...c }) => ({
        ...c,
        medianMs: Number(c.medianMs.toFixed(3)),
        gflops: c.gflops === null ? null : Number(c.gflops.toFixed(1)),
        runsMs: runsMs?.map((t) => Number(t.toFixed(3))),
      })),
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${outFile}`);
