// Full-size DALL-E dVAE encode (256x256 image -> 32x32 tokens) and decode (32x32 tokens -> 256x256
// image) with the official default config and random weights: ours on the CPU backend and through
// WebGPU (Dawn), and the same network written directly in tfjs (NHWC) as the peers, in one
// process: tfjs-backend-wasm beside our CPU backend, tfjs-backend-webgpu (`--tfjs-webgpu`) beside
// our WebGPU backend. On a machine with python3 + torch, the same network in PyTorch eager fp32
// (NCHW, TF32 off, built from the same parameter shapes) is a second GPU peer at the WebGPU batch.
// Prints a table (median ms, conv2d GFLOP/s, ratio to ours) and writes bench/results/dvae.json.
//
//   pnpm --filter @vl/dvae bench                        # batch 1, 3 timed runs after 1 warm-up
//   pnpm --filter @vl/dvae bench --skip-cpu --skip-tfjs --tfjs-webgpu --webgpu-batch 16   # a GPU
//
// Options: --batch N (CPU and tfjs-wasm), --webgpu-batch N, --runs N, --warmup N, --skip-cpu,
// --skip-webgpu, --skip-tfjs, --skip-torch, --tfjs-webgpu, --n-hid N (a narrower network for smoke
// runs), --out FILE. Every timing ends with the result read back to the host (PyTorch: `.cpu()`).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { type Backend, type Tensor, createBackend, randomUniform, tensor } from '@vl/tensor';
import { benchWebGpu } from '../../tensor/bench/benchWebGpu.js';
import {
  type DvaeConfig,
  createDvaeModel,
  decoderShapes,
  defaultDecoderConfig,
  defaultEncoderConfig,
  encoderShapes,
  initDvaeParams,
  LOGIT_LAPLACE_EPS,
} from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '1' },
    'webgpu-batch': { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    'skip-cpu': { type: 'boolean', default: false },
    'skip-webgpu': { type: 'boolean', default: false },
    'skip-tfjs': { type: 'boolean', default: false },
    'skip-torch': { type: 'boolean', default: false },
    // The same network through tfjs-backend-webgpu on the same GPU, at the WebGPU batch.
    'tfjs-webgpu': { type: 'boolean', default: false },
    // A narrower network (the official one is 256) for smoke runs on software adapters.
    'n-hid': { type: 'string', default: String(defaultEncoderConfig.n_hid) },
    out: { type: 'string' },
  },
});
const batch = Number(args.batch);
const gpuBatch = Number(args['webgpu-batch']);
const runs = Number(args.runs);
const warmup = Number(args.warmup);
const here = dirname(fileURLToPath(import.meta.url));
const nHid = Number(args['n-hid']);
const config: DvaeConfig = {
  encoder: { ...defaultEncoderConfig, n_hid: nHid },
  decoder: { ...defaultDecoderConfig, n_hid: nHid },
  logit_laplace_eps: LOGIT_LAPLACE_EPS,
};
const S = 256;
const grid = S / 2 ** (config.encoder.group_count - 1); // 32
const V = config.encoder.vocab_size;

// --- work: 2 FLOPs per multiply-add of every conv, at the resolution it runs at ---------------

function convFlops(shapes: Map<string, number[]>, sideOf: (name: string) => number): number {
  let total = 0;
  for (const [name, s] of shapes) {
    if (!name.endsWith('.w')) continue;
    const [o, c, kh, kw] = s as [number, number, number, number];
    total += 2 * o * c * kh * kw * sideOf(name) ** 2;
  }
  return total;
}
const groupOf = (name: string) => Number(/group_(\d+)/.exec(name)?.[1] ?? 0);
const encodeFlops = convFlops(encoderShapes(config.encoder), (name) => {
  if (name.startsWith('blocks.input')) return S;
  if (name.startsWith('blocks.output')) return grid;
  return S / 2 ** (groupOf(name) - 1);
});
const decodeFlops = convFlops(decoderShapes(config.decoder), (name) => {
  if (name.startsWith('blocks.input')) return grid;
  if (name.startsWith('blocks.output')) return S;
  return grid * 2 ** (groupOf(name) - 1);
});

// --- timing -------------------------------------------------------------------------------------

interface Case {
  name: string;
  impl: string;
  batch: number;
  medianMs: number;
  msPerImage: number;
  gflops: number;
  runsMs: number[];
}
const cases: Case[] = [];
const notes: string[] = [];

const outFile = args.out ?? join(here, 'results/dvae.json');

/** Writes the results so far (after every case, so an interrupted run keeps what it measured). */
function writeResults(): void {
  const cpus = os.cpus();
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        machine: `${cpus[0]?.model ?? 'cpu'} x${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}, load ${os.loadavg()[0]!.toFixed(1)}`,
        date: new Date().toISOString(),
        config: `${nHid === defaultEncoderConfig.n_hid ? 'official (dall_e defaults)' : `n_hid ${nHid} (official: 256)`}, random weights, 256x256 <-> 32x32`,
        gflopPerImage: { encode: encodeFlops / 1e9, decode: decodeFlops / 1e9 },
        runs,
        warmup,
        notes,
        cases: cases.map((c) => ({
          ...c,
          medianMs: Number(c.medianMs.toFixed(1)),
          msPerImage: Number(c.msPerImage.toFixed(1)),
          gflops: Number(c.gflops.toFixed(2)),
          runsMs: c.runsMs.map((t) => Number(t.toFixed(1))),
        })),
      },
      null,
      2,
    )}\n`,
  );
}

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Adds a case from its timed runs; returns their median. */
function record(name: 'encode' | 'decode', impl: string, n: number, times: number[]): number {
  const medianMs = median(times);
  const flops = (name === 'encode' ? encodeFlops : decodeFlops) * n;
  cases.push({
    name,
    impl,
    batch: n,
    medianMs,
    msPerImage: medianMs / n,
    gflops: flops / 1e9 / (medianMs / 1000),
    runsMs: times,
  });
  return medianMs;
}

async function time(
  name: 'encode' | 'decode',
  impl: string,
  n: number,
  fn: () => Promise<void>,
): Promise<void> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  const medianMs = record(name, impl, n, times);
  writeResults();
  console.log(
    `  ${name} ${impl} batch ${n}: ${medianMs.toFixed(0)} ms (${times.map((t) => t.toFixed(0)).join(', ')})`,
  );
}

function randomTokens(n: number, seed: number): Int32Array {
  let s = seed >>> 0;
  return Int32Array.from({ length: n * grid * grid }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % V;
  });
}

// --- ours ---------------------------------------------------------------------------------------

async function ours(backend: Backend, impl: string, n: number): Promise<void> {
  const params = initDvaeParams(config, { backend, seed: 1 });
  const model = createDvaeModel(config, params.encoder, params.decoder, backend, () => {
    for (const t of [...params.encoder.values(), ...params.decoder.values()]) t.dispose();
  });
  const images = randomUniform([n, 3, S, S], { backend, seed: 2 }); // [n, 3, 256, 256]
  const tokens = tensor(randomTokens(n, 3), [n, grid, grid], { backend, dtype: 'i32' }); // [n, 32, 32]
  await time('encode', impl, n, async () => {
    const z = model.encode(images); // i32 [n, 32, 32]
    await z.read();
    z.dispose();
  });
  await time('decode', impl, n, async () => {
    const x = await model.decode(tokens); // [n, 3, 256, 256]
    await x.read();
    x.dispose();
  });
  images.dispose();
  tokens.dispose();
  model.dispose();
}

// --- the peer: the same network in tfjs, NHWC (tfjs's native layout) ----------------------------

type TfParams = Map<string, { w: tf.Tensor4D; b: tf.Tensor1D }>;

/** Our [O, C, k, k] weights as tfjs filters [k, k, C, O], the same values. */
async function toTf(params: Map<string, Tensor>): Promise<TfParams> {
  const out: TfParams = new Map();
  for (const [name, w] of params) {
    if (!name.endsWith('.w')) continue;
    const base = name.slice(0, -2);
    const b = params.get(`${base}.b`)!;
    const wt = tf.tensor4d((await w.read()) as Float32Array, w.shape as [number, number, number, number]); // [O, C, k, k]
    out.set(base, {
      w: tf.transpose(wt, [2, 3, 1, 0]) as tf.Tensor4D,
      b: tf.tensor1d((await b.read()) as Float32Array),
    });
    wt.dispose();
  }
  return out;
}

function tfConv(p: TfParams, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const { w, b } = p.get(name)!;
  return tf.add(tf.conv2d(x, w, 1, 'same'), b) as tf.Tensor4D; // [n, h, w, O]
}

function tfBlock(p: TfParams, prefix: string, x: tf.Tensor4D, postGain: number): tf.Tensor4D {
  const id = p.has(`${prefix}.id_path`) ? tfConv(p, `${prefix}.id_path`, x) : x;
  let r = tfConv(p, `${prefix}.res_path.conv_1`, tf.relu(x));
  r = tfConv(p, `${prefix}.res_path.conv_2`, tf.relu(r));
  r = tfConv(p, `${prefix}.res_path.conv_3`, tf.relu(r));
  r = tfConv(p, `${prefix}.res_path.conv_4`, tf.relu(r));
  return tf.add(id, tf.mul(r, postGain)) as tf.Tensor4D;
}

function tfEncoder(p: TfParams, x: tf.Tensor4D): tf.Tensor4D {
  const c = config.encoder;
  const gain = 1 / (c.group_count * c.n_blk_per_group) ** 2;
  let h = tfConv(p, 'blocks.input', x);
  for (let g = 1; g <= c.group_count; g++) {
    for (let b = 1; b <= c.n_blk_per_group; b++) h = tfBlock(p, `blocks.group_${g}.block_${b}`, h, gain);
    if (g < c.group_count) h = tf.maxPool(h, 2, 2, 'valid');
  }
  return tfConv(p, 'blocks.output.conv', tf.relu(h)); // [n, 32, 32, V]
}

function tfDecoder(p: TfParams, z: tf.Tensor4D): tf.Tensor4D {
  const c = config.decoder;
  const gain = 1 / (c.group_count * c.n_blk_per_group) ** 2;
  let h = tfConv(p, 'blocks.input', z);
  for (let g = 1; g <= c.group_count; g++) {
    for (let b = 1; b <= c.n_blk_per_group; b++) h = tfBlock(p, `blocks.group_${g}.block_${b}`, h, gain);
    if (g < c.group_count) {
      const [, hh, ww] = h.shape;
      h = tf.image.resizeNearestNeighbor(h, [hh * 2, ww * 2]);
    }
  }
  return tfConv(p, 'blocks.output.conv', tf.relu(h)); // [n, 256, 256, 6]
}

/** Makes `kind` tfjs's backend: tfjs-backend-wasm, or tfjs-backend-webgpu on Dawn. */
async function useTfjs(kind: 'wasm' | 'webgpu'): Promise<void> {
  if (kind === 'wasm') {
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  } else {
    const { create, globals } = await import('webgpu');
    for (const [key, value] of Object.entries(globals as Record<string, unknown>)) {
      if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
    }
    // tfjs-backend-webgpu registers itself only if navigator.gpu exists when it is imported.
    const gpu = create(['enable-dawn-features=disable_robustness']);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    await import('@tensorflow/tfjs-backend-webgpu');
  }
  if (!(await tf.setBackend(kind))) throw new Error(`tfjs-backend-${kind} did not initialize`);
  await tf.ready();
}

async function tfjsPeer(n: number, kind: 'wasm' | 'webgpu'): Promise<void> {
  await useTfjs(kind);
  const cpu = await createBackend('cpu');
  const params = initDvaeParams(config, { backend: cpu, seed: 1 }); // the same weights as ours
  const enc = await toTf(params.encoder);
  const dec = await toTf(params.decoder);
  for (const t of [...params.encoder.values(), ...params.decoder.values()]) t.dispose();
  cpu.dispose();
  const eps = config.logit_laplace_eps;
  const images = tf.randomUniform([n, S, S, 3]) as tf.Tensor4D;
  const tokens = tf.tensor3d(randomTokens(n, 3), [n, grid, grid], 'int32');
  const impl =
    kind === 'wasm'
      ? `tfjs-backend-wasm ${tf.version_core} (${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 'threads' : 'one thread'})`
      : `tfjs-backend-webgpu ${tf.version_core}`;
  await time('encode', impl, n, async () => {
    const z = tf.tidy(() =>
      tf.argMax(tfEncoder(enc, tf.add(tf.mul(images, 1 - 2 * eps), eps) as tf.Tensor4D), 3),
    );
    await z.data();
    z.dispose();
  });
  await time('decode', impl, n, async () => {
    const x = tf.tidy(() => {
      const z = tf.cast(tf.oneHot(tokens, V), 'float32') as tf.Tensor4D; // [n, 32, 32, V]
      const stats = tfDecoder(dec, z); // [n, 256, 256, 6]
      const mu = tf.slice(stats, [0, 0, 0, 0], [n, S, S, 3]);
      return tf.clipByValue(tf.div(tf.sub(tf.sigmoid(mu), eps), 1 - 2 * eps), 0, 1);
    });
    await x.data();
    x.dispose();
  });
  images.dispose();
  tokens.dispose();
  for (const { w, b } of [...enc.values(), ...dec.values()]) {
    w.dispose();
    b.dispose();
  }
}

// --- the GPU peer: the same network in PyTorch eager fp32, built from the same parameter shapes --

const TORCH_SCRIPT = `
import json, statistics, sys, time
import torch
import torch.nn.functional as F
spec = json.loads(sys.argv[1])
n, runs, warmup = spec['batch'], spec['runs'], spec['warmup']
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
torch.manual_seed(0)

def params(shapes):
    # {name: shape} -> {name: tensor}, He-scaled random weights (values do not change the time)
    out = {}
    for name, s in shapes.items():
        fan_in = s[1] * s[2] * s[3] if len(s) == 4 else 1
        out[name] = (torch.randn(s, device=dev) * (2 / fan_in) ** 0.5) if len(s) == 4 else torch.zeros(s, device=dev)
    return out

def conv(p, prefix, x):
    w = p[prefix + '.w']
    return F.conv2d(x, w, p[prefix + '.b'], padding=w.shape[-1] // 2)

def net(p, cfg, x, down):
    # dall_e's encoder (down) or decoder: input conv, groups of residual blocks, relu + output conv
    gain = 1 / (cfg['group_count'] * cfg['n_blk_per_group']) ** 2
    h = conv(p, 'blocks.input', x)
    for g in range(1, cfg['group_count'] + 1):
        for b in range(1, cfg['n_blk_per_group'] + 1):
            pre = f'blocks.group_{g}.block_{b}'
            idp = conv(p, pre + '.id_path', h) if pre + '.id_path.w' in p else h
            r = h
            for i in range(1, 5):
                r = conv(p, f'{pre}.res_path.conv_{i}', F.relu(r))
            h = idp + gain * r
        if g < cfg['group_count']:
            h = F.max_pool2d(h, 2) if down else F.interpolate(h, scale_factor=2, mode='nearest')
    return conv(p, 'blocks.output.conv', F.relu(h))

enc, dec = params(spec['encoder']), params(spec['decoder'])
S, grid, V, eps = spec['size'], spec['grid'], spec['vocab'], spec['eps']
images = torch.rand(n, 3, S, S, device=dev)
tokens = torch.randint(0, V, (n, grid, grid), device=dev)
sync = torch.cuda.synchronize if dev == 'cuda' else (lambda: None)

def encode():
    return net(enc, spec['encoder_config'], images * (1 - 2 * eps) + eps, True).argmax(1).cpu()

def decode():
    z = F.one_hot(tokens, V).permute(0, 3, 1, 2).float()  # [n, V, 32, 32]
    stats = net(dec, spec['decoder_config'], z, False)  # [n, 6, 256, 256]
    return ((torch.sigmoid(stats[:, :3]) - eps) / (1 - 2 * eps)).clamp(0, 1).cpu()

result = {'device': torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', 'torch': torch.__version__}
with torch.inference_mode():
    for name, fn in (('encode', encode), ('decode', decode)):
        times = []
        for i in range(warmup + runs):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000)
        result[name] = times
print(json.dumps(result))
`;

function torchPeer(n: number): void {
  const probe = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    const why = 'PyTorch: skipped (python3 -c "import torch" failed on this machine)';
    console.log(why);
    notes.push(why);
    return;
  }
  const spec = {
    batch: n,
    runs,
    warmup,
    size: S,
    grid,
    vocab: V,
    eps: config.logit_laplace_eps,
    encoder: Object.fromEntries(encoderShapes(config.encoder)),
    decoder: Object.fromEntries(decoderShapes(config.decoder)),
    encoder_config: config.encoder,
    decoder_config: config.decoder,
  };
  const r = spawnSync('python3', ['-c', TORCH_SCRIPT, JSON.stringify(spec)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`PyTorch side failed:\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    device: string;
    torch: string;
    encode: number[];
    decode: number[];
  };
  const impl = `PyTorch ${out.torch} eager fp32 (${out.device})`;
  for (const name of ['encode', 'decode'] as const) {
    const medianMs = record(name, impl, n, out[name]);
    console.log(`  ${name} ${impl} batch ${n}: ${medianMs.toFixed(0)} ms`);
  }
  writeResults();
}

// --- run ----------------------------------------------------------------------------------------

console.log(
  `DALL-E dVAE, official config (vocab ${V}, n_hid 256), random weights; encode ${(encodeFlops / 1e9).toFixed(1)} GFLOP, decode ${(decodeFlops / 1e9).toFixed(1)} GFLOP per image (convs); ${warmup} warm-up + ${runs} timed runs`,
);
if (!args['skip-cpu']) {
  const cpu = await createBackend('cpu');
  await ours(cpu, `ours (${cpu.name})`, batch);
  cpu.dispose();
}
if (!args['skip-tfjs']) await tfjsPeer(batch, 'wasm');
if (!args['skip-webgpu']) {
  let gpu: Backend | undefined;
  try {
    gpu = await benchWebGpu();
  } catch (e) {
    const why = `webgpu: skipped (${(e as Error).message})`;
    console.log(why);
    notes.push(why);
  }
  if (gpu) {
    if (/lavapipe|llvmpipe|swiftshader/i.test(gpu.name)) {
      notes.push(
        `webgpu ran on a software Vulkan driver (${gpu.name}) on this CPU, batch ${gpuBatch}: not a GPU number`,
      );
    }
    await ours(gpu, `ours (${gpu.name})`, gpuBatch);
    gpu.dispose();
  }
}
if (!args['skip-torch']) torchPeer(gpuBatch);
if (args['tfjs-webgpu']) {
  try {
    await tfjsPeer(gpuBatch, 'webgpu');
  } catch (e) {
    const why = `tfjs-backend-webgpu: failed at batch ${gpuBatch} (${(e as Error).message.split('\n')[0]})`;
    console.log(why);
    notes.push(why);
  }
}

const rows: string[][] = [['case', 'implementation', 'batch', 'median ms', 'ms/image', 'GFLOP/s', 'x ours']];
for (const name of ['encode', 'decode']) {
  const group = cases.filter((c) => c.name === name);
  for (const c of group) {
    // Each row against ours on the same kind of device at the same batch: tfjs-wasm against our
    // CPU backend, PyTorch (a GPU) against our WebGPU backend.
    const onCpu = (o: Case) => o.impl.startsWith('ours (cpu') || o.impl.startsWith('tfjs-backend-wasm');
    const base = group.find((o) => o.impl.startsWith('ours') && o.batch === c.batch && onCpu(o) === onCpu(c));
    rows.push([
      name,
      c.impl,
      String(c.batch),
      c.medianMs.toFixed(0),
      c.msPerImage.toFixed(0),
      c.gflops.toFixed(1),
      base ? (c.msPerImage / base.msPerImage).toFixed(2) : '-',
    ]);
  }
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
const line = (r: string[]) =>
  `| ${r.map((v, i) => (i >= 2 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' | ')} |`;
console.log(`\n${line(rows[0]!)}`);
console.log(`|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`);
for (const r of rows.slice(1)) console.log(line(r));
for (const n of notes) console.log(`note: ${n}`);
console.log(
  'x ours: ms per image relative to ours at the same batch on the same kind of device (tfjs-backend-wasm to our CPU backend; PyTorch and tfjs-backend-webgpu to our WebGPU backend); above 1 is slower than ours',
);

writeResults();
console.log(`wrote ${outFile}`);
